"""Completion from the registry: command words, then each argument by its kind."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from nectar.registry import COMMANDS, find, split

__all__ = ["NectarCompleter", "Lookups"]

DATE_WORDS = ["now", "today", "-15m", "-1h", "-6h", "-1d", "-7d"]


class Lookups:
    """Job ids, apply ids and function names for completion, fetched when asked and at most every ``every`` s.

    Completion runs on Tab (not while typing), so a fetch from the local services (each call with a
    one-second timeout) is a fair price for ids that are never stale.
    """

    def __init__(self, fetch: Callable[[], dict[str, list[str]]], every: float = 1.0) -> None:
        self.fetch = fetch
        self.every = every
        self.values: dict[str, list[str]] = {"job": [], "apply": [], "map": [], "reduce": []}
        self._at = 0.0

    def get(self, kind: str) -> list[str]:
        """The known values of ``kind`` (fetched again when older than ``every``)."""
        if time.monotonic() - self._at > self.every:
            self.refresh_now()
        return self.values.get(kind, [])

    def refresh_now(self) -> None:
        """Fetch now; a service that does not answer keeps its old values."""
        self._at = time.monotonic()
        try:
            self.values.update(self.fetch())
        except Exception:  # noqa: BLE001 - completion must never break the prompt
            pass


class NectarCompleter(Completer):
    """Completes command names, job ids, apply ids, functions, paths and date words."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        try:
            words = split(text)
        except ValueError:
            return
        current = "" if text.endswith(" ") or not words else words[-1]
        done = words if text.endswith(" ") else words[:-1]
        cmd, used = find(done) if done else (None, 0)
        if cmd is None or (used == len(done) == 1):  # command words ("show" may go on as "show jobs")
            prefix = " ".join(done + [current]).lower()
            for name in COMMANDS:
                if name.lower().startswith(prefix) and len(name.split()) > len(done):
                    yield Completion(name.split()[len(done)], start_position=-len(current))
            if cmd is None:
                return
        position = len([w for w in done[used:] if not w.startswith("--")])
        if position >= len(cmd.args) and not (cmd.args and cmd.args[-1].many):
            return
        kind = cmd.args[min(position, len(cmd.args) - 1)].kind
        if kind in ("file", "job_or_file"):
            sub = Document(current, len(current))
            yield from self.paths.get_completions(sub, complete_event)
            if kind == "file":
                return
        choices = {"job": "job", "job_or_file": "job", "apply": "apply", "map": "map", "reduce": "reduce"}
        if kind in choices:
            values = self.lookups.get(choices[kind])
        elif kind == "date":
            values = DATE_WORDS
        elif kind == "command":
            values = sorted({n.split()[0] for n in COMMANDS})
        else:
            values = []
        for value in values:
            if value.startswith(current):
                yield Completion(value, start_position=-len(current))
