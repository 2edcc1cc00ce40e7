"""Text helpers of the built-in maps: the one tokenizer of words, and the text and entities of a tweet-like object.

The tokenizer's rules, the same for tweets and books, for the ``words`` map, the inverted index and queries:

- Unicode NFC, then case folding (``str.casefold``: "Straße" and "STRASSE" are both "strasse"), then NFC
  again (folding can decompose); a decomposed "é" and a composed one are the same term.
- A term is a run of letters, digits and combining marks; an apostrophe between two such runs (ASCII ``'`` or
  U+2019 ``’``) keeps the word whole, and the term is spelt with ``'``: "don’t" and "don't" are "don't".
  A leading or trailing apostrophe is not part of the term ("'tis" is "tis", "goin'" is "goin").
- Everything else separates terms: spaces, punctuation, hyphens and dashes ("to-morrow" is "to", "morrow"),
  underscores (Gutenberg's emphasis ``_word_`` is "word"), a byte-order mark, CR and LF.
- Numbers are terms ("1342"); their punctuation separates them like any other ("3.14" is "3", "14").
- URLs (``http://`` and ``https://`` up to the next space) and @mentions are not words.

``terms`` gives the terms in order (a term's position is its index there); ``terms_batch`` gives the terms of
many texts at once, each text's followed by ``SEP`` (the index folds a whole batch so); ``term_spans`` gives
the same terms with their start and end offsets in the original text (for snippets); ``normalise_term`` folds
one query word or specifier the same way (without splitting it). tests/test_text.py holds the rules to a
table of hard cases and checks that ``terms``, ``terms_batch`` and ``term_spans`` always agree.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from dispatch.functions.marks import MARKS

__all__ = ["SEP", "entities", "normalise_term", "term_spans", "terms", "terms_batch", "text_of", "tokens", "tweet_of"]

_CHAR = r"[\w" + MARKS + r"]"  # letters, digits, marks (and "_": it is made a space before terms are matched)
_TERM = re.compile(rf"{_CHAR}+(?:'{_CHAR}+)*")
_URL_OR_MENTION = re.compile(rf"https?://\S+|@{_CHAR}+")
_URL_OR_MENTION_ANY_CASE = re.compile(_URL_OR_MENTION.pattern, re.IGNORECASE)
# ASCII characters that are not letters or digits become spaces; then str.split() gives exactly what _TERM finds
# in ASCII text without an apostrophe (the fast path of tweets)
_ASCII_NON_TERM = {c: " " for c in range(128) if not chr(c).isalnum()}
SEP = "\x01"  # what terms_batch puts after each text's terms: never a term (not a letter, digit or mark)
_JOIN = f" {SEP} "  # spaces around it: no term, URL or @mention runs into it, in either text beside it
_ASCII_NON_TERM_BUT_SEP = {c: t for c, t in _ASCII_NON_TERM.items() if chr(c) != SEP}
# the same with ASCII letters folded: one pass instead of lower() then translate() when there is no URL or mention
_ASCII_FOLD_BUT_SEP = {**_ASCII_NON_TERM_BUT_SEP, **{c: chr(c).lower() for c in range(128) if chr(c).isupper()}}


def normalise_term(word: str) -> str:
    """``word`` folded as the tokenizer folds a term: NFC, case folding, NFC, ``’`` spelt ``'``; not split."""
    if not word.isascii():
        if not unicodedata.is_normalized("NFC", word):
            word = unicodedata.normalize("NFC", word)
        word = word.casefold()
        if not unicodedata.is_normalized("NFC", word):
            word = unicodedata.normalize("NFC", word)
        return word.replace("\u2019", "'")
    return word.lower()


def terms(text: str) -> list[str]:
    """The normalised terms of ``text`` in order; a term's position is its index in this list."""
    text = normalise_term(text)
    if "http" in text or "@" in text:
        text = _URL_OR_MENTION.sub(" ", text)
    if "'" not in text and text.isascii():  # fast and exact for ASCII: non-term characters to spaces, then split
        return text.translate(_ASCII_NON_TERM).split()
    if "_" in text:
        text = text.replace("_", " ")
    return _TERM.findall(text)


def terms_batch(texts: list[str]) -> list[str]:
    """The terms of each text of ``texts`` (as ``terms`` gives them), each text's followed by ``SEP``.

    Why: ``terms`` costs about 3 us a tweet, most of it per call; the texts joined (by " SEP ") are folded,
    stripped of URLs and mentions and split in a few calls over the whole string, 4x faster. Texts that need the
    general path (not ASCII, or with an apostrophe or a ``SEP`` of their own) take ``terms`` each, between runs
    of the others."""
    if not texts:
        return []
    joined = _JOIN.join(texts)
    if joined.isascii() and "'" not in joined and joined.count(SEP) == len(texts) - 1:
        return _ascii_batch(joined)
    out: list[str] = []
    run = 0  # the first text of the current run of ASCII texts without an apostrophe
    for i, text in enumerate(texts):
        if not text.isascii() or "'" in text or SEP in text:
            if run < i:
                out += _ascii_batch(_JOIN.join(texts[run:i]))
            out += terms(text)
            out.append(SEP)
            run = i + 1
    if run < len(texts):
        out += _ascii_batch(_JOIN.join(texts[run:]))
    return out


def _ascii_batch(joined: str) -> list[str]:
    """``terms_batch`` of ASCII texts without an apostrophe or ``SEP``, joined by ``_JOIN``: ``terms``'s fast path
    (the URL and mention pattern cannot match across the spaces of ``_JOIN``)."""
    if "://" not in joined and "@" not in joined:  # no URL or mention can match: fold and split in one pass
        found = joined.translate(_ASCII_FOLD_BUT_SEP).split()
        found.append(SEP)
        return found
    text = joined.lower()
    if "http" in text or "@" in text:
        text = _URL_OR_MENTION.sub(" ", text)
    found = text.translate(_ASCII_NON_TERM_BUT_SEP).split()
    found.append(SEP)
    return found


def term_spans(text: str) -> list[tuple[str, int, int]]:
    """``(term, start, end)`` for each term of ``text``: the same terms as ``terms``, at offsets in ``text``."""
    # "_" and "’" are replaced one character for one, so offsets in `clean` are offsets in `text`
    clean = text.replace("_", " ").replace("\u2019", "'")
    out: list[tuple[str, int, int]] = []
    start = 0
    for skipped in _URL_OR_MENTION_ANY_CASE.finditer(text):
        out.extend(_spans(clean, start, skipped.start()))
        start = skipped.end()
    out.extend(_spans(clean, start, len(text)))
    return out


def _spans(clean: str, start: int, end: int) -> list[tuple[str, int, int]]:
    return [(normalise_term(m.group()), m.start(), m.end()) for m in _TERM.finditer(clean, start, end)]


def tokens(text: str) -> list[str]:
    """The terms of ``text`` (the name the ``words`` map used first; ``terms`` is the same function)."""
    return terms(text)


def text_of(obj: dict[str, Any]) -> str:
    """The object's text: ``data.text`` of a tweet or a paragraph, or ``data`` itself when it is a string; else ""."""
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
