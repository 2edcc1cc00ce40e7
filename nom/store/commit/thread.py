"""Group commit for many producers, in two threads of this process: ``ThreadWriter``.

Producers ``submit`` arrays (see nom.store.commit.writer). Two threads carry them in groups: the write
stage takes whatever has queued up (at most ``max_group`` arrays) and writes it to temp files; the sync
stage (nom.store.commit.stages) makes it durable with one filesystem sync and links it into place while
the write stage writes the next group. Each group costs one sync shared by every array in it. The queue
is bounded: a producer that outruns the disk blocks in ``submit`` (backpressure) instead of growing
memory without limit.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from nom.model import Nom
from nom.store.commit.arrays import Encoded
from nom.store.commit.stages import MAX_GROUP, SyncStage
from nom.store.commit.steps import GroupCommit
from nom.store.commit.writer import Writer
from nom.store.folders import JobFolders
from nom.store.index import FileInfo

__all__ = ["ThreadWriter"]


class ThreadWriter(Writer):
    """Commits submitted arrays in groups, writing one group while the previous one syncs."""

    kind = "thread"

    def __init__(self, store: JobFolders, *, max_group: int = MAX_GROUP, max_pending: int = 1024) -> None:
        """Commit into ``store`` (a Store) at most ``max_group`` arrays per sync; block producers past
        ``max_pending`` queued arrays."""
        super().__init__(max_group=max_group, max_pending=max_pending)
        self.store = store
        self.steps = GroupCommit(store)
        self._queue: deque[tuple[str, Encoded, Future[FileInfo]]] = deque()
        self._unresolved = 0
        # one lock, a condition per kind of waiter: a producer's submit wakes the write stage only, not
        # other producers too (each needless wake-up is a trip through the GIL)
        lock = threading.Lock()
        self._arrived = threading.Condition(lock)  # the write stage waits for arrays (or close)
        self._room = threading.Condition(lock)  # producers wait for room in the queue
        self._settled = threading.Condition(lock)  # flush waits for every future to resolve
        self._closed = False
        self._sync = SyncStage(self.steps, self._done)
        self._thread = threading.Thread(target=self._write_stage, name="nom-writer-data", daemon=True)
        self._thread.start()

    def submit(self, job: str, objects: Sequence[Nom | dict[str, Any]] | Encoded,
               encoded: bytes | None = None) -> Future[FileInfo]:
        """Queue one array for ``job``; the future resolves when it is durable (or fails with StoreError)."""
        self._check_job(job)
        array = self.steps.encode(objects, encoded)
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
            self.wakeup.close()

    def pending(self) -> int:
        """Arrays queued and not yet committed."""
        with self._arrived:
            return len(self._queue)

    def _write_stage(self) -> None:
        """Write each group to temp files and hand it to the sync stage (which holds one at a time)."""
        while True:
            with self._arrived:
                self._arrived.wait_for(lambda: self._queue or self._closed)
                if not self._queue:
                    break
                group = [self._queue.popleft() for _ in range(min(self.max_group, len(self._queue)))]
                self._room.notify_all()
            futures = [future for *_, future in group]
            try:
                files = self.steps.write([(job, array) for job, array, _ in group])
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting producer
                self._done(futures, exc)
                continue
            self._sync.hand_over(files, futures)
        self._sync.close()

    def _done(self, futures: list[Future[FileInfo]], outcome: list[FileInfo] | BaseException) -> None:
        """Resolve a group's futures (on the sync stage's thread, or the write stage's when writing failed)."""
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
        self.wakeup.signal()
