"""The interactive shell: prompt_toolkit with completion, history, suggestions and a toolbar.

``read_eval`` is the loop body (one line in, one outcome out), so tests drive it
with prompt_toolkit's pipe input. When stdin is not a terminal, ``run_plain``
reads lines without prompt_toolkit.
"""

from __future__ import annotations

import io
import os
import pydoc
import sys
import threading
from collections.abc import Iterable

import prompt_toolkit
from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.history import FileHistory, InMemoryHistory

from nectar.completion import Lookups, NectarCompleter
from nectar.config import state_dir
from nectar.errors import ParseError
from nectar.registry import find, split
from nectar.render import SafeConsole
from nectar.session import Session

__all__ = ["Repl", "run_plain"]


def _lookups(session: Session) -> Lookups:
    services = session.ctx.services

    def fetch() -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        collector, dispatch = services.clients["collector"], services.clients["dispatch"]
        try:
            found["job"] = [j["jobId"] for j in collector.call("listJobs", timeout=1)["jobs"]] + ["@last"]
        except Exception:  # noqa: BLE001 - a service that is down just completes nothing
            pass
        try:
            found["apply"] = [a["applyId"] for a in dispatch.call("listApplies", timeout=1)["applies"]] + ["@last"]
            ping = dispatch.call("ping", timeout=1)
            found["map"] = [m for m in ping.get("maps", []) if "<" not in m and ":" not in m] + ["field:data."]
            found["reduce"] = [r for r in ping.get("reduces", []) if "<" not in r and ":" not in r] + ["topk:10"]
        except Exception:  # noqa: BLE001
            pass
        return found

    return Lookups(fetch)


class Toolbar:
    """The bottom toolbar's text: services and running jobs, refreshed in the background."""

    def __init__(self, session: Session, every: float = 2.0) -> None:
        self.session = session
        self.every = every
        self.text = "nectar"
        self._stop = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        services = self.session.ctx.services
        while not self._stop.is_set():
            parts = []
            for row in services.status():
                parts.append(f"{row['service']} {'up' if row['up'] else 'down'}")
            try:
                jobs = services.clients["collector"].call("listJobs", timeout=1)["jobs"]
                running = [j["jobId"] for j in jobs if j.get("state") == "running"]
                parts.append(f"{len(running)} running: {', '.join(running[:3])}" if running else "no job running")
            except Exception:  # noqa: BLE001
                pass
            self.text = " | ".join(parts)
            self._stop.wait(self.every)

    def __call__(self) -> str:
        return self.text

    def close(self) -> None:
        """Stop refreshing."""
        self._stop.set()


class Repl:
    """``nectar`` with no arguments on a terminal."""

    def __init__(self, session: Session, *, toolbar: bool = True, auto_suggest: bool = True,
                 history: bool = True, **prompt_args: object) -> None:
        self.session = session
        self.lookups = _lookups(session)
        self.toolbar = Toolbar(session) if toolbar else None
        history_store = InMemoryHistory()
        if history:
            state = state_dir()
            state.mkdir(parents=True, exist_ok=True)
            history_store = FileHistory(str(state / "history"))
        session.ctx.confirm = _ask
        self.prompt = PromptSession(
            "nectar> ", completer=NectarCompleter(self.lookups), history=history_store,
            auto_suggest=AutoSuggestFromHistory() if auto_suggest else None, complete_while_typing=False,
            bottom_toolbar=self.toolbar, enable_open_in_editor=True, **prompt_args)

    def read_eval(self) -> bool:
        """Read one line and run it; False when the shell should end (quit, Ctrl-D)."""
        try:
            line = self.prompt.prompt()
        except KeyboardInterrupt:  # Ctrl-C at the prompt clears the line, it does not leave
            return True
        except EOFError:
            return False
        self._run_paged(line)
        return not self.session.done

    def _run_paged(self, line: str) -> None:
        """Run a line; page its output when it is taller than the screen (live commands are not paged)."""
        renderer = self.session.renderer
        if _is_live(line) or not sys.stdout.isatty() or renderer.json_mode:
            self.session.run_line(line)
            return
        real = renderer.console
        buffer = io.StringIO()
        renderer.console = SafeConsole(file=buffer, width=real.width, force_terminal=True, highlight=False,
                                       markup=False)
        try:
            self.session.run_line(line)
        finally:
            renderer.console = real
        text = buffer.getvalue()
        if text.count("\n") > real.height - 2:
            os.environ.setdefault("LESS", "-R")
            pydoc.pager(text)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()

    def run(self) -> int:
        """Loop until quit; exit status 0."""
        try:
            while self.read_eval():
                pass
        finally:
            if self.toolbar is not None:
                self.toolbar.close()
        return 0


def _ask(question: str) -> bool:
    """Ask a yes/no question on the terminal; only "y" or "yes" is yes (Ctrl-C, Ctrl-D: no)."""
    try:
        answer = prompt_toolkit.prompt(f"{question} [y/N] ")
    except (KeyboardInterrupt, EOFError):
        return False
    return answer.strip().lower() in ("y", "yes")


def _is_live(line: str) -> bool:
    """True when the line's command draws its output live (the registry says which): it is never paged."""
    try:
        command, _ = find(split(line))
    except ParseError:
        return False
    return command is not None and command.live


def run_plain(session: Session, lines: Iterable[str]) -> int:
    """Run lines (a script, or piped stdin) one by one; exit status 1 if any failed."""
    status = 0
    for line in lines:
        if not session.run_line(line.rstrip("\n")):
            status = 1
        if session.done:
            break
    return status
