"""The text source: plain-text books, one NOM object per paragraph (``data.text-...``).

``{"kind": "text", "path": "book.txt" | [...], "keepHeader": false, "rate": null}``: each file is read by
nom.books (UTF-8 with or without a BOM, CRLF or LF, the Project Gutenberg header and footer left out unless
``keepHeader``; see nom.books for the markers and what happens without them). A file that is not UTF-8 fails
the job's start with an error naming the file and the byte offset.

Paragraphs are keyed ``<file number>:<paragraph number>`` (their data's ``id``) and the position is how many
were given, so a restarted job resumes after its durable paragraphs and its dedup memory drops any given again:
a book is never stored twice in one job. (The ``ingest`` verb does not start a second job for a book that has
one.)
A relative path is taken from the collector's working folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from collector.batch import Batch, Item
from collector.errors import SourceError
from collector.sources.base import Source, check_rate
from nom import BookError, Paragraph, paragraphs, quote

__all__ = ["TextSource"]

_FIELDS = {"kind", "path", "rate", "keepHeader"}


class TextSource(Source):
    """Paragraphs of books, read whole at the start (a book is a few megabytes at most)."""

    type_word = "text"

    def __init__(self, paths: list[Path], *, keep_header: bool = False, rate: float | None = None,
                 position: int = 0) -> None:
        super().__init__(kind="text", rate=rate, item_bytes=600)
        self.paths = paths
        self.keep_header = keep_header
        self.paragraphs: list[tuple[str, Paragraph]] = []
        for number, path in enumerate(paths):
            try:
                raw = path.read_bytes()
            except OSError as exc:
                raise SourceError(f"source.path: cannot read {quote(str(path))}: {exc.strerror}",
                                  field="source.path") from None
            try:
                found = paragraphs(raw, path.name, keep_header=keep_header)
            except BookError as exc:
                raise SourceError(f"source.path: {path}: {str(exc).split(': ', 1)[1]}", field="source.path") from None
            self.paragraphs.extend((f"{number}:{p.paragraph}", p) for p in found)
        self.given = min(max(position, 0), len(self.paragraphs))
        self.done = self.given >= len(self.paragraphs)
        self.note = f"{len(self.paragraphs)} paragraphs from {len(paths)} file(s)" + (
            ", header and footer kept" if keep_header else "")

    @classmethod
    def from_spec(cls, spec: dict[str, Any], position: Any, *, base_dir: str | None = None) -> TextSource:
        """Build from ``{"kind": "text", "path": str | [str], "keepHeader": bool?, "rate": n?}``."""
        unknown = sorted(set(spec) - _FIELDS)
        if unknown:
            raise SourceError(f"unknown text source field {quote(unknown[0])} (takes path, keepHeader, rate)",
                              field=f"source.{unknown[0]}")
        raw = spec.get("path")
        names = [raw] if isinstance(raw, str) else raw
        if not names or not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise SourceError("source.path must be a file path or a non-empty list of them", field="source.path")
        paths = []
        for name in names:
            path = Path(name) if os.path.isabs(name) or base_dir is None else Path(base_dir) / name
            try:
                is_file = path.is_file()
            except OSError as exc:
                raise SourceError(f"source.path: cannot read {quote(str(path))}: {exc.strerror}",
                                  field="source.path") from None
            if not is_file:
                raise SourceError(f"source.path: no such file {quote(str(path))}", field="source.path")
            paths.append(path.resolve())
        keep = spec.get("keepHeader", False)
        if not isinstance(keep, bool):
            raise SourceError(f"source.keepHeader must be true or false, got {quote(keep)}",
                              field="source.keepHeader")
        return cls(paths, keep_header=keep, rate=check_rate(spec, None),
                   position=position if isinstance(position, int) and not isinstance(position, bool) else 0)

    def read_batch(self, limit: int) -> Batch:
        """Up to ``limit`` paragraphs."""
        taken = self.paragraphs[self.given:self.given + limit]
        out = [Item(key, {"id": key, **p.to_data()}, self.given + i + 1) for i, (key, p) in enumerate(taken)]
        self.given += len(taken)
        self.done = self.given >= len(self.paragraphs)
        return Batch.of(out)

    def is_own_key(self, key: str) -> bool:
        """Keys are ``<file number>:<paragraph number>``."""
        left, _, right = key.partition(":")
        return left.isdigit() and right.isdigit()
