"""Map and reduce functions: the built-ins, user functions by import path, and how to fold with them.

A map turns one NOM object into ``(key, value)`` pairs. A reduce is three
steps: ``init`` makes an accumulator from one value, ``merge`` folds two
accumulators (associative, so work splits across processes, Spark and time),
``finish`` makes the shown value. Results are ranked by ``rank`` (largest first).

Built-in maps whose pairs all carry the value 1 also offer ``keys``: the keys of
a whole batch of objects at once, which lets ``sum``/``count``/``topk`` count with
``collections.Counter`` in C instead of folding pair by pair. Both paths give the
same result; tests check that they do.

User functions are named ``package.module:function`` and imported from the
installed code; nothing is ever taken from a message.
"""

from __future__ import annotations

import heapq
import importlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import orjson

from nom import NomError
from nom.errors import quote

__all__ = ["FoldError", "FunctionError", "MapFn", "ReduceFn", "resolve_map", "resolve_reduce", "fold_objects",
           "merge_into", "new_accumulator", "finish", "rank", "MAP_NAMES", "REDUCE_NAMES", "tokens"]

Pair = tuple[Any, Any]


class FunctionError(NomError):
    """A map or reduce name that cannot be used; ``field`` says which ("map" or "reduce")."""


@dataclass(frozen=True)
class MapFn:
    """A map function: ``pairs(obj)``, and ``keys(objs)`` when every value it emits is 1."""

    name: str
    pairs: Callable[[dict[str, Any]], Iterable[Pair]]
    keys: Callable[[list[dict[str, Any]]], list[Any]] | None = None


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


# -- text helpers -------------------------------------------------------------

_WORD = re.compile(r"\w+")
_URL = re.compile(r"https?://\S+")
_URL_OR_MENTION = re.compile(r"https?://\S+|@\w+")
_HASHTAG = re.compile(r"#(\w+)")
_MENTION = re.compile(r"@(\w+)")
# ASCII characters that are not word characters become spaces; then str.split() tokenises exactly as \w+ would
_ASCII_NON_WORD = {c: " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")}


def tokens(text: str) -> list[str]:
    """Words of ``text``: Unicode ``\\w+`` runs, lower-cased; URLs and @mentions are not words."""
    text = text.lower()
    if "http" in text or "@" in text:
        text = _URL_OR_MENTION.sub(" ", text)
    if text.isascii():  # fast and exact for ASCII: translate non-word characters to spaces, then split
        return text.translate(_ASCII_NON_WORD).split()
    return _WORD.findall(text)


def _text(obj: dict[str, Any]) -> str:
    data = obj.get("data")
    if isinstance(data, dict):
        text = data.get("text")
        return text if isinstance(text, str) else ""
    return data if isinstance(data, str) else ""


def _tweet(obj: dict[str, Any]) -> dict[str, Any]:
    data = obj.get("data")
    return data if isinstance(data, dict) else {}


def _entities(obj: dict[str, Any], kind: str) -> list[dict[str, Any]] | None:
    entities = _tweet(obj).get("entities")
    if isinstance(entities, dict) and isinstance(entities.get(kind), list):
        return entities[kind]
    return None


# -- built-in maps: each returns the keys of one object (every value is 1) ------

def _words(obj: dict[str, Any]) -> list[str]:
    return tokens(_text(obj))


def _words_batch(objs: list[dict[str, Any]]) -> list[str]:
    # one pass over the joined texts: far fewer calls than one per object, same tokens
    try:
        joined = "\n".join([o["data"]["text"] for o in objs])  # tweets: the common shape, no checks
    except (KeyError, TypeError):
        joined = "\n".join([_text(o) for o in objs])
    return tokens(joined)


def _hashtags(obj: dict[str, Any]) -> list[str]:
    found = _entities(obj, "hashtags")
    if found is not None:
        return [h["tag"].casefold() for h in found if isinstance(h, dict) and isinstance(h.get("tag"), str)]
    return [t.casefold() for t in _HASHTAG.findall(_text(obj))]


def _mentions(obj: dict[str, Any]) -> list[str]:
    found = _entities(obj, "mentions")
    if found is not None:
        return [m["username"].casefold() for m in found if isinstance(m, dict) and isinstance(m.get("username"), str)]
    return [m.casefold() for m in _MENTION.findall(_text(obj))]


