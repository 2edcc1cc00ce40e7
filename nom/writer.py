"""Group commit for many producers, in two stages.

Producers ``submit`` arrays and get a ``Future`` that resolves to the stored
file once it is durable. Arrays are checked and encoded in the producer's
thread, then two threads carry them in groups:

- the data stage takes whatever has queued up (at most ``max_group`` arrays)
  and writes it to in-flight files;
- the sync stage makes a written group durable with one filesystem sync, then
  renames it into place. Its names become durable with the next group's sync
  (or a folder fsync when no group follows), and only then do its futures
  resolve.

So writing group N+1 overlaps syncing group N, and each group costs one sync
shared by every array in it. Both stages hold at most one group each, and the
queue is bounded: a producer that outruns the disk blocks in ``submit``
(backpressure) instead of growing memory without limit.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from nom.arrays import Encoded
from nom.index import FileInfo
from nom.model import Nom, check_job_id
from nom.store import Prepared, Store

__all__ = ["GroupWriter", "Wakeup"]

_Group = tuple[list[Prepared], list[Future[FileInfo]]]
_CLOSED = object()  # what the data stage hands over once it is closed and drained


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
    """Commits submitted arrays in groups, writing one group while the previous one syncs."""

    def __init__(self, store: Store, *, max_group: int = 64, max_pending: int = 1024) -> None:
        """Commit at most ``max_group`` arrays per sync; block producers past ``max_pending`` queued arrays."""
        self.store = store
        self.max_group = max_group
        self.max_pending = max_pending
        self.groups = 0
        self._queue: deque[tuple[str, Encoded, Future[FileInfo]]] = deque()
        self._written: deque[_Group | object] = deque()  # from the data stage to the sync stage
        self._unresolved = 0
        self._jobs: set[str] = set()  # job ids checked already
        # one lock, a condition per kind of waiter: a producer's submit wakes the data stage only, not the
        # sync stage and other producers too (each needless wake-up is a trip through the GIL)
        lock = threading.Lock()
        self._arrived = threading.Condition(lock)  # the data stage waits for arrays (or close)
        self._room = threading.Condition(lock)  # producers wait for room in the queue
        self._handoff = threading.Condition(lock)  # the stages wait for each other
        self._settled = threading.Condition(lock)  # flush waits for every future to resolve
        self._closed = False
        super().__init__()
        self._threads = [threading.Thread(target=self._write_stage, name="nom-writer-data", daemon=True),
                         threading.Thread(target=self._sync_stage, name="nom-writer-sync", daemon=True)]
        for thread in self._threads:
            thread.start()

    def submit(self, job: str, objects: Sequence[Nom | dict[str, Any]] | Encoded,
               encoded: bytes | None = None) -> Future[FileInfo]:
        """Queue one array for ``job``; the future resolves when it is durable (or fails with StoreError).

        The array is checked and encoded here, so a bad one raises NomError at once and cannot fail a
        whole group; ``encoded`` may carry ``orjson.dumps(objects)`` when the caller made it anyway.
        """
        if job not in self._jobs:
            self._jobs.add(check_job_id(job))
        array = self.store.encode(objects, encoded)
        future: Future[FileInfo] = Future()
        with self._room:
            while len(self._queue) >= self.max_pending and not self._closed:
                self._room.wait()
            if self._closed:
                raise RuntimeError("the writer is closed")
            self._queue.append((job, array, future))
            self._unresolved += 1
            self._arrived.notify()
        return future

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed (or failed); False on timeout."""
        with self._settled:
            return self._settled.wait_for(lambda: not self._unresolved, timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Commit what is queued, then stop both stages."""
        with self._arrived:
            self._closed = True
            for condition in (self._arrived, self._room, self._handoff):
                condition.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        if not any(thread.is_alive() for thread in self._threads):
            self._close_signal()

    def pending(self) -> int:
        """Arrays queued and not yet committed."""
        with self._arrived:
            return len(self._queue)

    # -- the data stage ------------------------------------------------------------

    def _write_stage(self) -> None:
        """Write each group to in-flight files and hand it to the sync stage (which holds one at a time)."""
        while True:
            with self._arrived:
                self._arrived.wait_for(lambda: self._queue or self._closed)
                if not self._queue:
                    self._written.append(_CLOSED)
                    self._handoff.notify_all()
                    return
                group = [self._queue.popleft() for _ in range(min(self.max_group, len(self._queue)))]
                self._room.notify_all()
            futures = [future for *_, future in group]
            try:
                prepared = self.store.prepare([(job, array) for job, array, _ in group])
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting producer
                self._fail(futures, exc)
                continue
            with self._handoff:
                self._handoff.wait_for(lambda: not self._written)
                self._written.append((prepared, futures))
                self._handoff.notify_all()

    # -- the sync stage ------------------------------------------------------------

    def _sync_stage(self) -> None:
        """Sync, rename, resolve. With syncfs one sync makes the renamed group's names and the next group's
        data durable together; otherwise each group's files were synced as they were written."""
        pipelined = self.store.sync == "syncfs"
        renamed: _Group | None = None  # in place, waiting for a sync to make its names durable
        while True:
            with self._handoff:
                if renamed is None:
                    self._handoff.wait_for(lambda: self._written)
                item = self._written.popleft() if self._written else None
                if item is not None:
                    self._handoff.notify_all()  # the data stage may hand over its next group
            group = item if item is not None and item is not _CLOSED else None
            if not pipelined:
                if group is not None:
                    self._finish(group[1], lambda g=group: self._commit_synced(g[0]))
            elif group is None:
                if renamed is not None:  # nothing follows it: make its names durable on their own
                    self._finish(renamed[1], lambda r=renamed: self._commit_synced(r[0], renamed=True))
                    renamed = None
            else:
                renamed = self._sync_and_rename(group, renamed)
            if item is _CLOSED and renamed is None:
                return

    def _sync_and_rename(self, group: _Group, renamed: _Group | None) -> _Group | None:
        """One sync for ``group``'s data and ``renamed``'s names; resolve ``renamed``, rename ``group``."""
        try:
            self.store.sync_data()
        except BaseException as exc:  # noqa: BLE001
            for batch in (renamed, group):
                if batch is not None:
                    self.store.abandon(batch[0])
                    self._fail(batch[1], exc)
            return None
        if renamed is not None:
            self._finish(renamed[1], lambda: self.store.indexed(renamed[0]))
        try:
            self.store.publish(group[0])
        except BaseException as exc:  # noqa: BLE001 - publish removed the group's in-flight files
            self._fail(group[1], exc)
            return None
        return group

    def _commit_synced(self, prepared: list[Prepared], *, renamed: bool = False) -> list[FileInfo]:
        """Finish a group whose data is durable: rename it (unless ``renamed``), sync its folders, index it."""
        if not renamed:
            self.store.publish(prepared)
        self.store.sync_names(prepared)
        return self.store.indexed(prepared)

    def _finish(self, futures: list[Future[FileInfo]], work: Callable[[], list[FileInfo]]) -> None:
        try:
            infos = work()
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting producer
            self._fail(futures, exc)
            return
        for future, info in zip(futures, infos):
            future.set_result(info)
        self._resolved(len(futures), group=True)

    def _fail(self, futures: list[Future[FileInfo]], exc: BaseException) -> None:
        for future in futures:
            future.set_exception(exc)
        self._resolved(len(futures))

    def _resolved(self, count: int, *, group: bool = False) -> None:
        with self._settled:
            self._unresolved -= count
            self.groups += group
            if not self._unresolved:
                self._settled.notify_all()
        self._signal()
