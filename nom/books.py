"""Plain-text books as paragraphs: the one reading of a book file, for the collector's text source and Dispatch.

A book is UTF-8 text, with or without a byte-order mark, with CRLF or LF line ends. A paragraph is a run of
lines that are not blank; blank lines (spaces only) separate paragraphs. Each paragraph becomes the data of one
NOM object ``data.text-...``::

    {"book": "1342-0.txt", "paragraph": 25, "line": 58, "offset": 1893, "text": "It is a truth ..."}

``paragraph`` numbers the paragraphs of the whole file from 1 (so a paragraph keeps its number whether or not
the header is kept), ``line`` is the paragraph's first line (from 1) and ``offset`` that line's byte offset in
the file (the BOM counts); ``text`` is its lines joined with LF.

Project Gutenberg's header and footer: the body starts after the first line that begins with ``*** START OF``
and ends before the first line after it that begins with ``*** END OF`` (case and the spaces after ``***`` do
not matter). Without a START marker the body starts at the top of the file; without an END marker it runs to
the end; so a file with no markers is read whole. ``keep_header=True`` reads every paragraph, markers included.

A file that is not UTF-8 raises ``BookError`` naming the file and the byte offset of the first bad byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from nom.errors import FieldError
from nom.model import slug

__all__ = ["BOM", "BookError", "Paragraph", "book_job_id", "book_type", "check_book_name", "paragraphs"]

BOM = b"\xef\xbb\xbf"
_START = re.compile(rb"\*\*\*\s*START OF", re.IGNORECASE)
_END = re.compile(rb"\*\*\*\s*END OF", re.IGNORECASE)


class BookError(FieldError):
    """A book file that cannot be read as a book (not UTF-8, a bad name)."""


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One paragraph of a book (see the module docstring)."""

    book: str
    paragraph: int
    line: int
    offset: int
    text: str

    def to_data(self) -> dict[str, Any]:
        """The paragraph as the data of its NOM object."""
        return {"book": self.book, "paragraph": self.paragraph, "line": self.line, "offset": self.offset,
                "text": self.text}


def check_book_name(name: Any, *, field: str = "book") -> str:
    """``name`` when it is a plain file name (no folder, no ``..``); else a BookError naming ``field``."""
    if not isinstance(name, str) or not name.strip():
        raise BookError(f"{field} must be a book's file name, got {name!r}", field=field)
    if "/" in name or "\\" in name or ".." in name or "\0" in name:
        raise BookError(f"{field} must be a file name in the books folder, not a path: {name!r}", field=field)
    return name


def book_job_id(name: str) -> str:
    """The job id a book is ingested under: the slug of its file name without the extension ("1342-0.txt" ->
    "1342-0")."""
    stem = PurePath(name).stem or name
    return "".join(c for c in slug(stem) if c.isascii())[:100].strip("-") or "book"


def book_type(name: str) -> str:
    """The type of a book's paragraph objects: ``data.text-<slug of its name>``."""
    return f"data.text-{slug(PurePath(name).stem or name)}"


def paragraphs(raw: bytes, name: str, *, keep_header: bool = False) -> list[Paragraph]:
    """The paragraphs of a book file's bytes ``raw`` (``name`` is the file name they carry)."""
    start = len(BOM) if raw.startswith(BOM) else 0
    try:
        raw[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BookError(f"{name}: not UTF-8 text: byte offset {start + exc.start} "
                        f"(byte {raw[start + exc.start]:#04x}): {exc.reason}", field="path") from None
    lines = _lines(raw, start)
    # the markers are found in both modes and stand as paragraphs of their own, so numbers do not depend on it
    begin = next((i for i, (_, line) in enumerate(lines) if _START.match(line)), None)
    end = next((i for i in range(begin or 0, len(lines)) if _END.match(lines[i][1])), None)
    first = 0 if keep_header or begin is None else begin + 1
    last = len(lines) if keep_header or end is None else end
    out: list[Paragraph] = []
    number = 0
    current: list[bytes] = []
    at = 0  # the line index of the current paragraph's first line
    for index, (_, line) in enumerate(lines):
        if current and (not line.strip() or index in (begin, end) or index - 1 in (begin, end)):
            number += 1
            if first <= at < last:
                out.append(Paragraph(name, number, at + 1, lines[at][0], b"\n".join(current).decode("utf-8")))
            current = []
        if line.strip():
            if not current:
                at = index
            current.append(line)
    if current:
        number += 1
        if first <= at < last:
            out.append(Paragraph(name, number, at + 1, lines[at][0], b"\n".join(current).decode("utf-8")))
    return out


def _lines(raw: bytes, start: int) -> list[tuple[int, bytes]]:
    """Each line's byte offset and bytes, without its CR LF or LF."""
    out = []
    offset = start
    for line in raw[start:].split(b"\n"):
        out.append((offset, line[:-1] if line.endswith(b"\r") else line))
        offset += len(line) + 1
    if out and out[-1][1] == b"" and raw.endswith(b"\n"):
        out.pop()  # the empty piece after the last line end is not a line
    return out
