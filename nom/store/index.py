"""The per-job file index: what each data file holds, without opening it.

``NOM_ROOT/<jobId>/index`` is an append-only text file, one line per event::

    + <name> <min_id> <max_id> <objects> <bytes> <sorted> [<min_written> <max_written>] [h<sha256>]
    - <name>

``min_written``/``max_written`` bound when the file's objects were written (nom.written): a range by
written time skips files by them; a line without them (an older index) reads every file it overlaps.

``h<sha256>`` (always the last field when present) is the file's SHA-256 in hex, computed once from the bytes
the commit pipeline writes (nom.store.commit.steps); a file indexed before hashes were recorded gets its hash
on first need (``JobFolders.file_sha256``), recorded by a new line for the same name, and never again.

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
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Container, Iterable
from pathlib import Path

from nom.store.durable import atomic_write
from nom.store.fileinfo import FileInfo, clip, clip_written, is_data_name
from nom.store.nofollow import open_regular

__all__ = ["FileInfo", "JobIndex", "clip", "clip_written", "is_data_name"]


class _Columns:
    """Files as parallel arrays in name order: a few dozen bytes a file, several times less than FileInfo
    objects in a dict, because every process that reads a job indexes all of its files (a long job holds
    hundreds of thousands; bench/soak.py).

    A removed file keeps its row, marked dead, until dead rows outnumber live ones; then the arrays
    are rebuilt. Lookups bisect ``names``. The live files' bytes are kept as a running total, and the
    first row that may be live as a hint, so retention, which runs once a group, finds the oldest files
    to delete without walking every row (a capped job's rate depends on it; bench/store.py).
    """

    _LIVE, _SORTED, _WRITTEN = 1, 2, 4

    def __init__(self) -> None:
        self.names = array("q")
        self.min_ids = array("q")
        self.max_ids = array("q")
        self.objects = array("q")
        self.sizes = array("q")
        self.min_written = array("q")
        self.max_written = array("q")
        self.flags = array("b")
        self.digests = bytearray()  # 32 bytes a row: the file's SHA-256 (all zero: not known)
        self.live = 0
        self.live_bytes = 0
        self.head = 0  # no live row before this one

    def __len__(self) -> int:
        return self.live

    def find(self, name: int) -> int | None:
        """The row of live file ``name``, or None."""
        i = bisect_left(self.names, name)
        if i < len(self.names) and self.names[i] == name and self.flags[i] & self._LIVE:
            return i
        return None

    def put(self, name: int, min_id: int, max_id: int, objects: int, size: int, is_sorted: bool,
            sha256: str = "", min_written: int | None = None, max_written: int | None = None) -> bool:
        """Record a file (replacing a row of the same name); True when the file was not live before."""
        names = self.names
        digest = bytes.fromhex(sha256) if sha256 else _NO_DIGEST
        if not names or name > names[-1]:
            i = len(names)  # the common case: files are named by write time
            names.append(name)
            for column in (self.min_ids, self.max_ids, self.objects, self.sizes, self.min_written, self.max_written):
                column.append(0)
            self.flags.append(0)
            self.digests += digest
        else:
            i = bisect_left(names, name)
            if i == len(names) or names[i] != name:
                names.insert(i, name)
                for column in (self.min_ids, self.max_ids, self.objects, self.sizes, self.min_written,
                               self.max_written):
                    column.insert(i, 0)
                self.flags.insert(i, 0)
                self.digests[32 * i:32 * i] = _NO_DIGEST
            if digest != _NO_DIGEST or not self.flags[i] & self._LIVE:
                self.digests[32 * i:32 * i + 32] = digest
            self.head = min(self.head, i)
        fresh = not self.flags[i] & self._LIVE
        self.live_bytes += size - (0 if fresh else self.sizes[i])
        self.min_ids[i], self.max_ids[i], self.objects[i], self.sizes[i] = min_id, max_id, objects, size
        written = min_written is not None and max_written is not None
        if written:
            self.min_written[i], self.max_written[i] = min_written, max_written
        elif not fresh and self.flags[i] & self._WRITTEN:
            written = True  # a later line for the same file (its hash) keeps the bounds it had
        self.flags[i] = self._LIVE | (self._SORTED if is_sorted else 0) | (self._WRITTEN if written else 0)
        self.live += fresh
        return fresh

    def drop(self, name: int) -> None:
        """Forget file ``name`` (nothing when it is not live)."""
        i = self.find(name)
        if i is not None:
            self.flags[i] = 0
            self.live -= 1
            self.live_bytes -= self.sizes[i]
            if len(self.names) - self.live > max(1024, self.live):
                self._purge()

    def info(self, i: int) -> FileInfo:
        """The file in row ``i``."""
        digest = self.digests[32 * i:32 * i + 32]
        flags = self.flags[i]
        written = flags & self._WRITTEN
        return FileInfo(self.names[i], self.min_ids[i], self.max_ids[i], self.objects[i], self.sizes[i],
                        bool(flags & self._SORTED), "" if digest == _NO_DIGEST else digest.hex(),
                        self.min_written[i] if written else None, self.max_written[i] if written else None)

    def oldest_beyond(self, budget: int) -> list[int]:
        """The rows of the oldest live files to drop so that the rest take at most ``budget`` bytes."""
        excess, live, flags, sizes = self.live_bytes - budget, self._LIVE, self.flags, self.sizes
        i, end, doomed = self.head, len(flags), []
        while i < end and not flags[i] & live:
            i += 1
        self.head = i
        while excess > 0 and i < end:
            if flags[i] & live:
                doomed.append(i)
                excess -= sizes[i]
            i += 1
        return doomed

    def newest(self) -> int | None:
        """The name of the newest live file, or None."""
        live, i = self._LIVE, len(self.flags) - 1
        while i >= 0 and not self.flags[i] & live:
            i -= 1
        return self.names[i] if i >= 0 else None

    def rows(self) -> list[int]:
        """The live rows, in name order."""
        live = self._LIVE
        return [i for i, f in enumerate(self.flags) if f & live]

    def _purge(self) -> None:
        keep = self.rows()
        for attr in ("names", "min_ids", "max_ids", "objects", "sizes", "min_written", "max_written", "flags"):
            old = getattr(self, attr)
            setattr(self, attr, array(old.typecode, [old[i] for i in keep]))
        self.digests = bytearray(b"".join(self.digests[32 * i:32 * i + 32] for i in keep))
        self.head = 0


class JobIndex:
    """The in-memory view of one job's index file, refreshed incrementally."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "index"
        self._files = _Columns()
        # every name added, in the order it was learnt: followers keep a cursor into it, so finding
        # new files costs what is new, not what the job holds; ``epoch`` changes when it starts over
        self.added = array("q")
        self.epoch = 0
        self.lock = threading.RLock()
        self._offset = 0
        self._inode: int | None = None
        self._dead_lines = 0

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, name: int) -> bool:
        return self._files.find(name) is not None

    def get(self, name: int) -> FileInfo | None:
        """The live file ``name``, or None."""
        with self.lock:
            i = self._files.find(name)
            return None if i is None else self._files.info(i)

    def infos(self) -> list[FileInfo]:
        """Every live file, in name order."""
        with self.lock:
            files = self._files
            return [files.info(i) for i in files.rows()]

    def overlapping(self, from_id: int | None, to_id: int | None) -> list[FileInfo]:
        """The live files that can hold ids in ``[from_id, to_id]`` (None = open), in name order."""
        low = -(1 << 63) if from_id is None else from_id
        high = (1 << 63) - 1 if to_id is None else to_id
        with self.lock:
            f = self._files
            live = _Columns._LIVE
            return [f.info(i) for i, (flag, lo, hi) in enumerate(zip(f.flags, f.min_ids, f.max_ids))
                    if flag & live and hi >= low and lo <= high]

    def after(self, name: int, limit: int) -> list[FileInfo]:
        """At most ``limit`` live files named above ``name``, in name order (a reader's offset into the job)."""
        with self.lock:
            f = self._files
            live = _Columns._LIVE
            out: list[FileInfo] = []
            i = bisect_right(f.names, name)
            while i < len(f.names) and len(out) < limit:
                if f.flags[i] & live:
                    out.append(f.info(i))
                i += 1
            return out

    def newest(self) -> FileInfo | None:
        """The newest live file, or None."""
        with self.lock:
            f = self._files
            name = f.newest()
            return None if name is None else f.info(f.find(name))  # type: ignore[arg-type]

    def entries(self, from_id: int | None, to_id: int | None) -> list[tuple[int, int, int, int, int, str]]:
        """(name, bytes, min_id, max_id, objects, sha256 or "") of the live files that can hold ids in
        ``[from_id, to_id]``, in name order: what a snapshot's manifest needs, without a FileInfo a file."""
        low = -(1 << 63) if from_id is None else from_id
        high = (1 << 63) - 1 if to_id is None else to_id
        with self.lock:
            f = self._files
            live, digests, none = _Columns._LIVE, f.digests, _NO_DIGEST
            out = []
            for i, (flag, lo, hi) in enumerate(zip(f.flags, f.min_ids, f.max_ids)):
                if flag & live and hi >= low and lo <= high:
                    digest = digests[32 * i:32 * i + 32]
                    out.append((f.names[i], f.sizes[i], lo, hi, f.objects[i], "" if digest == none else digest.hex()))
            return out

    def written_span(self) -> tuple[int | None, int | None]:
        """The bounds of when the live files' objects were written (None where no file's are known)."""
        with self.lock:
            f = self._files
            known = [i for i in f.rows() if f.flags[i] & _Columns._WRITTEN]
            if not known:
                return None, None
            return min(f.min_written[i] for i in known), max(f.max_written[i] for i in known)

    def totals(self) -> tuple[int, int, int, int | None, int | None]:
        """Files, objects, bytes, lowest and highest id of the live files."""
        with self.lock:
            f = self._files
            rows = f.rows()
            if not rows:
                return 0, 0, 0, None, None
            return (len(rows), sum(f.objects[i] for i in rows), sum(f.sizes[i] for i in rows),
                    min(f.min_ids[i] for i in rows), max(f.max_ids[i] for i in rows))

    def oldest_beyond(self, budget: int) -> list[FileInfo]:
        """The oldest files that do not fit in ``budget`` bytes once every newer file is counted."""
        with self.lock:
            return list(map(self._files.info, self._files.oldest_beyond(budget)))

    def retention(self, cap: int, new: Iterable[FileInfo] = (),
                  pinned: Container[int] | None = None) -> tuple[list[FileInfo], list[FileInfo]]:
        """Retention under ``cap`` bytes once ``new`` files (not recorded yet: a group about to be placed) join
        the recorded ones: keep the newest files whose total fits, and always the newest one, even alone
        larger than the cap. Returns the recorded files to delete (oldest first) and the new ones never to place.
        Files named in ``pinned`` (held by a kept snapshot) are never deleted, but their bytes count against
        the cap: older unpinned files go first, then newer ones, until the rest fits (or only pins are left).
        """
        new = sorted(new, key=_name)
        with self.lock:
            files = self._files
            if pinned:
                return self._retention_pinned(cap, new, pinned)
            newest = files.newest()
            if newest is not None and new and new[0].name < newest:  # interleaved with files of another writer
                every = sorted([*map(files.info, files.rows()), *new], key=_name)
                gone = every[:len(every) - _fitting(every, cap)]
                fresh = {info.name for info in new}
                return [i for i in gone if i.name not in fresh], [i for i in gone if i.name in fresh]
            kept = _fitting(new, cap)  # the common case: the new files are the newest (no walk of the recorded)
            if kept < len(new):  # the group alone fills the cap: everything older goes
                return list(map(files.info, files.oldest_beyond(0))), new[:len(new) - kept]
            doomed = files.oldest_beyond(cap - sum(info.bytes for info in new))
            if not new and doomed and len(doomed) == files.live:
                doomed.pop()  # the newest file stays, even alone larger than the cap
            return list(map(files.info, doomed)), []

    def _retention_pinned(self, cap: int, new: list[FileInfo],
                          pinned: Container[int]) -> tuple[list[FileInfo], list[FileInfo]]:
        files = self._files
        every = sorted([*map(files.info, files.rows()), *new], key=_name)
        total = sum(info.bytes for info in every)
        gone = []
        for info in every[:-1]:  # the newest file stays, even alone larger than the cap
            if total <= cap:
                break
            if info.name not in pinned:
                gone.append(info)
                total -= info.bytes
        fresh = {info.name for info in new}
        return [i for i in gone if i.name not in fresh], [i for i in gone if i.name in fresh]

    def highest(self) -> int | None:
        """The largest id or file name recorded (ids handed out later must exceed it)."""
        with self.lock:
            f = self._files
            rows = f.rows()
            return max((max(f.max_ids[i], f.names[i]) for i in rows), default=None)

    def refresh(self) -> None:
        """Apply lines appended (by any process) since the last refresh."""
        with self.lock:
            try:
                fd = open_regular(self.path)  # a link or a FIFO in its place: NotRegular, never followed
            except FileNotFoundError:
                return
            try:
                st = os.fstat(fd)
                if st.st_ino != self._inode:  # rewritten by a compaction: start over
                    self._files = _Columns()
                    self.added = array("q")
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
            fresh = None
            if epoch == self.epoch:
                fresh = [info for info in map(self._files_get, self.added[position:]) if info is not None]
            return fresh, (self.epoch, len(self.added))

    def reconcile(self, names_on_disk: Iterable[int]) -> list[int]:
        """Drop entries whose files are gone; return the names on disk that have no entry, sorted.

        The listing is consumed as it comes: a job of 200k files costs a bisect per name, not a set
        of every name (it runs every half minute in each follower).
        """
        with self.lock:
            files = self._files
            seen = bytearray(len(files.names))
            found, missing = 0, []
            for name in names_on_disk:
                i = files.find(name)
                if i is None:
                    missing.append(name)
                else:
                    seen[i] = 1
                    found += 1
            if found < files.live:
                live = _Columns._LIVE
                gone = [files.names[i] for i, flag in enumerate(files.flags) if flag & live and not seen[i]]
                for name in gone:
                    files.drop(name)
            return sorted(missing)

    def newer_than(self, name: int) -> tuple[int, int]:
        """Files and objects recorded with names above ``name`` (a follower's backlog)."""
        with self.lock:
            f = self._files
            start = bisect_right(f.names, name)
            live = _Columns._LIVE
            rows = [i for i in range(start, len(f.names)) if f.flags[i] & live]
            return len(rows), sum(f.objects[i] for i in rows)

    def add(self, infos: Iterable[FileInfo]) -> None:
        """Record new files, here and in the index file."""
        infos = list(infos)
        if infos:
            with self.lock:
                for info in infos:
                    if self._files.put(*info.fields()):
                        self.added.append(info.name)
                self._append(b"".join(info.line() for info in infos))

    def remove(self, names: Iterable[int]) -> None:
        """Record that files are gone (deleted by retention, or quarantined)."""
        names = list(names)
        if names:
            with self.lock:
                for name in names:
                    self._files.drop(name)
                self._dead_lines += 2 * len(names)
                self._append(b"".join(b"- %d\n" % name for name in names))
                if self._dead_lines > max(1000, len(self._files)):
                    self.compact()

    def compact(self) -> None:
        """Rewrite the index with live entries only."""
        with self.lock, open(open_regular(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self.refresh()
                atomic_write(self.path, b"".join(info.line() for info in self.infos()))
                self._inode = os.stat(self.path).st_ino
                self._offset = os.stat(self.path).st_size
                self._dead_lines = 0
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _files_get(self, name: int) -> FileInfo | None:
        i = self._files.find(name)
        return None if i is None else self._files.info(i)

    def _append(self, data: bytes) -> None:
        try:
            self._append_locked(data)
        except OSError:
            pass  # a full disk: the index is a cache; the folder listing re-indexes what it misses

    def _append_locked(self, data: bytes) -> None:
        for _ in range(3):  # retry if a compaction swapped the file between open and lock
            fd = open_regular(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
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
        put, drop, added = self._files.put, self._files.drop, self.added
        for line in raw.split(b"\n"):
            parts = line.split()
            try:
                sha = ""
                if parts and len(parts[-1]) == 65 and parts[-1][:1] == b"h":  # the hash, last when present
                    sha = parts.pop()[1:].decode()
                    bytes.fromhex(sha)
                if len(parts) in (7, 9) and parts[0] == b"+":
                    name, lo, hi, count, size, is_sorted, *written = map(int, parts[1:])
                    if put(name, lo, hi, count, size, bool(is_sorted), sha, *written):
                        added.append(name)
                elif len(parts) == 2 and parts[0] == b"-":
                    drop(int(parts[1]))
                    self._dead_lines += 2
            except (ValueError, OverflowError):
                continue  # a damaged line: the folder listing will re-index that file


_NO_DIGEST = bytes(32)


def _name(info: FileInfo) -> int:
    return info.name


def _fitting(files: list[FileInfo], cap: int) -> int:
    """How many of ``files`` (in name order), counted from the newest, fit in ``cap`` bytes; at least one."""
    total = 0
    for n, info in enumerate(reversed(files)):
        total += info.bytes
        if total > cap:
            return max(n, 1)
    return len(files)


def _inode_or_none(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None
