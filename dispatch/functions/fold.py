"""Folding objects with a map and a reduce into an accumulator (key -> accumulator), and finishing it.

The accumulator is a ``collections.Counter`` where the map offers batch keys and the reduce counts (the
fast path, in C), else a dict folded pair by pair. Accumulators of parts (processes, Spark partitions,
micro-batches) merge with ``merge_into``; ``finish`` makes the shown, ranked result.
"""

from __future__ import annotations

import heapq
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dispatch.errors import FoldError
from dispatch.functions.maps import MapFn
from dispatch.functions.reduces import ReduceFn, rank

__all__ = ["finish", "fold_objects", "merge_into", "new_accumulator"]


def fold_objects(objs: list[dict[str, Any]], mapper: MapFn, reducer: ReduceFn, acc: dict[Any, Any],
                 *, skip_errors: bool = False) -> int:
    """Fold ``objs`` into the accumulators ``acc`` (key -> accumulator); returns how many objects were skipped.

    An object whose map (or reduce) raises fails the fold with FoldError, or with ``skip_errors``
    is left out and counted (pairs it had already folded before a reduce raised stay folded).
    """
    if reducer.accumulator is not None:  # a whole-accumulator reduce (index) folds the batch itself
        return acc.fold(objs, mapper, skip_errors)  # type: ignore[attr-defined]
    if reducer.counts and mapper.keys is not None and isinstance(acc, Counter):
        try:
            keys = mapper.keys(objs)
        except Exception:  # noqa: BLE001 - the per-object pass below finds and names the culprit
            pass
        else:
            acc.update(keys)  # counting in C; the values are all 1
            return 0
    init, merge, wants_id = reducer.init, reducer.merge, reducer.wants_id
    skipped = 0
    for obj in objs:
        try:
            for key, value in list(mapper.pairs(obj)):
                start = init(obj["id"] if wants_id else value)
                acc[key] = merge(acc[key], start) if key in acc else start
        except Exception:  # noqa: BLE001 - user code may raise anything
            if not skip_errors:
                raise FoldError(obj.get("id") if isinstance(obj, dict) else None,
                                f"{mapper.name}/{reducer.name}", traceback.format_exc()) from None
            skipped += 1
    return skipped


def new_accumulator(mapper: MapFn, reducer: ReduceFn) -> dict[Any, Any]:
    """An empty accumulator dict (a Counter where the fast path applies; a whole-accumulator reduce's own)."""
    if reducer.accumulator is not None:
        return reducer.accumulator()  # type: ignore[no-any-return]
    return Counter() if reducer.counts and mapper.keys is not None else {}


def merge_into(acc: dict[Any, Any], other: dict[Any, Any] | Iterable[tuple[Any, Any]], reducer: ReduceFn,
               frames: Sequence[Any] | None = None) -> None:
    """Fold another accumulator (a dict, or [key, acc] pairs) into ``acc`` (``frames``: the binary frames a
    whole-accumulator reduce's pairs name, from a local worker's reply)."""
    if reducer.accumulator is not None:
        acc.absorb(other, frames)  # type: ignore[attr-defined]
        return
    items = other.items() if isinstance(other, dict) else ((tuple(k) if isinstance(k, list) else k, v)
                                                            for k, v in other)
    if isinstance(acc, Counter) and reducer.counts:
        acc.update(dict(items))
        return
    merge = reducer.merge
    for key, value in items:
        acc[key] = merge(acc[key], value) if key in acc else value


def finish(acc: dict[Any, Any], reducer: ReduceFn, top: int | None = None,
           keep: Callable[[Any], bool] | None = None) -> list[list[Any]]:
    """The shown result: ``[key, value]`` pairs, largest first (ties by key), cut to ``limit`` (and ``top``).

    ``keep`` (a specifier's ``matches``) filters the keys of a whole-accumulator reduce (an index), whose map
    cannot drop terms without moving the positions of the others; other reduces had their keys filtered by the
    map already (dispatch.functions.specifier)."""
    limit = min(filter(None, (reducer.limit, top)), default=None)
    if reducer.accumulator is not None:  # lazy: only the pairs read become Python objects (an index's postings)
        return acc.result(limit, keep)  # type: ignore[attr-defined,no-any-return]
    shown = [[key, reducer.finish(value)] for key, value in acc.items()]
    if limit and limit < len(shown) // 4:  # a few of many: no need to sort them all
        return heapq.nsmallest(limit, shown, key=_order)
    shown.sort(key=_order)
    return shown[:limit] if limit else shown


def _order(pair: list[Any]) -> tuple[float, str]:
    """Largest value first, ties by key."""
    return -rank(pair[1]), str(pair[0])
