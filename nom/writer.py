"""Group commit for many producers.

Producers ``submit`` arrays and get a ``Future`` that resolves to the stored
file once it is durable. One thread takes whatever has queued up while the
previous group was syncing and commits it as the next group, so the cost of
a sync is shared by every array that arrived meanwhile. The queue is bounded:
a producer that outruns the disk blocks in ``submit`` (backpressure) instead
of growing memory without limit.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from nom.index import FileInfo
from nom.model import Nom, check_job_id
from nom.arrays import Encoded
from nom.store import Store

__all__ = ["GroupWriter"]


class Wakeup:
    """An eventfd that turns readable when submitted arrays have landed: event loops poll it beside their
    sockets, so they learn at once that futures are resolved instead of polling for them."""

    def __init__(self) -> None:
        self._event = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)

    def fileno(self) -> int:
        """An fd that becomes readable when submitted arrays have become durable (or failed)."""
        return self._event

    def clear_signal(self) -> None:
        """Make ``fileno()`` unreadable again (after a wake-up)."""
        try:
            os.eventfd_read(self._event)
        except OSError:  # nothing to clear (EAGAIN), or closed
            pass

    def _signal(self) -> None:
        try:
            os.eventfd_write(self._event, 1)
        except OSError:  # closed at shutdown
            pass

    def _close_signal(self) -> None:
        if self._event >= 0:
            os.close(self._event)
            self._event = -1  # closing twice must not close an fd that has been reused since


class GroupWriter(Wakeup):
    """Commits submitted arrays in groups on a background thread."""

    def __init__(self, store: Store, *, max_group: int = 64, max_pending: int = 1024) -> None:
        """Commit at most ``max_group`` arrays per sync; block producers past ``max_pending`` queued arrays."""
        self.store = store
        self.max_group = max_group
        self.max_pending = max_pending
        self.groups = 0
        self._queue: deque[tuple[str, Sequence[Nom | dict[str, Any]], bytes | None, Future[FileInfo]]] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        super().__init__()
        self._thread = threading.Thread(target=self._run, name="nom-group-writer", daemon=True)
        self._thread.start()

    def submit(self, job: str, objects: Sequence[Nom | dict[str, Any]] | Encoded,
               encoded: bytes | None = None) -> Future[FileInfo]:
        """Queue one array for ``job``; the future resolves when it is durable (or fails with StoreError).

        ``encoded`` may carry ``orjson.dumps(objects)`` when the caller made it anyway.
        """
        check_job_id(job)
        self.store.check_array(objects)  # reject a bad array now, so it cannot fail a whole group
        future: Future[FileInfo] = Future()
        with self._cond:
            while len(self._queue) >= self.max_pending and not self._closed:
                self._cond.wait()
            if self._closed:
                raise RuntimeError("the writer is closed")
            self._queue.append((job, objects, encoded, future))
            self._cond.notify_all()
        return future

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed (or failed); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._close_signal()

    def pending(self) -> int:
        """Arrays queued and not yet committed."""
        with self._cond:
            return len(self._queue)

    def _take(self, wait: bool) -> list[tuple[str, Any, bytes | None, Future[FileInfo]]] | None:
        """The next group (waiting for one only if ``wait``); None once closed and drained."""
        with self._cond:
            if wait:
                self._cond.wait_for(lambda: self._queue or self._closed)
            if not self._queue:
                return None if self._closed else []
            group = [self._queue.popleft() for _ in range(min(self.max_group, len(self._queue)))]
            self._busy = True
            self._cond.notify_all()
            return group

    def _run(self) -> None:
        """Commit groups; with syncfs, pipelined: one sync makes the previous group's renames and this
        group's data durable together, so each group costs one sync and writing overlaps syncing."""
        pipelined = self.store.sync == "syncfs"
        previous: tuple[list[Any], list[Future[FileInfo]]] | None = None
        while True:
            group = self._take(wait=previous is None)
            if group is None and previous is None:
                return
            current = None
            if group:
                arrays = [(job, objects, raw) if raw else (job, objects) for job, objects, raw, _ in group]
                futures = [future for *_, future in group]
                if not pipelined:
                    self._finish(futures, lambda: self.store.commit(arrays))
                else:
                    try:
                        current = (self.store.prepare(arrays), futures)
                    except BaseException as exc:  # noqa: BLE001 - handed to every waiting producer
                        self._fail(futures, exc)
            if pipelined:
                try:
                    if previous is not None:
                        self.store.publish(previous[0])  # its data was made durable by the last sync
                    self.store.sync_data()  # durable now: the previous group's names, this group's data
                except BaseException as exc:  # noqa: BLE001
                    for batch in (previous, current):
                        if batch is not None:
                            self.store.abandon(batch[0])
                            self._fail(batch[1], exc)
                    previous = current = None
                if previous is not None:
                    self._finish(previous[1], lambda p=previous[0]: self.store.indexed(p))
                previous = current
            with self._cond:
                self.groups += 1 if group else 0
                self._busy = previous is not None
                self._cond.notify_all()

    def _finish(self, futures: list[Future[FileInfo]], work: Any) -> None:
        try:
            infos = work()
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting producer
            self._fail(futures, exc)
        else:
            for future, info in zip(futures, infos):
                future.set_result(info)
            self._signal()

    def _fail(self, futures: list[Future[FileInfo]], exc: BaseException) -> None:
        for future in futures:
            future.set_exception(exc)
        self._signal()
