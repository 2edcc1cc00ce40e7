"""One data file as the job index describes it (``FileInfo``), and clipping a file's objects to a range.

Split from nom.store.index (which re-exports these names): a ``FileInfo`` travels far beyond the index, into
scans, snapshots, retention and the commit pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nom.written import written_ns

__all__ = ["FileInfo", "clip", "clip_written", "is_data_name"]


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One data file: its name (write time in ns), id range, object count and size, and the SHA-256 of its bytes
    in hex ("" when not known yet: a file indexed before hashes were recorded), and the bounds of when its objects
    were written (None: not known, the file may hold any)."""

    name: int
    min_id: int
    max_id: int
    objects: int
    bytes: int
    sorted: bool = True
    sha256: str = ""
    min_written: int | None = None
    max_written: int | None = None

    @property
    def filename(self) -> str:
        """The file's name in the job folder."""
        return f"{self.name}.json"

    def bounds(self, by: str = "collected") -> tuple[int | None, int | None]:
        """The bounds of this file's times by clock ``by`` (``collected``: its ids; ``written``: nom.written)."""
        if by == "collected":
            return self.min_id, self.max_id
        return self.min_written, self.max_written

    def overlaps(self, from_id: int | None, to_id: int | None, by: str = "collected") -> bool:
        """True when this file can hold times in ``[from_id, to_id]`` (both inclusive, None = open) by clock ``by``."""
        low, high = self.bounds(by)
        return (from_id is None or high is None or high >= from_id) and (to_id is None or low is None or low <= to_id)

    def within(self, from_id: int | None, to_id: int | None, by: str = "collected") -> bool:
        """True when every time this file can hold (by clock ``by``) is inside ``[from_id, to_id]``."""
        low, high = self.bounds(by)
        return (from_id is None or (low is not None and low >= from_id)) and (
            to_id is None or (high is not None and high <= to_id))

    def clip(self, objs: list[dict[str, Any]], from_id: int | None, to_id: int | None,
             by: str = "collected") -> list[dict[str, Any]]:
        """This file's objects (``objs``) that fall in ``[from_id, to_id]`` by clock ``by``; ``objs`` itself when
        all do."""
        if self.within(from_id, to_id, by):
            return objs
        return clip(objs, from_id, to_id) if by == "collected" else clip_written(objs, from_id, to_id)

    def fields(self) -> tuple[int, int, int, int, int, bool, str, int | None, int | None]:
        """name, min_id, max_id, objects, bytes, sorted, sha256, min_written, max_written: the constructor's
        arguments."""
        return (self.name, self.min_id, self.max_id, self.objects, self.bytes, self.sorted, self.sha256,
                self.min_written, self.max_written)

    def line(self) -> bytes:
        """The index line that records this file."""
        line = b"+ %d %d %d %d %d %d" % (
            self.name, self.min_id, self.max_id, self.objects, self.bytes, int(self.sorted))
        if self.min_written is not None and self.max_written is not None:
            line += b" %d %d" % (self.min_written, self.max_written)
        if self.sha256:
            line += b" h" + self.sha256.encode()
        return line + b"\n"


def clip(objs: list[dict[str, Any]], from_id: int | None, to_id: int | None) -> list[dict[str, Any]]:
    """The objects of ``objs`` whose ids fall in ``[from_id, to_id]`` (both inclusive, None = open), in order."""
    return [o for o in objs if (from_id is None or o["id"] >= from_id) and (to_id is None or o["id"] <= to_id)]


def clip_written(objs: list[dict[str, Any]], from_ns: int | None, to_ns: int | None) -> list[dict[str, Any]]:
    """The objects of ``objs`` written in ``[from_ns, to_ns]`` (nom.written; None = open), in order."""
    if from_ns is None and to_ns is None:
        return objs
    out = []
    for o in objs:
        t = written_ns(o)
        if (from_ns is None or t >= from_ns) and (to_ns is None or t <= to_ns):
            out.append(o)
    return out


def is_data_name(filename: str) -> bool:
    """True for data file names: all digits, then ``.json``."""
    return filename.endswith(".json") and filename[:-5].isdigit()
