"""The per-job file index: what each data file holds, without opening it.

``NOM_ROOT/<jobId>/index`` is an append-only text file, one line per event::

    + <name> <min_id> <max_id> <objects> <bytes> <sorted>
    - <name>

It is a cache, never the truth: the folder listing is. A line for a file that
is gone is dropped, a file with no line is read once and indexed, a torn last
line (a crash mid-append) is ignored. Several processes may append at once
(``O_APPEND`` under ``flock``); when dead lines outnumber live ones the file
is rewritten atomically and readers notice the new inode and reload.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nom.durable import atomic_write

__all__ = ["FileInfo", "JobIndex", "is_data_name"]


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One data file: its name (write time in ns), id range, object count and size."""

    name: int
    min_id: int
    max_id: int
    objects: int
    bytes: int
    sorted: bool = True

    @property
    def filename(self) -> str:
        """The file's name in the job folder."""
        return f"{self.name}.json"

    def overlaps(self, from_id: int | None, to_id: int | None) -> bool:
        """True when this file can hold ids in ``[from_id, to_id]`` (both inclusive, None = open)."""
        return (from_id is None or self.max_id >= from_id) and (to_id is None or self.min_id <= to_id)

    def within(self, from_id: int | None, to_id: int | None) -> bool:
        """True when every id this file can hold is inside ``[from_id, to_id]``."""
        return (from_id is None or self.min_id >= from_id) and (to_id is None or self.max_id <= to_id)

    def clip(self, objs: list[dict[str, Any]], from_id: int | None, to_id: int | None) -> list[dict[str, Any]]:
        """This file's objects (``objs``) that fall in ``[from_id, to_id]``; ``objs`` itself when all do."""
        if self.within(from_id, to_id):
            return objs
        return [o for o in objs if (from_id is None or o["id"] >= from_id) and (to_id is None or o["id"] <= to_id)]

    def line(self) -> bytes:
        """The index line that records this file."""
        return b"+ %d %d %d %d %d %d\n" % (
            self.name, self.min_id, self.max_id, self.objects, self.bytes, int(self.sorted))


def is_data_name(filename: str) -> bool:
    """True for data file names: all digits, then ``.json``."""
    return filename.endswith(".json") and filename[:-5].isdigit()


class JobIndex:
    """The in-memory view of one job's index file, refreshed incrementally."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "index"
        self.entries: dict[int, FileInfo] = {}
        # every name added, in the order it was learnt: followers keep a cursor into it, so finding
        # new files costs what is new, not what the job holds; ``epoch`` changes when it starts over
        self.added: list[int] = []
        self.epoch = 0
        self.lock = threading.RLock()
        self._offset = 0
        self._inode: int | None = None
        self._dead_lines = 0

    def refresh(self) -> None:
        """Apply lines appended (by any process) since the last refresh."""
        with self.lock:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return
            try:
                st = os.fstat(fd)
                if st.st_ino != self._inode:  # rewritten by a compaction: start over
                    self.entries.clear()
                    self.added = []
                    self.epoch += 1
                    self._offset = 0
                    self._dead_lines = 0
                    self._inode = st.st_ino
                if st.st_size <= self._offset:
                    return
                raw = os.pread(fd, st.st_size - self._offset, self._offset)
            finally:
                os.close(fd)
            end = raw.rfind(b"\n") + 1  # a torn last line is left for the next refresh
            self._apply(raw[:end])
            self._offset += end

    def added_since(self, cursor: tuple[int, int]) -> tuple[list[FileInfo] | None, tuple[int, int]]:
        """Files learnt since ``cursor`` (None: the cursor is from before a reset; list everything)."""
        with self.lock:
            epoch, position = cursor
            fresh = None if epoch != self.epoch else [self.entries[n] for n in self.added[position:]
                                                      if n in self.entries]
            return fresh, (self.epoch, len(self.added))

    def reconcile(self, names_on_disk: set[int]) -> list[int]:
        """Drop entries whose files are gone; return the names on disk that have no entry."""
        with self.lock:
            for name in [n for n in self.entries if n not in names_on_disk]:
                del self.entries[name]
            return sorted(n for n in names_on_disk if n not in self.entries)

    def add(self, infos: Iterable[FileInfo]) -> None:
        """Record new files, here and in the index file."""
        infos = list(infos)
        if infos:
            with self.lock:
                for info in infos:
                    if info.name not in self.entries:
                        self.added.append(info.name)
                    self.entries[info.name] = info
                self._append(b"".join(info.line() for info in infos))

    def remove(self, names: Iterable[int]) -> None:
        """Record that files are gone (deleted by retention, or quarantined)."""
        names = list(names)
        if names:
            with self.lock:
                for name in names:
                    self.entries.pop(name, None)
                self._dead_lines += 2 * len(names)
                self._append(b"".join(b"- %d\n" % name for name in names))
                if self._dead_lines > max(1000, len(self.entries)):
                    self.compact()

    def compact(self) -> None:
        """Rewrite the index with live entries only."""
        with self.lock, open(self.path, "ab") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self.refresh()
                atomic_write(self.path, b"".join(e.line() for e in sorted(self.entries.values(), key=_by_name)))
                self._inode = os.stat(self.path).st_ino
                self._offset = os.stat(self.path).st_size
                self._dead_lines = 0
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _append(self, data: bytes) -> None:
        try:
            self._append_locked(data)
        except OSError:
            pass  # a full disk: the index is a cache; the folder listing re-indexes what it misses

    def _append_locked(self, data: bytes) -> None:
        for _ in range(3):  # retry if a compaction swapped the file between open and lock
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    if os.fstat(fd).st_ino != _inode_or_none(self.path):
                        continue
                    os.write(fd, data)
                    return
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _apply(self, raw: bytes) -> None:
        entries = self.entries
        for line in raw.split(b"\n"):
            parts = line.split()
            try:
                if len(parts) == 7 and parts[0] == b"+":
                    name, lo, hi, count, size, is_sorted = map(int, parts[1:])
                    if name not in entries:
                        self.added.append(name)
                    entries[name] = FileInfo(name, lo, hi, count, size, bool(is_sorted))
                elif len(parts) == 2 and parts[0] == b"-":
                    entries.pop(int(parts[1]), None)
                    self._dead_lines += 2
            except ValueError:
                continue  # a damaged line: the folder listing will re-index that file


def _by_name(info: FileInfo) -> int:
    return info.name


def _inode_or_none(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None
