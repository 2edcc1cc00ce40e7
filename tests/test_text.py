"""The one tokenizer (dispatch.functions.text) against a table of hard cases; terms and term_spans agree."""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.functions import normalise_term, resolve_map, term_spans, terms
from dispatch.functions.marks import MARKS
from dispatch.functions.text import SEP, terms_batch

BOOKS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "books"

HARD_CASES = [
    # curly and straight apostrophes: the word stays whole, both spellings are one term
    ("Don’t you don't", ["don't", "you", "don't"]),
    ("o’clock O'Clock", ["o'clock", "o'clock"]),
    ("’Tis the Smiths’ house, goin' home", ["tis", "the", "smiths", "house", "goin", "home"]),
    ("rock 'n' roll, rock ’n’ roll", ["rock", "n", "roll", "rock", "n", "roll"]),
    ("don''t", ["don", "t"]),  # two apostrophes are not inside a word
    # hyphens and dashes split
    ("to-morrow To-Morrow", ["to", "morrow", "to", "morrow"]),
    ("said—and then–so―yes", ["said", "and", "then", "so", "yes"]),
    ("well--I", ["well", "i"]),
    # underscores split: Gutenberg's _emphasis_ is the word
    ("_very_ well_done __init__", ["very", "well", "done", "init"]),
    # a BOM, CRLF, tabs
    ("\ufeffThe Project\r\nGutenberg\teBook", ["the", "project", "gutenberg", "ebook"]),
    # NFC vs NFD: one term, in its composed form; case folding beyond ASCII
    ("caf\u00e9 cafe\u0301 CAFE\u0301", ["caf\u00e9", "caf\u00e9", "caf\u00e9"]),
    ("Straße STRASSE", ["strasse", "strasse"]),
    ("ΣΊΣΥΦΟΣ σίσυφος", ["σίσυφοσ", "σίσυφοσ"]),
    ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),  # combining vowel signs stay in the word
    # numbers are terms; their punctuation separates them
    ("In 1813, 3.14 and 1,000 or 2nd", ["in", "1813", "3", "14", "and", "1", "000", "or", "2nd"]),
    # URLs and @mentions are not words; hashtags' words are
    ("Hi @Alice_B! see https://t.co/a_b?x=1 and HTTP://X.ORG/Y #Tag_two",
     ["hi", "see", "and", "tag", "two"]),
    ("mail me at help@example.org", ["mail", "me", "at", "help", "org"]),  # "@example" reads as a mention
    # no terms
    ("", []), ("  -- … “” ‘’ \r\n", []),
    ("日本語 テスト", ["日本語", "テスト"]),
]


@pytest.mark.parametrize(("text", "expected"), HARD_CASES)
def test_hard_cases(text: str, expected: list[str]) -> None:
    assert terms(text) == expected
    spans = term_spans(text)
    assert [t for t, _, _ in spans] == expected
    for term, start, end in spans:  # each span covers exactly the original spelling of its term
        assert normalise_term(text[start:end]) == term


def test_the_words_map_uses_the_tokenizer() -> None:
    obj = {"id": 1, "type": "data.text-book", "data": {"text": "Don’t _stop_ to-morrow, don't."}}
    words = resolve_map("words")
    assert list(words.pairs(obj)) == [("don't", 1), ("stop", 1), ("to", 1), ("morrow", 1), ("don't", 1)]
    assert words.keys([obj, obj]) == ["don't", "stop", "to", "morrow", "don't"] * 2


def test_normalise_term_folds_a_query_word_without_splitting() -> None:
    assert normalise_term("Don’t") == "don't"
    assert normalise_term("CAFE\u0301") == "caf\u00e9"
    assert normalise_term("Black_Lives") == "black_lives"  # a hashtag's key keeps its underscore


# an alphabet of the characters the rules are about, so random texts hit the hard cases often
_ALPHABET = st.sampled_from(list("aZé1_'’-— \r\n\ufeff@:/.#ßΣ") + ["e\u0301", "http://", "https://x", "ि"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_terms_and_spans_always_agree(text: str) -> None:
    spans = term_spans(text)
    assert [t for t, _, _ in spans] == terms(text)
    assert all(normalise_term(text[s:e]) == t for t, s, e in spans)


def _one_by_one(texts: list[str]) -> list[str]:
    out: list[str] = []
    for text in texts:
        out += terms(text) + [SEP]
    return out


def test_terms_batch_is_terms_text_by_text() -> None:
    texts = [case for case, _ in HARD_CASES] + ["", "plain ascii words", "a\x01b SEP inside", "@end", "HTTP://X.Y z"]
    assert terms_batch([]) == []
    assert terms_batch(texts) == _one_by_one(texts)
    plain = ["Hello World", "@bob see HTTPS://t.co/x now", "x_y 3.14", "", "end http"]
    assert terms_batch(plain) == _one_by_one(plain)  # the all-ASCII path, in one pass
    assert terms_batch(plain) == ["hello", "world", SEP, "see", "now", SEP, "x", "y", "3", "14", SEP, SEP, "end",
                                  "http", SEP]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_ALPHABET, max_size=12).map("".join), max_size=8))
def test_terms_batch_always_agrees(texts: list[str]) -> None:
    assert terms_batch(texts) == _one_by_one(texts)


@pytest.mark.parametrize("name", ["1342-0.txt", "244-0.txt", "105.txt"])
def test_terms_and_spans_agree_over_a_book(name: str) -> None:
    text = (BOOKS / name).read_text(encoding="utf-8-sig")
    found = terms(text)
    assert [t for t, _, _ in term_spans(text)] == found
    assert len(found) > 20_000 and "’" not in "".join(found)


def test_marks_table_is_the_running_pythons() -> None:
    marks = {c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in ("Mn", "Mc", "Me")}
    pattern = __import__("re").compile("[" + MARKS + "]")
    listed = {c for c in range(sys.maxunicode + 1) if pattern.match(chr(c))}
    assert listed == marks, f"Unicode {unicodedata.unidata_version}: regenerate dispatch/functions/marks.py"
