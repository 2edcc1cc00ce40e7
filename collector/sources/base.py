"""What every source gives the collector: batches of items, a position to resume from, and its state."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from collector.batch import Batch

__all__ = ["Source"]


@dataclass
class Source(ABC):
    """Base of the sources. A source implements one method, ``read_batch``, which never blocks; a class that
    does not cannot be made (Python says which method is missing). ``done`` when nothing more will come."""

    kind: str = "none"
    rate: float | None = None  # objects per second; None: as fast as the collector takes them
    done: bool = False
    error: str | None = None  # set when the source cannot go on (the job fails with it)
    note: str = ""
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0  # input records that held no tweet
    ascending_keys: bool = False  # keys are decimal integers, each above the one before, across restarts too

    @abstractmethod
    def read_batch(self, limit: int) -> Batch:
        """Up to ``limit`` items that are ready now (``Batch.of(items)`` for a source that makes one at a time)."""

    def close(self) -> None:
        """Release threads and files."""
