"""Map and reduce functions a user might write."""

from __future__ import annotations

import os
import time
from typing import Any


def first_letter(obj: dict[str, Any]) -> list[tuple[str, int]]:
    """Count tweets by the first letter of their text."""
    text = obj["data"].get("text", "")
    return [(text[:1].lower() or "?", 1)]


def longest(a: str, b: str) -> str:
    """Keep the longer of two values (ties: the larger)."""
    return max(a, b, key=lambda s: (len(s), s))


def text_by_lang(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """Pair a tweet's language with its text."""
    return [(obj["data"].get("lang", "und"), obj["data"].get("text", ""))]


def explode_on_seven(obj: dict[str, Any]) -> list[tuple[str, int]]:
    """Raise on objects whose data is 7 (to test error reporting)."""
    if obj["data"] == 7:
        raise ValueError("seven is not allowed")
    return [("n", obj["data"])]


NOT_CALLABLE = 42


def slow_count(obj: dict[str, Any]) -> list[tuple[str, int]]:
    """Count objects, with 0.1 s of work for each, noting each call in $NECTAR_TEST_CALLS (to count folds)."""
    until = time.perf_counter() + 0.1
    while time.perf_counter() < until:
        pass
    calls = os.environ.get("NECTAR_TEST_CALLS")
    if calls:
        with open(calls, "a") as fh:
            fh.write(f"{obj['id']}\n")
    return [("n", 1)]
