"""What every source gives the collector: items, a position to resume from, and its state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from nom.errors import quote

__all__ = ["Batch", "Item", "Source", "SourceError", "check_rate"]

MIN_RATE = 0.001  # objects per second: one every 17 minutes; a slower job would look stuck
MAX_RATE = 10_000_000  # far above what one collector stores; a bigger number is a mistake


class SourceError(ValueError):
    """A source that cannot be set up or cannot go on; ``field`` names the request field to blame."""

    def __init__(self, message: str, *, field: str | None = "source") -> None:
        super().__init__(message)
        self.field = field


@dataclass(slots=True)
class Item:
    """One tweet from a source: its dedup key, its data, and the source position just after it."""

    key: str
    data: Any  # the tweet: a dict, or its JSON as an orjson.Fragment
    pos: Any


@dataclass(slots=True)
class Batch:
    """Items as columns: item ``i`` is ``keys[i]``, its value in each of ``columns``, and ``positions[i]``.

    The collector takes items in batches of thousands; as columns they cost no object per item, and
    deduplicating or slicing them is a few C-level list operations. Without a ``template`` there is one
    column, of the items' JSON values. With one, the items are JSON already: item ``i``'s is ``template %
    (its value in each column)``, and the collector writes a whole file of them with one format call, making
    no object per item, not even its bytes (a source with each item's JSON as bytes gives ``b"%b"``).
    """

    keys: Sequence[str]
    columns: tuple[Sequence[Any], ...]  # (values,), or the template's arguments, one column each
    positions: Sequence[Any]  # a range for a source whose position after item i is a count
    template: bytes | None = None  # a bytes %-format: the same for every batch of a source

    @classmethod
    def of(cls, items: list[Item]) -> Batch:
        """The batch of ``items``."""
        return cls([i.key for i in items], ([i.data for i in items],), [i.pos for i in items])

    @property
    def data(self) -> list[Any]:
        """Each item's data: its JSON value, or with a template its JSON as bytes."""
        if self.template is None:
            return list(self.columns[0])
        return list(map(self.template.__mod__, zip(*self.columns)))

    def select(self, indices: list[int]) -> Batch:
        """The items at ``indices``, in that order."""
        return Batch([self.keys[i] for i in indices], tuple([column[i] for i in indices] for column in self.columns),
                     [self.positions[i] for i in indices], self.template)

    def items(self) -> list[Item]:
        """The batch as one ``Item`` per tweet (encoded data as an ``orjson.Fragment``: orjson writes it as it is)."""
        data = self.data
        if self.template is not None:
            data = list(map(orjson.Fragment, data))
        return [Item(k, d, p) for k, d, p in zip(self.keys, data, self.positions)]

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class Source:
    """Base of the sources: ``read`` never blocks; ``done`` when nothing more will come.

    A source implements ``read`` (items) or ``read_batch`` (columns); the collector calls ``read_batch``.
    """

    kind: str = "none"
    rate: float | None = None  # objects per second; None: as fast as the collector takes them
    done: bool = False
    error: str | None = None  # set when the source cannot go on (the job fails with it)
    note: str = ""
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0  # input records that held no tweet
    ascending_keys: bool = False  # keys are decimal integers, each above the one before, across restarts too
    item_bytes: int = 4096  # about how many bytes an item's JSON takes (sizes the publish queue before files tell)

    def read(self, limit: int) -> list[Item]:
        """Up to ``limit`` items that are ready now."""
        return self.read_batch(limit).items()

    def read_batch(self, limit: int) -> Batch:
        """Up to ``limit`` items that are ready now, as columns."""
        return Batch.of(self.read(limit))

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
