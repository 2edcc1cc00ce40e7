"""Text helpers of the built-in maps: the tokenizer, and the text and entities of a tweet-like object.

``tokens`` is the one tokenizer of words; an inverted index (issue 19) uses it too.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["entities", "text_of", "tokens", "tweet_of"]

_WORD = re.compile(r"\w+")
_URL_OR_MENTION = re.compile(r"https?://\S+|@\w+")
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


def text_of(obj: dict[str, Any]) -> str:
    """The object's text: ``data.text`` of a tweet, or ``data`` itself when it is a string; else ""."""
    data = obj.get("data")
    if isinstance(data, dict):
        text = data.get("text")
        return text if isinstance(text, str) else ""
    return data if isinstance(data, str) else ""


def tweet_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's data when it is a JSON object (a tweet), else {}."""
    data = obj.get("data")
    return data if isinstance(data, dict) else {}


def entities(obj: dict[str, Any], kind: str) -> list[dict[str, Any]] | None:
    """The tweet's v2 ``entities`` of ``kind`` (hashtags, mentions, urls), or None when it has none listed."""
    found = tweet_of(obj).get("entities")
    if isinstance(found, dict) and isinstance(found.get(kind), list):
        return found[kind]
    return None
