"""The three shared books as paragraph objects for the index tests, split here by a plain loop (blank lines
between paragraphs), so that the index's tests stand apart from the text source's own reading of books."""

from __future__ import annotations

from pathlib import Path

from conftest import SHARED
from nom import Store

BOOKS = SHARED / "data" / "books"
NAMES = ("1342-0.txt", "244-0.txt", "105.txt")

__all__ = ["BOOKS", "NAMES", "book_paragraphs", "store_book"]


def book_paragraphs(path: Path) -> list[dict]:
    """``{"book", "paragraph", "line", "text"}`` for each paragraph of the book at ``path`` (header included)."""
    lines = path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n").split("\n")
    out: list[dict] = []
    run: list[str] = []
    first = 0
    for number, line in enumerate([*lines, ""], start=1):
        if line.strip():
            if not run:
                first = number
            run.append(line)
        elif run:
            out.append({"book": path.name, "paragraph": len(out) + 1, "line": first, "text": "\n".join(run)})
            run = []
    return out


def store_book(store: Store, job: str, name: str) -> list[dict]:
    """Store the book ``name`` as paragraph objects of ``job`` (100 a file); returns the objects."""
    found = book_paragraphs(BOOKS / name)
    ids = store.new_ids(job, len(found))
    objs = [{"id": i, "type": "data.text-" + job, "data": p} for i, p in zip(ids, found)]
    for start in range(0, len(objs), 100):
        store.append(job, objs[start:start + 100])
    return objs
