"""Seed 004's URLs, as written, against a real web service, Dispatch and collector: the word count and the
inverted index of a book in the books folder equal what the shell's ``apply`` gives for the same book and
specifier; an unknown book is a 404 that names it; a book name with a path is a 400."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from conftest import SHARED
from web_helpers import Stack, running_stack

BOOKS = SHARED / "data" / "books"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    assert (BOOKS / "1342-0.txt").is_file(), f"the shared books are missing: expected {BOOKS}"
    with running_stack(tmp_path_factory.mktemp("books"), dispatch_args=("--books", str(BOOKS))) as s:
        yield s


def shell_apply(stack: Stack, *args: str) -> dict:
    env = {**os.environ, "NOM_ROOT": str(stack.root), "NECTAR_COLLECTOR": stack.collector.endpoint,
           "NECTAR_DISPATCH": stack.dispatch.endpoint, "XDG_CONFIG_HOME": str(stack.root.parent / "config"),
           "XDG_STATE_HOME": str(stack.root.parent / "state")}
    done = subprocess.run([sys.executable, "-m", "nectar.cli", "--json", "apply", *args], env=env, text=True,
                          capture_output=True, timeout=120, cwd=stack.root.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_word_count_url_equals_the_shell_s_apply(stack: Stack) -> None:
    status, reply = stack.call("GET", "/?method=word-count&book=1342-0.txt&specifier=pride")
    assert status == 200, reply
    assert reply["method"] == "word-count" and reply["book"] == "1342-0.txt" and list(reply["result"]) == ["pride"]
    shell = shell_apply(stack, "words", "sum", "1342-0", "--specifier", "pride", "--top", "0")
    assert shell["result"] == [["pride", reply["result"]["pride"]]] and reply["result"]["pride"] > 10
    status, whole = stack.call("GET", "/?method=word-count&book=1342-0.txt")
    assert status == 200 and whole["result"]["pride"] == reply["result"]["pride"] and whole["keys"] > 5000


def test_inverted_index_url_equals_the_shell_s_index(stack: Stack) -> None:
    status, reply = stack.call("GET", "/?method=inverted-index&book=1342-0.txt&specifier=pride")
    assert status == 200, reply
    entry = reply["result"]["pride"]
    shell = shell_apply(stack, "words", "index", "1342-0", "--specifier", "pride", "--top", "0")
    (term, value), = shell["result"]
    assert term == "pride" and entry["df"] == value["df"] and entry["cf"] == value["cf"]
    assert entry["postings"] == [[str(doc), positions] for doc, positions in value["postings"]]
    assert all(isinstance(doc, str) and int(doc) > 2**53 for doc, _ in entry["postings"])
    status, alias = stack.call("GET", "/?method=reverse-index&book=1342-0.txt&specifier=pride")
    assert status == 200 and alias["result"] == reply["result"]


def test_an_unknown_book_is_a_404_naming_it_and_a_path_is_a_400(stack: Stack) -> None:
    status, reply = stack.call("GET", "/?method=word-count&book=no-such-book.txt")
    assert status == 404 and reply["field"] == "book" and "no-such-book.txt" in reply["message"]
    for bad in ("../books/1342-0.txt", "sub/1342-0.txt", "..", "%2Fetc%2Fpasswd"):
        status, reply = stack.call("GET", f"/?method=word-count&book={bad}")
        assert status == 400 and reply["field"] == "book", bad


@pytest.mark.parametrize("specifier", ["pride*", "pride,prejudice", "Pride", "don\u2019t"])
def test_any_specifier_form_gives_what_the_shell_gives(stack: Stack, specifier: str) -> None:
    """A prefix, a comma list, capitals and a curly apostrophe: Dispatch normalises and filters (the same
    tokenizer as the shell's --specifier); the URL passes the specifier on and filters nothing itself."""
    from urllib.parse import quote

    status, reply = stack.call("GET", f"/?method=word-count&book=1342-0.txt&specifier={quote(specifier)}")
    assert status == 200, reply
    shell = shell_apply(stack, "words", "sum", "1342-0", "--specifier", specifier, "--top", "0")
    assert reply["result"] == dict(shell["result"]) and reply["keys"] >= 1, specifier


def test_the_books_list_names_each_book_and_whether_it_is_stored(stack: Stack) -> None:
    stack.call("GET", "/?method=word-count&book=1342-0.txt&specifier=pride")  # stores this one
    status, reply = stack.call("GET", "/api/v1/books")
    assert status == 200, reply
    listed = {b["book"]: b for b in reply["books"]}
    assert set(listed) == {"105.txt", "1342-0.txt", "244-0.txt"}  # the folder's README.md is no book
    pride = listed["1342-0.txt"]
    assert pride["stored"] is True and pride["jobId"] == "1342-0" and pride["paragraphs"] > 1000
    assert pride["bytes"] == (BOOKS / "1342-0.txt").stat().st_size
    assert reply["folder"] == str(BOOKS)
