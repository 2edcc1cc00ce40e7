"""Built-in reduces: ``init`` makes an accumulator from one value, ``merge`` folds two accumulators
(associative, so work splits across processes, Spark and time), ``finish`` makes the shown value; results
are ranked by ``rank`` (largest first)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dispatch.functions.index import InvertedIndex, index_merge

__all__ = ["REDUCE_NAMES", "ReduceFn", "builtin_reduce", "rank", "topk"]


@dataclass(frozen=True)
class ReduceFn:
    """A reduce: init (value -> acc), merge (acc, acc -> acc), finish (acc -> shown), rank (shown -> number)."""

    name: str
    init: Callable[[Any], Any]
    merge: Callable[[Any, Any], Any]
    finish: Callable[[Any], Any]
    counts: bool = False  # sum/count/topk of 1s: the Counter fast path applies
    wants_id: bool = False  # init takes the object's id, not the value (postings)
    limit: int | None = None  # keep only the top entries (topk)
    # a whole-accumulator reduce (index): an accumulator object with fold/absorb(pairs, frames)/result/items/__len__
    # that folds whole batches itself (see dispatch.functions.fold); init/merge/finish then act on its pairs
    accumulator: Callable[[], Any] | None = None


def _stats_init(v: Any) -> list[float]:
    return [1, v, v, v, v * v]


def _stats_merge(a: list[float], b: list[float]) -> list[float]:
    return [a[0] + b[0], a[1] + b[1], min(a[2], b[2]), max(a[3], b[3]), a[4] + b[4]]


def _stats_finish(a: list[float]) -> dict[str, float]:
    count, total, low, high, squares = a
    mean = total / count
    variance = max(0.0, squares / count - mean * mean)
    return {"count": count, "sum": total, "min": low, "max": high, "mean": mean, "stddev": math.sqrt(variance)}


def _identity(v: Any) -> Any:
    return v


def _add(a: Any, b: Any) -> Any:
    return a + b


def _one(v: Any) -> int:
    return 1


def _union(a: list[Any], b: list[Any]) -> list[Any]:
    return sorted(set(a) | set(b), key=_sort_key)


def _sort_key(v: Any) -> tuple[str, Any]:
    return (type(v).__name__, v) if isinstance(v, (int, float, str)) else ("~", repr(v))


_REDUCES: dict[str, ReduceFn] = {
    "sum": ReduceFn("sum", _identity, _add, _identity, counts=True),
    "count": ReduceFn("count", _one, _add, _identity, counts=True),
    "min": ReduceFn("min", _identity, min, _identity),
    "max": ReduceFn("max", _identity, max, _identity),
    "mean": ReduceFn("mean", lambda v: [v, 1], lambda a, b: [a[0] + b[0], a[1] + b[1]], lambda a: a[0] / a[1]),
    "stats": ReduceFn("stats", _stats_init, _stats_merge, _stats_finish),
    "distinct": ReduceFn("distinct", lambda v: [v], _union, _identity),
    "postings": ReduceFn("postings", lambda i: [i], lambda a, b: a + b, sorted, wants_id=True),
    "index": ReduceFn("index", _identity, index_merge, _identity, accumulator=InvertedIndex),
}
REDUCE_NAMES = sorted([*_REDUCES, "topk:<n>", "package.module:function"])


def builtin_reduce(name: str) -> ReduceFn | None:
    """The built-in reduce called ``name`` (not ``topk:``), or None when there is none."""
    return _REDUCES.get(name)


def topk(n: int, name: str | None = None) -> ReduceFn:
    """``topk:<n>``: a sum that keeps the ``n`` largest entries (``name``: as the user spelled it)."""
    return ReduceFn(name or f"topk:{n}", _identity, _add, _identity, counts=True, limit=n)


def rank(shown: Any) -> float:
    """The number results are ordered by: the value, a list's length, a stats' count."""
    if isinstance(shown, bool):
        return float(shown)
    if isinstance(shown, (int, float)):
        return float(shown)
    if isinstance(shown, (list, tuple, str)):
        return float(len(shown))
    if isinstance(shown, dict) and isinstance(shown.get("count"), (int, float)):
        return float(shown["count"])
    if isinstance(shown, dict) and isinstance(shown.get("df"), (int, float)):  # an index's term: by documents
        return float(shown["df"])
    return 0.0