def _urls(obj: dict[str, Any]) -> list[str]:
    found = _entities(obj, "urls")
    if found is not None:
        out = []
        for u in found:
            if isinstance(u, dict):
                url = u.get("expanded_url") or u.get("url")
                if isinstance(url, str):
                    out.append(url)
        return out
    return _URL.findall(_text(obj))


def _domains(obj: dict[str, Any]) -> list[str]:
    out = []
    for url in _urls(obj):
        host = (urlsplit(url).hostname or "").lower()
        if host:
            out.append(host[4:] if host.startswith("www.") else host)
    return out


def _lang(obj: dict[str, Any]) -> list[str]:
    lang = _tweet(obj).get("lang")
    return [lang if isinstance(lang, str) and lang else "und"]


def _authors(obj: dict[str, Any]) -> list[str]:
    tweet = _tweet(obj)
    author = tweet.get("author")
    if isinstance(author, dict) and isinstance(author.get("username"), str):
        return [author["username"].casefold()]
    author_id = tweet.get("author_id")
    return [str(author_id)] if author_id is not None else []


def _count(obj: dict[str, Any]) -> list[str]:
    return [obj.get("type", "objects")]


def _hour(obj: dict[str, Any]) -> list[str]:
    created = _tweet(obj).get("created_at")
    if isinstance(created, str) and len(created) >= 13:
        return [created[:13] + ":00Z"]
    stamp = datetime.fromtimestamp(obj["id"] / 1e9, tz=timezone.utc)
    return [stamp.strftime("%Y-%m-%dT%H:00Z")]


def _minute(obj: dict[str, Any]) -> list[str]:
    # when the object entered Nectar (its id), for rates over time
    return [datetime.fromtimestamp(obj["id"] // 10**9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")]


def _batch(fn: Callable[[dict[str, Any]], list[Any]]) -> Callable[[list[dict[str, Any]]], list[Any]]:
    def keys(objs: list[dict[str, Any]]) -> list[Any]:
        out: list[Any] = []
        for obj in objs:
            out.extend(fn(obj))
        return out
    return keys


def _ones(fn: Callable[[dict[str, Any]], list[Any]]) -> Callable[[dict[str, Any]], list[Pair]]:
    return lambda obj: [(key, 1) for key in fn(obj)]


def _length(obj: dict[str, Any]) -> list[Pair]:
    return [("length", len(_text(obj)))]


_KEY_MAPS: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    "words": _words, "hashtags": _hashtags, "mentions": _mentions, "urls": _urls, "domains": _domains,
    "lang": _lang, "authors": _authors, "count": _count, "hour": _hour, "minute": _minute,
}
MAP_NAMES = sorted([*_KEY_MAPS, "length", "field:<dotted.path>", "package.module:function"])


def _field_map(path: str) -> MapFn:
    parts = path.split(".")

    def keys(obj: dict[str, Any]) -> list[Any]:
        value: Any = obj
        for part in parts:
            if not isinstance(value, dict) or part not in value:
                return []
            value = value[part]
        if isinstance(value, (dict, list)):
            value = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        return [value if isinstance(value, str) else str(value) if value is not None else "null"]

    return MapFn(f"field:{path}", _ones(keys), _batch(keys))


# -- built-in reduces -----------------------------------------------------------

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
}
REDUCE_NAMES = sorted([*_REDUCES, "topk:<n>", "package.module:function"])
_IMPORT_PATH = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")


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
    return 0.0


def _import(path: str, field: str) -> Callable[..., Any]:
    if not _IMPORT_PATH.fullmatch(path):
        names = ", ".join(MAP_NAMES if field == "map" else REDUCE_NAMES)
        raise FunctionError(f"{field} {quote(path)} is neither a built-in ({names}) "
                            f"nor an import path like 'package.module:function'", field=field)
    module_name, attr = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise FunctionError(f"{field} {quote(path)}: cannot import module {quote(module_name)}: {exc}",
                            field=field) from None
    if not hasattr(module, attr):
        raise FunctionError(f"{field} {quote(path)}: module {quote(module_name)} has no {quote(attr)}", field=field)
    fn = getattr(module, attr)
    if not callable(fn):
        raise FunctionError(f"{field} {quote(path)}: {quote(attr)} is a {type(fn).__name__}, not a function",
                            field=field)
    return fn


