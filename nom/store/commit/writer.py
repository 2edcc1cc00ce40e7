"""What every writer offers its producers: ``Writer``, the base of ThreadWriter and ProcessWriter.

A producer ``submit``s arrays and gets a ``Future`` per array that resolves to the stored file once it is
durable (or fails with StoreError). Arrays are checked and encoded in the producer's thread, so a bad one
raises NomError at once and never fails a group. An event loop polls ``fileno()`` beside its sockets: it
turns readable when futures have resolved. tests/test_writer_contract.py holds both writers to this.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from nom.model import Nom, check_job_id
from nom.store.commit.arrays import Encoded
from nom.store.commit.stages import MAX_GROUP
from nom.store.index import FileInfo

__all__ = ["Wakeup", "Writer"]


class Wakeup:
    """An eventfd that a writer makes readable when submitted arrays have landed, so that an event loop
    learns at once that futures are resolved instead of polling for them."""

    def __init__(self) -> None:
        self._event = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)

    def fileno(self) -> int:
        """The eventfd."""
        return self._event

    def signal(self) -> None:
        """Make ``fileno()`` readable."""
        try:
            os.eventfd_write(self._event, 1)
        except OSError:  # closed at shutdown
            pass

    def clear(self) -> None:
        """Make ``fileno()`` unreadable again (after a wake-up)."""
        try:
            os.eventfd_read(self._event)
        except OSError:  # nothing to clear (EAGAIN), or closed
            pass

    def close(self) -> None:
        """Release the eventfd (twice is harmless)."""
        if self._event >= 0:
            os.close(self._event)
            self._event = -1  # closing twice must not close an fd that has been reused since


class Writer(ABC):
    """Commits submitted arrays in groups, one sync per group; see the module docstring."""

    kind = "writer"  # "thread" or "process": where the commits run

    def __init__(self, *, max_group: int = MAX_GROUP, max_pending: int = 1024) -> None:
        """At most ``max_group`` arrays per sync; producers block past ``max_pending`` unresolved arrays."""
        self.max_group = max_group
        self.max_pending = max_pending
        self.groups = 0  # groups committed (or answered) so far
        self.wakeup = Wakeup()
        self._jobs: set[str] = set()  # job ids checked already

    @property
    def window(self) -> int:
        """Arrays a producer may keep unresolved to keep both stages busy (two groups): one group is written
        while the one before syncs. Past it, a producer should wait for futures before submitting more."""
        return 2 * self.max_group

    def fileno(self) -> int:
        """An fd that becomes readable when submitted arrays have become durable (or failed)."""
        return self.wakeup.fileno()

    def clear_signal(self) -> None:
        """Make ``fileno()`` unreadable again (after a wake-up)."""
        self.wakeup.clear()

    @abstractmethod
    def submit(self, job: str, objects: Sequence[Nom | dict[str, Any]] | Encoded,
               encoded: bytes | None = None) -> Future[FileInfo]:
        """Queue one array for ``job``; the future resolves when it is durable (or fails with StoreError).

        ``encoded`` may carry ``orjson.dumps(objects)`` when the caller made it anyway.
        """

    @abstractmethod
    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed (or failed); False on timeout."""

    @abstractmethod
    def close(self, timeout: float | None = 10.0) -> None:
        """Commit what was submitted, then stop (twice is harmless); ``submit`` raises RuntimeError after."""

    @abstractmethod
    def pending(self) -> int:
        """Arrays submitted and not yet committed."""

    def _check_job(self, job: str) -> None:
        """Check a job id once per writer (a bad one raises NomError before anything is queued)."""
        if job not in self._jobs:
            self._jobs.add(check_job_id(job))
