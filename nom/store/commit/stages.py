"""The second stage of a writer's group commit, shared by both writers (nom.store.commit.thread and .process).

A writer's first stage writes a group of arrays to temp files (``GroupCommit.write``) and hands it
over; this stage, on a thread of its own, makes it durable with one filesystem sync, links it into
place, and reports it once its names are durable too: with syncfs, the next group's sync does that
(one sync per group), or a folder fsync when no group follows. The stage holds one group waiting at
most, so a first stage that outruns the disk blocks in ``hand_over``.

Each group comes with the caller's tokens (futures, sequence numbers) and goes back to
``done(tokens, infos_or_error)``, called on this stage's thread, once per group.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nom.store.commit.files import TempFile
from nom.store.commit.steps import GroupCommit
from nom.store.index import FileInfo

__all__ = ["MAX_GROUP", "Done", "SyncStage"]

# Arrays per group at most, by default: a sync costs a fixed time plus a little per file, so bigger groups
# are cheaper per file (see bench/store.py); groups only grow that large when arrays queue up faster than
# the disk takes them.
MAX_GROUP = 256

Done = Callable[[list[Any], "list[FileInfo] | BaseException"], None]


@dataclass(slots=True)
class _Group:
    files: list[TempFile]
    tokens: list[Any]


class SyncStage:
    """Syncs, links and reports the groups a first stage hands over; see the module docstring."""

    def __init__(self, steps: GroupCommit, done: Done, *, name: str = "nom-writer-sync") -> None:
        """Start the stage's thread; ``done`` receives each group's tokens and its files (or the error)."""
        self.steps = steps
        self._done = done
        self._waiting: deque[_Group] = deque()
        self._closing = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def hand_over(self, files: list[TempFile], tokens: list[Any]) -> None:
        """Give the stage a written group (blocks while it still has one waiting)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._waiting)
            self._waiting.append(_Group(files, tokens))
            self._cond.notify_all()

    def close(self, timeout: float | None = None) -> bool:
        """Report what was handed over, then stop; False if the thread is still busy after ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: not self._waiting)
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        pipelined = self.steps.sync == "syncfs"  # else each file was synced as it was written
        linked: _Group | None = None  # in place; its names become durable with the next group's sync
        while True:
            group, closing = self._take(wait=linked is None)
            if group is not None and pipelined:
                linked = self._sync_and_link(group, linked)
            elif group is not None:
                self._finish(group, link=True)
            elif linked is not None:  # nothing follows it: make its names durable on their own
                self._finish(linked, link=False)
                linked = None
            if closing and linked is None:
                return

    def _take(self, wait: bool) -> tuple[_Group | None, bool]:
        """The next group handed over (waiting for one or for close when ``wait``), and whether closing."""
        with self._cond:
            if wait:
                self._cond.wait_for(lambda: self._waiting or self._closing)
            group = self._waiting.popleft() if self._waiting else None
            if group is not None:
                self._cond.notify_all()  # the first stage may hand over its next group
            return group, self._closing and not self._waiting

    def _sync_and_link(self, group: _Group, linked: _Group | None) -> _Group | None:
        """One sync for ``group``'s data and ``linked``'s names; report ``linked``, link ``group``."""
        try:
            self.steps.sync_data()
        except BaseException as exc:  # noqa: BLE001 - reported to whoever waits on these groups
            for waiting in (linked, group):
                if waiting is not None:
                    self.steps.abandon(waiting.files)
                    self._done(waiting.tokens, exc)
            return None
        if linked is not None:
            self._report(linked, self.steps.record)
        try:
            self.steps.link(group.files)
        except BaseException as exc:  # noqa: BLE001 - link dropped the group's temp files
            self._done(group.tokens, exc)
            return None
        return group

    def _finish(self, group: _Group, *, link: bool) -> None:
        """Link ``group`` (unless it is in place already), make its names durable, and report it."""
        try:
            if link:
                self.steps.link(group.files)
            self.steps.sync_names(group.files)
            outcome: list[FileInfo] | BaseException = self.steps.record(group.files)
        except BaseException as exc:  # noqa: BLE001 - reported to whoever waits on the group
            outcome = exc
        self._done(group.tokens, outcome)

    def _report(self, group: _Group, record: Callable[[list[TempFile]], list[FileInfo]]) -> None:
        try:
            outcome: list[FileInfo] | BaseException = record(group.files)
        except BaseException as exc:  # noqa: BLE001 - reported to whoever waits on the group
            outcome = exc
        self._done(group.tokens, outcome)
