"""Items as the collector carries them, from a source to a stored file: ``Item``, ``Batch``, ``encode_array``.

A source gives the collector a ``Batch`` of items at a time: each item's dedup key, its data and the
source position just after it. Its data is either a JSON value (one column), or, for a source that has
its items' JSON already (the synthetic one), a bytes ``template`` and its arguments as columns: item
``i``'s JSON is ``template % (its value in each column)``. The runner then writes a whole file of items
with one format call (``encode_array``), making no object per item, not even its bytes. A source with
each item's JSON as bytes gives the template ``WHOLE_ITEM`` (``b"%b"``).

Every stored array is what orjson writes for ``[{"id": id, "type": type, "data": data}, ...]``, either
way: tests/test_collector_runner.py holds the two ways to the same bytes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import orjson

from nom import utc_bounds, written_bounds, written_of_data

__all__ = ["WHOLE_ITEM", "Batch", "Item", "array_written", "encode_array"]

WHOLE_ITEM = b"%b"  # the template of items given as their whole JSON, as bytes


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
    column, of the items' JSON values; with one, see the module docstring.
    """

    keys: Sequence[str]
    columns: tuple[Sequence[Any], ...]  # (values,), or the template's arguments, one column each
    positions: Sequence[Any]  # a range for a source whose position after item i is a count
    template: bytes | None = None  # a bytes %-format: the same for every batch of a source
    # with a template: the column whose piece of each item holds its top-level created_at (its written time,
    # nom.written), as the source vouches; None: found by searching each array's bytes
    written_column: int | None = None

    @classmethod
    def of(cls, items: list[Item]) -> Batch:
        """The batch of ``items`` (a source that makes one item at a time gives this)."""
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
                     [self.positions[i] for i in indices], self.template, self.written_column)

    def items(self) -> list[Item]:
        """The batch as one ``Item`` per tweet (encoded data as an ``orjson.Fragment``: orjson writes it as it is)."""
        data = self.data
        if self.template is not None:
            data = list(map(orjson.Fragment, data))
        return [Item(k, d, p) for k, d, p in zip(self.keys, data, self.positions)]

    def __len__(self) -> int:
        return len(self.keys)


_WRITTEN_TEXT = re.compile(rb'"(?:created_at|createdAt)":"([^"\\]{19,40})"')


def array_written(ids: range, columns: Sequence[Sequence[Any]], template: bytes | None, raw: bytes,
                  written_column: int | None = None) -> tuple[int, int] | None:
    """Bounds of when the items of a stored array were written (nom.written), or None when not known.

    Items as JSON values: each one's ``created_at``/``createdAt``. Items from a template: the times in the
    ``written_column`` the source names (each distinct piece read once: the synthetic source repeats one tail
    in a batch), all UTC; else the times found in the array's bytes, when there is exactly one per item.
    Otherwise None: readers then read the file for a range by written time.
    """
    if template is None:
        return written_bounds(ids, [written_of_data(d) for d in columns[0]])
    if written_column is not None:  # a regex over every byte of the array had cost 0.7 us a tweet
        found = []
        for piece in set(columns[written_column]):
            times = _WRITTEN_TEXT.findall(piece)
            if len(times) != 1:
                return None
            found += times
        return utc_bounds(b"\n".join(found).decode().split("\n"))
    found = _WRITTEN_TEXT.findall(raw)
    if len(found) != len(ids):
        return None
    return written_bounds(ids, b"\n".join(found).decode().split("\n"))  # decoded at once, not one by one


def encode_array(kind: str, ids: range, columns: Sequence[Sequence[Any]], template: bytes | None) -> bytes:
    """The JSON array of a stored file: object ``i`` is ``{"id": ids[i], "type": kind, "data": item i}``, where
    item ``i`` is its value in ``columns`` (see Batch); byte for byte what orjson writes for those objects."""
    if template is None:
        return orjson.dumps([{"id": i, "type": kind, "data": d} for i, d in zip(ids, columns[0])])
    return _array_format(kind, template, len(ids)) % tuple(chain.from_iterable(zip(ids, *columns)))


@functools.lru_cache(maxsize=64)
def _array_format(kind: str, template: bytes, count: int) -> bytes:
    """The %-format of a stored array of ``count`` objects of type ``kind``: the arguments are each object's id
    and then its data's template arguments."""
    one = b'{"id":%d,"type":' + orjson.dumps(kind).replace(b"%", b"%%") + b',"data":' + template + b"}"
    return b"[" + b",".join([one] * count) + b"]"
