"""Built-in map functions: each turns one NOM object into ``(key, value)`` pairs.

Built-in maps whose pairs all carry the value 1 also offer ``keys``: the keys of a whole batch of objects
at once, which lets ``sum``/``count``/``topk`` count with ``collections.Counter`` in C instead of folding
pair by pair (see dispatch.functions.fold). Both paths give the same result; tests check that they do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from dispatch.functions.stopwords import stopwords
from dispatch.functions.text import entities, terms, text_of, tweet_of
from nom import written_ns

__all__ = ["MAP_NAMES", "MapFn", "Pair", "builtin_map", "field_map", "value_map"]

Pair = tuple[Any, Any]

_URL = re.compile(r"https?://\S+")
_HASHTAG = re.compile(r"#(\w+)")
_MENTION = re.compile(r"@(\w+)")


@dataclass(frozen=True)
class MapFn:
    """A map function: ``pairs(obj)``, and ``keys(objs)`` when every value it emits is 1."""

    name: str
    pairs: Callable[[dict[str, Any]], Iterable[Pair]]
    keys: Callable[[list[dict[str, Any]]], list[Any]] | None = None


# -- each returns the keys of one object (every value is 1) ----------------------

def _words(obj: dict[str, Any]) -> list[str]:
    return terms(text_of(obj))


def _words_batch(objs: list[dict[str, Any]]) -> list[str]:
    # one pass over the joined texts: far fewer calls than one per object, same terms
    try:
        joined = "\n".join([o["data"]["text"] for o in objs])  # tweets: the common shape, no checks
    except (KeyError, TypeError):
        joined = "\n".join([text_of(o) for o in objs])
    return terms(joined)


def _hashtags(obj: dict[str, Any]) -> list[str]:
    found = entities(obj, "hashtags")
    if found is not None:
        return [h["tag"].casefold() for h in found if isinstance(h, dict) and isinstance(h.get("tag"), str)]
    return [t.casefold() for t in _HASHTAG.findall(text_of(obj))]


def _mentions(obj: dict[str, Any]) -> list[str]:
    found = entities(obj, "mentions")
    if found is not None:
        return [m["username"].casefold() for m in found if isinstance(m, dict) and isinstance(m.get("username"), str)]
    return [m.casefold() for m in _MENTION.findall(text_of(obj))]


def _urls(obj: dict[str, Any]) -> list[str]:
    found = entities(obj, "urls")
    if found is not None:
        out = []
        for u in found:
            if isinstance(u, dict):
                url = u.get("expanded_url") or u.get("url")
                if isinstance(url, str):
                    out.append(url)
        return out
    return _URL.findall(text_of(obj))


def _domains(obj: dict[str, Any]) -> list[str]:
    out = []
    for url in _urls(obj):
        host = (urlsplit(url).hostname or "").lower()
        if host:
            out.append(host[4:] if host.startswith("www.") else host)
    return out


def _lang(obj: dict[str, Any]) -> list[str]:
    lang = tweet_of(obj).get("lang")
    return [lang if isinstance(lang, str) and lang else "und"]


def _authors(obj: dict[str, Any]) -> list[str]:
    tweet = tweet_of(obj)
    author = tweet.get("author")
    if isinstance(author, dict) and isinstance(author.get("username"), str):
        return [author["username"].casefold()]
    author_id = tweet.get("author_id")
    return [str(author_id)] if author_id is not None else []


def _count(obj: dict[str, Any]) -> list[str]:
    return [obj.get("type", "objects")]


def _hour(obj: dict[str, Any]) -> list[str]:
    created = tweet_of(obj).get("created_at")
    if isinstance(created, str) and len(created) >= 13:
        return [created[:13] + ":00Z"]
    stamp = datetime.fromtimestamp(obj["id"] / 1e9, tz=UTC)
    return [stamp.strftime("%Y-%m-%dT%H:00Z")]


def _day(obj: dict[str, Any]) -> list[str]:
    # the day it was written (nom.written: created_at/createdAt, else collected), the clock ranges select by
    return [datetime.fromtimestamp(written_ns(obj) // 10**9, tz=UTC).strftime("%Y-%m-%d")]


def _minute(obj: dict[str, Any]) -> list[str]:
    # when the object entered Nectar (its id), for rates over time
    return [datetime.fromtimestamp(obj["id"] // 10**9, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")]


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
    return [("length", len(text_of(obj)))]


_KEY_MAPS: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    "words": _words, "hashtags": _hashtags, "mentions": _mentions, "urls": _urls, "domains": _domains,
    "lang": _lang, "authors": _authors, "count": _count, "hour": _hour, "minute": _minute, "day": _day,
}
MAP_NAMES = sorted([*_KEY_MAPS, "length", "words:stop", "field:<dotted.path>", "value:<dotted.path>",
                    "package.module:function"])


def _words_stop(obj: dict[str, Any]) -> list[str]:
    stop = stopwords()
    return [w for w in terms(text_of(obj)) if w not in stop]


def _words_stop_batch(objs: list[dict[str, Any]]) -> list[str]:
    stop = stopwords()
    return [w for w in _words_batch(objs) if w not in stop]


def value_map(path: str) -> MapFn:
    """``value:<path>``: the number at a dotted path of the object, keyed by the path (objects without a number
    there give no pair), for ``stats``, ``mean``, ``min``, ``max`` and ``sum``."""
    parts = path.split(".")

    def pairs(obj: dict[str, Any]) -> list[Pair]:
        value: Any = obj
        for part in parts:
            if not isinstance(value, dict) or part not in value:
                return []
            value = value[part]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return []
        return [(path, value)]

    return MapFn(f"value:{path}", pairs)


def field_map(path: str) -> MapFn:
    """``field:<path>``: the value at a dotted path of the object (JSON text for objects and arrays)."""
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


def builtin_map(name: str) -> MapFn | None:
    """The built-in map called ``name`` (not ``field:``), or None when there is none."""
    if name in _KEY_MAPS:
        fn = _KEY_MAPS[name]
        return MapFn(name, _ones(fn), _words_batch if name == "words" else _batch(fn))
    if name == "length":
        return MapFn(name, _length)
    if name == "words:stop":
        return MapFn(name, _ones(_words_stop), _words_stop_batch)
    return None