def resolve_map(name: Any) -> MapFn:
    """The map function called ``name``."""
    if not isinstance(name, str) or not name:
        raise FunctionError(f"map must be a name such as 'words', got {quote(name)}", field="map")
    if name in _KEY_MAPS:
        fn = _KEY_MAPS[name]
        return MapFn(name, _ones(fn), _words_batch if name == "words" else _batch(fn))
    if name == "length":
        return MapFn(name, _length)
    if name.startswith("field:"):
        path = name[6:]
        if not re.fullmatch(r"[\w-]+(\.[\w-]+)*", path):
            raise FunctionError(f"map {quote(name)}: field needs a dotted path such as 'field:data.lang'", field="map")
        return _field_map(path)
    fn = _import(name, "map")
    return MapFn(name, fn)


def resolve_reduce(name: Any) -> ReduceFn:
    """The reduce called ``name``."""
    if not isinstance(name, str) or not name:
        raise FunctionError(f"reduce must be a name such as 'sum', got {quote(name)}", field="reduce")
    if name in _REDUCES:
        return _REDUCES[name]
    if name.startswith("topk:"):
        n = name[5:]
        if not n.isdigit() or not 1 <= int(n) <= 1_000_000:
            raise FunctionError(f"reduce {quote(name)}: topk needs a count from 1 to 1000000, like 'topk:10'",
                                field="reduce")
        return ReduceFn(name, _identity, _add, _identity, counts=True, limit=int(n))
    fn = _import(name, "reduce")
    return ReduceFn(name, _identity, fn, _identity)


# -- folding --------------------------------------------------------------------

class FoldError(Exception):
    """A map or reduce raised on one object: the apply fails with the object's id and the function's traceback."""

    def __init__(self, obj_id: Any, function: str, trace: str) -> None:
        super().__init__(f"{function} raised on object {obj_id}:\n{trace}")
        self.obj_id = obj_id
        self.function = function
        self.trace = trace


def fold_objects(objs: list[dict[str, Any]], mapper: MapFn, reducer: ReduceFn, acc: dict[Any, Any],
                 *, skip_errors: bool = False) -> int:
    """Fold ``objs`` into the accumulators ``acc`` (key -> accumulator); returns how many objects were skipped.

    An object whose map (or reduce) raises fails the fold with FoldError, or with ``skip_errors``
    is left out and counted (pairs it had already folded before a reduce raised stay folded).
    """
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
                import traceback

                raise FoldError(obj.get("id") if isinstance(obj, dict) else None,
                                f"{mapper.name}/{reducer.name}", traceback.format_exc()) from None
            skipped += 1
    return skipped


def new_accumulator(mapper: MapFn, reducer: ReduceFn) -> dict[Any, Any]:
    """An empty accumulator dict (a Counter where the fast path applies)."""
    return Counter() if reducer.counts and mapper.keys is not None else {}


def merge_into(acc: dict[Any, Any], other: dict[Any, Any] | Iterable[tuple[Any, Any]], reducer: ReduceFn) -> None:
    """Fold another accumulator (a dict, or [key, acc] pairs) into ``acc``."""
    items = other.items() if isinstance(other, dict) else ((tuple(k) if isinstance(k, list) else k, v)
                                                            for k, v in other)
    if isinstance(acc, Counter) and reducer.counts:
        acc.update(dict(items))
        return
    merge = reducer.merge
    for key, value in items:
        acc[key] = merge(acc[key], value) if key in acc else value


def finish(acc: dict[Any, Any], reducer: ReduceFn, top: int | None = None) -> list[list[Any]]:
    """The shown result: ``[key, value]`` pairs, largest first (ties by key), cut to ``limit`` (and ``top``)."""
    limit = min(filter(None, (reducer.limit, top)), default=None)
    shown = [[key, reducer.finish(value)] for key, value in acc.items()]
    order = lambda kv: (-rank(kv[1]), str(kv[0]))  # noqa: E731
    if limit and limit < len(shown) // 4:  # a few of many: no need to sort them all
        return heapq.nsmallest(limit, shown, key=order)
    shown.sort(key=order)
    return shown[:limit] if limit else shown
