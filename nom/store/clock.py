"""The id clock of a job: nanosecond ids that never repeat and never go backwards.

An id is the wall clock in nanoseconds when the object entered Nectar, but
the wall clock may stand still (coarse clocks), step back (NTP), or be read
by several processes writing the same job at once. ``IdClock`` therefore
hands out ``max(now, last + 1)``, where ``last`` is shared between threads by
a lock and between processes by a small file under ``flock``.

Going to the file for every id cost four system calls per store file (and
the writer thread's turn at the GIL after each). So a process leases ids a
millisecond ahead of the clock: it records the lease's end in the file and
hands out ids below it without asking again. Leases never overlap, so ids
stay unique across processes, and they stay in order across processes to
within one lease (``LEASE_NS``); within a process they strictly increase.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

from nom.store.nofollow import open_regular

__all__ = ["IdClock"]

_WIDTH = 20  # fixed width so a pwrite always overwrites the whole previous value
LEASE_NS = 1_000_000


class IdClock:
    """Hands out ids: unique across threads, processes and restarts of one job, strictly increasing within a
    process, and in order across processes to within ``LEASE_NS``."""

    def __init__(self, path: str | Path | None = None, *, floor: int = 0) -> None:
        """Share state through ``path`` (None: this process only); never hand out ids <= ``floor``."""
        self._lock = threading.Lock()
        self._last = floor
        self._lease_end = -1  # ids up to here are this process's to hand out
        self._fd = open_regular(path, os.O_RDWR | os.O_CREAT) if path is not None else None  # never a link

    def next(self) -> int:
        """One new id."""
        return self.take(1)

    def take(self, count: int) -> int:
        """Reserve ``count`` consecutive ids and return the first."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        with self._lock:
            start = max(time.time_ns(), self._last + 1)
            if self._fd is None or start + count - 1 <= self._lease_end:
                self._last = start + count - 1
                return start
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                raw = os.pread(self._fd, _WIDTH, 0).strip()
                shared = int(raw) if raw.isdigit() else 0
                start = max(start, shared + 1)
                lease_end = start + max(count, LEASE_NS) - 1
                os.pwrite(self._fd, b"%*d" % (_WIDTH, lease_end), 0)  # before any id of it is used
                self._last, self._lease_end = start + count - 1, lease_end
                return start
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def observe(self, seen_id: int) -> None:
        """Make sure later ids are above ``seen_id`` (e.g. the newest id found in the store)."""
        with self._lock:
            self._last = max(self._last, seen_id)

    def close(self) -> None:
        """Release the shared file."""
        with self._lock:  # not while a take() uses it
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
