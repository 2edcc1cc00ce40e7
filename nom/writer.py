"""Group commit for many producers, in two stages.

Producers ``submit`` arrays and get a ``Future`` that resolves to the stored
file once it is durable. Arrays are checked and encoded in the producer's
thread, then two threads carry them in groups: the data stage takes whatever
has queued up (at most ``max_group`` arrays) and writes it to in-flight files;
the sync stage (nom.sync_stage) makes it durable with one filesystem sync and
puts it in place while the data stage writes the next group. Each group costs
one sync shared by every array in it. The queue is bounded: a producer that
outruns the disk blocks in ``submit`` (backpressure) instead of growing memory
without limit.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from nom.arrays import Encoded
from nom.index import FileInfo
from nom.model import Nom, check_job_id
from nom.store import Store
from nom.sync_stage import MAX_GROUP, SyncStage

__all__ = ["GroupWriter", "Wakeup"]


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

    def __init__(self, store: Store, *, max_group: int = MAX_GROUP, max_pending: int = 1024) -> None:
        """Commit at most ``max_group`` arrays per sync; block producers past ``max_pending`` queued arrays."""
        self.store = store
        self.max_group = max_group
        self.max_pending = max_pending
        self.groups = 0
        self._queue: deque[tuple[str, Encoded, Future[FileInfo]]] = deque()
        self._unresolved = 0
        self._jobs: set[str] = set()  # job ids checked already
        # one lock, a condition per kind of waiter: a producer's submit wakes the data stage only, not
        # other producers too (each needless wake-up is a trip through the GIL)
        lock = threading.Lock()
        self._arrived = threading.Condition(lock)  # the data stage waits for arrays (or close)
        self._room = threading.Condition(lock)  # producers wait for room in the queue
        self._settled = threading.Condition(lock)  # flush waits for every future to resolve
        self._closed = False
        super().__init__()
        self._sync = SyncStage(store, self._done)
        self._thread = threading.Thread(target=self._write_stage, name="nom-writer-data", daemon=True)
        self._thread.start()

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
            self._arrived.notify_all()
            self._room.notify_all()
        self._thread.join(timeout)  # it drains the queue, then closes the sync stage
        if not self._thread.is_alive():
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
                    break
                group = [self._queue.popleft() for _ in range(min(self.max_group, len(self._queue)))]
                self._room.notify_all()
            futures = [future for *_, future in group]
            try:
                prepared = self.store.prepare([(job, array) for job, array, _ in group])
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting producer
                self._done(futures, exc)
                continue
            self._sync.hand_over(prepared, futures)
        self._sync.close()

    def _done(self, futures: list[Future[FileInfo]], outcome: list[FileInfo] | BaseException) -> None:
        """Resolve a group's futures (on the sync stage's thread, or the data stage's when writing failed)."""
        if isinstance(outcome, BaseException):
            for future in futures:
                future.set_exception(outcome)
        else:
            for future, info in zip(futures, outcome):
                future.set_result(info)
        with self._settled:
            self._unresolved -= len(futures)
            self.groups += not isinstance(outcome, BaseException)
            if not self._unresolved:
                self._settled.notify_all()
        self._signal()
