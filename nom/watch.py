"""Following a job: each new data file once, in name order, for standing reductions.

A ``Follower`` remembers a watermark (the newest file name it returned) and
the names it returned in the last ``grace_ns`` below it: a writer in another
process may rename a file whose name was drawn a moment earlier than one
already seen, and it must still be returned, once. ``state()`` is a small
JSON value to checkpoint beside a reduction's own state. ``poll(limit)``
returns at most ``limit`` files and keeps the rest for the next poll, so a
reader that falls behind does a bounded amount of work per call, and what
``state()`` counts as returned is exactly what the reader has been given.

``wait()`` sleeps until the job folder changes (watchdog's inotify observer,
or its polling observer where inotify is unavailable) or a timeout passes.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from typing import Any

from nom.index import FileInfo
from nom.store import Store

__all__ = ["Follower"]

GRACE_NS = 30 * 10**9
RECONCILE_EVERY = 30.0


class Follower:
    """New files of one job, each returned once."""

    def __init__(self, store: Store, job: str, *, state: dict[str, Any] | None = None,
                 grace_ns: int = GRACE_NS, watch: bool = True) -> None:
        """Resume from ``state`` (from ``state()``), or start before the job's first file."""
        self.store = store
        self.job = job
        self.grace_ns = grace_ns
        state = state or {}
        self.watermark: int = int(state.get("watermark", 0))
        self.recent: set[int] = {int(n) for n in state.get("recent", [])}
        self._expiry = sorted(self.recent)  # a heap of the names in ``recent``: pruned from its smallest
        self._backlog: deque[FileInfo] = deque()  # learnt, not yet returned (beyond a poll's limit), by name
        self._waiting: set[int] = set()  # the names in _backlog
        self._changed = threading.Event()
        self._reconciled = 0.0
        self._reconcile_every = RECONCILE_EVERY
        self._cursor: tuple[int, int] | None = None  # where in the job's index log the last poll stopped
        self._observer = _start_observer(store.job_dir(job, create=True), self._changed) if watch else None

    def poll(self, limit: int | None = None) -> list[FileInfo]:
        """The files not returned before, in name order (the first ``limit`` of them); counts them as returned.

        New files are learnt from the job's index through a cursor (cost: what is new); every
        ``RECONCILE_EVERY`` seconds (longer for folders so big that listing them takes over 1% of
        the time) the folder is listed too, to find files written by hand or by a writer whose index
        line was lost.
        """
        self._changed.clear()
        now = time.monotonic()
        if now - self._reconciled >= self._reconcile_every:
            self.store.reconcile(self.job)  # files found in the folder only join the index's log
            took = time.monotonic() - now
            self._reconciled = time.monotonic()
            # a folder of 200k files takes a few tenths of a second to list: keep that under 1% of the time
            self._reconcile_every = max(RECONCILE_EVERY, 100 * took)
        candidates, self._cursor = self.store.new_files(self.job, self._cursor)
        floor = self.watermark - self.grace_ns
        new = sorted((f for f in candidates if f.name > floor and f.name not in self.recent
                      and f.name not in self._waiting), key=_name)
        if new and self._backlog and new[0].name < self._backlog[-1].name:  # a late file: merge in order
            self._backlog = deque(sorted([*self._backlog, *new], key=_name))
        else:
            self._backlog.extend(new)
        self._waiting.update(f.name for f in new)
        count = len(self._backlog) if limit is None else min(limit, len(self._backlog))
        fresh = [self._backlog.popleft() for _ in range(count)]
        self._waiting.difference_update(f.name for f in fresh)
        if fresh:
            self.watermark = max(self.watermark, fresh[-1].name)
            for f in fresh:
                self.recent.add(f.name)
                heapq.heappush(self._expiry, f.name)
            floor = self.watermark - self.grace_ns
            # pruned from the smallest name up: the cost is what expires, not the size of the window
            while self._expiry and self._expiry[0] <= floor:
                self.recent.discard(heapq.heappop(self._expiry))
        return fresh

    def waiting(self) -> int:
        """Files learnt but not yet returned (beyond the last poll's limit)."""
        return len(self._backlog)

    def wait(self, timeout: float) -> bool:
        """Sleep until the job folder changes or ``timeout`` seconds pass; True when it changed."""
        return self._changed.wait(timeout)

    def state(self) -> dict[str, Any]:
        """The position, as JSON, to checkpoint."""
        return {"watermark": self.watermark, "recent": sorted(self.recent)}

    def close(self) -> None:
        """Stop watching."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None


def _name(info: FileInfo) -> int:
    return info.name


def _start_observer(folder: Any, changed: threading.Event) -> Any:
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer
    from watchdog.observers.polling import PollingObserver

    class _Wake(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            changed.set()

    for factory in (Observer, PollingObserver):
        observer = factory()
        try:
            observer.schedule(_Wake(), str(folder), recursive=False)
            observer.start()
            return observer
        except OSError:  # inotify unavailable or out of watches: poll instead
            continue
    return None
