"""What every source gives the collector: batches of items, a position to resume from, and its state."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from collector.batch import Batch
from collector.errors import SourceError
from nom import quote

__all__ = ["MAX_RATE", "MIN_RATE", "Source", "check_rate"]

MIN_RATE = 0.001  # objects per second: one every 17 minutes; a slower job would look stuck
MAX_RATE = 10_000_000  # far above what one collector stores; a bigger number is a mistake


@dataclass
class Source(ABC):
    """Base of the sources. A source implements one method, ``read_batch``, which never blocks; a class that
    does not cannot be made (Python says which method is missing). ``done`` when nothing more will come."""

    type_word: ClassVar[str] = "tweet"  # its objects are typed data.<type_word>-<slug of the search terms>
    kind: str = "none"
    rate: float | None = None  # objects per second; None: as fast as the collector takes them
    done: bool = False
    error: str | None = None  # set when the source cannot go on (the job fails with it)
    note: str = ""
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0  # input records that held no tweet
    ascending_keys: bool = False  # keys are decimal integers, each above the one before, across restarts too
    item_bytes: int = 4096  # about how many bytes an item's JSON takes (sizes the publish queue before files tell)

    @abstractmethod
    def read_batch(self, limit: int) -> Batch:
        """Up to ``limit`` items that are ready now (``Batch.of(items)`` for a source that makes one at a time)."""

    def is_own_key(self, key: str) -> bool:
        """Whether ``key``, read back from the store, can be one this source gives (a restarted job rebuilds its
        dedup memory only from such keys)."""
        return bool(key)

    def close(self) -> None:
        """Release threads and files."""


def check_rate(spec: dict[str, Any], default: float | None) -> float | None:
    """The ``rate`` of a source spec (objects per second; null: as fast as the collector takes them)."""
    rate = spec.get("rate", default)
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                             or not MIN_RATE <= rate <= MAX_RATE):
        raise SourceError(f"source.rate must be a number of objects per second from {MIN_RATE:g} to {MAX_RATE:,} "
                          f"(or null: as fast as the collector takes them), got {quote(rate)}", field="source.rate")
    return rate
