"""A specifier: which keys of a result to keep (seed 004's ``specifier``), applied to a map's keys.

A specifier is one word (``ebook``), a comma list (``whale,ahab``) or prefixes (``whale*``), mixed as wanted.
Each word is folded by the tokenizer's ``normalise_term`` (NFC, case folding, ``’`` spelt ``'``), and so is
each key before it is compared: ``--specifier Don’t`` keeps the key "don't", ``biden*`` keeps "#BidenHarris"'s
hashtag "bidenharris". A key that is not a string is compared as its ``str``.

The filter wraps the map (``filtered``), so every engine, the standing reductions and the Counter fast path
keep only the matching keys from the start: a ``topk:10`` with a specifier is the top 10 of the matching keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from dispatch.errors import FunctionError
from dispatch.functions.maps import MapFn, Pair
from dispatch.functions.text import normalise_term
from nom import quote

__all__ = ["MAX_SPECIFIER", "Specifier", "filtered", "parse_specifier"]

MAX_SPECIFIER = 2000  # characters: a specifier is typed by a person or a page


@dataclass(frozen=True)
class Specifier:
    """The parsed specifier: whole words and prefixes, folded; ``text`` is its canonical spelling."""

    words: frozenset[str]
    prefixes: tuple[str, ...]
    text: str

    def matches(self, key: Any) -> bool:
        """Whether ``key`` is kept."""
        term = normalise_term(key if isinstance(key, str) else str(key))
        return term in self.words or term.startswith(self.prefixes)


def parse_specifier(value: Any, *, field: str = "specifier") -> Specifier:
    """The specifier ``value`` (a string such as ``whale*,ahab``); a FunctionError naming ``field`` if it is not one."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_SPECIFIER:
        raise FunctionError(f"{field} must be a word, a comma list of words or a prefix such as 'whale*' "
                            f"(at most {MAX_SPECIFIER} characters), got {quote(value)}", field=field)
    words: list[str] = []
    prefixes: list[str] = []
    for part in value.split(","):
        part = part.strip()
        prefix = part.endswith("*")
        word = normalise_term(part[:-1] if prefix else part)
        if not word or "*" in word or any(c.isspace() for c in word):
            raise FunctionError(f"{field} {quote(value)}: {quote(part)} is not a word or a prefix 'word*' "
                                f"(words are separated by commas; '*' may only end a word)", field=field)
        (prefixes if prefix else words).append(word)
    text = ",".join([*dict.fromkeys(words), *(p + "*" for p in dict.fromkeys(prefixes))])
    return Specifier(frozenset(words), tuple(dict.fromkeys(prefixes)), text)


def filtered(mapper: MapFn, specifier: Specifier) -> MapFn:
    """``mapper`` keeping only the keys ``specifier`` matches (its name unchanged)."""
    matches = lru_cache(maxsize=1 << 16)(specifier.matches)  # keys repeat (Zipf): fold each spelling once

    def keep(key: Any) -> bool:
        try:
            return matches(key)
        except TypeError:  # an unhashable key (a list): compare it without the cache
            return specifier.matches(key)

    def pairs(obj: dict[str, Any]) -> list[Pair]:
        return [pair for pair in mapper.pairs(obj) if keep(pair[0])]

    def keys(objs: list[dict[str, Any]]) -> list[Any]:
        return [key for key in batch(objs) if keep(key)]

    batch = mapper.keys
    return MapFn(mapper.name, pairs, keys if batch is not None else None)
