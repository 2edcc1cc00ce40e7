"""The second stage of a group commit, shared by both writers (nom.writer, nom.writer_process).

A writer's first stage writes a group of arrays to in-flight files (``Store.prepare``)
and hands it over; this stage, on a thread of its own, makes it durable with one
filesystem sync, puts it in place, and reports it once its names are durable too:
with syncfs, the next group's sync does that (one sync per group), or a folder fsync
when no group follows. The stage holds one group waiting at most, so a first stage
that outruns the disk blocks in ``hand_over``.

Each group comes with the caller's tokens (futures, sequence numbers) and goes back
to ``done(tokens, infos_or_error)``, called on this stage's thread, once per group.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from nom.index import FileInfo
from nom.inflight import InFlight
from nom.store import Store

__all__ = ["MAX_GROUP", "SyncStage"]

# Arrays per group at most, by default. A sync costs about 0.4 ms plus 13 us a file here, so bigger groups are
# cheaper per file (measured side by side, 2000 files of 14 KB: 62 us a file at 64, 53 at 256; no-fsync 39);
# groups only grow that large when arrays queue up faster than the disk takes them.
MAX_GROUP = 256

Done = Callable[[list[Any], "list[FileInfo] | BaseException"], None]
_Group = tuple[list[InFlight], list[Any]]
_CLOSED = object()


class SyncStage:
    """Syncs, places and reports the groups a first stage hands over; see the module docstring."""

    def __init__(self, store: Store, done: Done, *, name: str = "nom-writer-sync") -> None:
        """Start the stage's thread; ``done`` receives each group's tokens and its files (or the error)."""
        self.store = store
        self._done = done
        self._waiting: deque[_Group | object] = deque()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def hand_over(self, prepared: list[InFlight], tokens: list[Any]) -> None:
        """Give the stage a written group (blocks while it still has one waiting)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._waiting)
            self._waiting.append((prepared, tokens))
            self._cond.notify_all()

    def close(self, timeout: float | None = None) -> bool:
        """Report what was handed over, then stop; False if the thread is still busy after ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: not self._waiting)
            self._waiting.append(_CLOSED)
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        pipelined = self.store.sync == "syncfs"
        placed: _Group | None = None  # in place, waiting for a sync to make its names durable
        while True:
            with self._cond:
                if placed is None:
                    self._cond.wait_for(lambda: self._waiting)
                item = self._waiting.popleft() if self._waiting else None
                if item is not None:
                    self._cond.notify_all()  # the first stage may hand over its next group
            group = item if item is not None and item is not _CLOSED else None
            if not pipelined:  # each file was synced as it was written: place, sync folders, report
                if group is not None:
                    self._report(group[1], lambda g=group: self._place_and_sync_names(g[0]))
            elif group is None:
                if placed is not None:  # nothing follows it: make its names durable on their own
                    self._report(placed[1], lambda p=placed: self._place_and_sync_names(p[0], placed=True))
                    placed = None
            else:
                placed = self._sync_and_place(group, placed)
            if item is _CLOSED and placed is None:
                return

    def _sync_and_place(self, group: _Group, placed: _Group | None) -> _Group | None:
        """One sync for ``group``'s data and ``placed``'s names; report ``placed``, place ``group``."""
        try:
            self.store.sync_data()
        except BaseException as exc:  # noqa: BLE001 - reported to whoever waits on these groups
            for batch in (placed, group):
                if batch is not None:
                    self.store.abandon(batch[0])
                    self._done(batch[1], exc)
            return None
        if placed is not None:
            self._report(placed[1], lambda: self.store.indexed(placed[0]))
        try:
            self.store.publish(group[0])
        except BaseException as exc:  # noqa: BLE001 - publish dropped the group's in-flight files
            self._done(group[1], exc)
            return None
        return group

    def _place_and_sync_names(self, prepared: list[InFlight], *, placed: bool = False) -> list[FileInfo]:
        if not placed:
            self.store.publish(prepared)
        self.store.sync_names(prepared)
        return self.store.indexed(prepared)

    def _report(self, tokens: list[Any], work: Callable[[], list[FileInfo]]) -> None:
        try:
            infos: list[FileInfo] | BaseException = work()
        except BaseException as exc:  # noqa: BLE001
            infos = exc
        self._done(tokens, infos)
