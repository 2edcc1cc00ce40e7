"""The job folders of a store root: their indexes, id clocks, metadata, retention, quarantine, and one file read.

This is the store's lower layer, shared by the commit pipeline (nom.store.commit), which writes into the
folders, and by the facade (nom.store.store.Store), which adds committing and reading to it. Each job's
index is built once per process from the folder listing (files with no index line are read and
indexed, unreadable ones quarantined, orphans of dead writers removed) and then kept up to date from
the index file (see nom.store.index).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from nom.errors import CorruptFile, NomError, StoreError
from nom.model import check_job_id, check_object, is_job_id
from nom.store.clock import IdClock
from nom.store.durable import atomic_write, fsync_dir, remove_orphans
from nom.store.index import FileInfo, JobIndex, is_data_name
from nom.store.nofollow import is_real_folder, open_regular, read_regular
from nom.store.pins import Pins, PinSet, mark_evicted
from nom.written import written_bounds, written_of_data

__all__ = ["SYNC_MODES", "JobFolders", "Quarantined"]

SYNC_MODES = ("syncfs", "fsync", "none")
_META_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A file moved aside, and why."""

    job: str
    filename: str
    reason: str


class JobFolders:
    """The job folders under one root. Safe to share between threads; several processes may write one job."""

    def __init__(self, root: str | Path, *, default_max_size: int | None = None, sync: str = "syncfs") -> None:
        """Open (and create) the root; ``sync`` is how commits make files durable: "syncfs" (once a group),
        "fsync" (each file) or "none"."""
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be 'syncfs', 'fsync' or 'none', got {sync!r}")
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.default_max_size = default_max_size
        self.sync = sync
        self._indexes: dict[str, JobIndex] = {}
        self._clocks: dict[str, IdClock] = {}
        self._lock = threading.RLock()
        self._folders: dict[str, str] = {}
        self.pins = Pins()

    # -- jobs ---------------------------------------------------------------

    def job_dir(self, job: str, *, create: bool = False) -> Path:
        """The folder of ``job``, after checking the id; a symbolic link in its place is refused (NomError)."""
        folder = self.root / check_job_id(job)
        if os.path.islink(folder):
            raise NomError(f"job {job!r}: {folder} is a symbolic link: the store never follows links out of its "
                           f"root; move it out of the store or replace it with a folder", field="jobId")
        if create:
            folder.mkdir(exist_ok=True)
        return folder

    def jobs(self) -> list[str]:
        """Every job in the store, sorted."""
        return sorted(e.name for e in os.scandir(self.root) if e.is_dir(follow_symlinks=False) and is_job_id(e.name))

    def exists(self, job: str) -> bool:
        """True when ``job`` has a folder in the store."""
        return self.job_dir(job).is_dir()

    def clock(self, job: str) -> IdClock:
        """The id clock of ``job``, shared with every process writing it."""
        with self._lock:
            clock = self._clocks.get(job)
            if clock is None:
                index = self.index(job, create=True)
                clock = IdClock(self.job_dir(job) / "clock")
                highest = index.highest()
                if highest is not None:
                    clock.observe(highest)
                self._clocks[job] = clock
            return clock

    def release(self, job: str) -> None:
        """Close ``job``'s id clock and forget its index (its files stay; both come back when next used): a
        collector calls this when a job stops, so that a stopped job holds no file descriptor."""
        with self._lock:
            clock = self._clocks.pop(job, None)
            self._indexes.pop(job, None)
            self._folders.pop(job, None)
        if clock is not None:
            clock.close()

    def new_ids(self, job: str, count: int) -> range:
        """Reserve ``count`` new object ids for ``job``."""
        start = self.clock(job).take(count)
        return range(start, start + count)

    # -- one file -----------------------------------------------------------

    def read_bytes(self, job: str, info: FileInfo) -> bytes:
        """The bytes of one data file, unchecked (OSError when it is gone; NotRegular for a link or a FIFO)."""
        return read_regular(f"{self._folder(job)}/{info.name}.json")

    def read_file(self, job: str, info: FileInfo, *, report: list[Quarantined] | None = None) -> list[dict[str, Any]]:
        """The objects of one data file; a bad file is quarantined (and added to ``report``) and reads as []."""
        path = f"{self._folder(job)}/{info.name}.json"  # a string: pathlib costs more than the read per file
        try:
            raw = read_regular(path)
            objs = orjson.loads(raw)
            if type(objs) is not list:
                raise CorruptFile(f"not a JSON array but {type(objs).__name__}")
            if len(objs) != info.objects:  # replaced behind the index's back: check it whole, then re-index
                _check_all(objs)
                index = self.index(job)
                index.remove([info.name])
                index.add([_describe(info.name, objs, raw)])
            return objs
        except FileNotFoundError:
            return []  # deleted by retention since the listing
        except (orjson.JSONDecodeError, NomError) as exc:
            reason = f"truncated or invalid JSON: {exc}" if isinstance(exc, orjson.JSONDecodeError) else str(exc)
            item = self.quarantine(job, info.name, reason)
            if report is not None and item is not None:
                report.append(item)
            return []

    def file_sha256(self, job: str, info: FileInfo) -> str:
        """The SHA-256 of a data file: from the index, or (a file indexed before hashes were recorded) read and
        hashed once, then recorded in the index so that no one reads it for that again (OSError when gone)."""
        if info.sha256:
            return info.sha256
        index = self.index(job)
        known = index.get(info.name)
        if known is not None and known.sha256:
            return known.sha256
        raw = self.read_bytes(job, info)
        digest = hashlib.sha256(raw).hexdigest()
        if known is not None and known.bytes == len(raw):
            index.add([replace(known, sha256=digest)])
        return digest

    def with_hashes(self, job: str, infos: list[FileInfo]) -> list[FileInfo]:
        """``infos`` with every SHA-256 filled in (``file_sha256`` for those the index has none for)."""
        return [info if info.sha256 else replace(info, sha256=self.file_sha256(job, info)) for info in infos]

    def quarantine(self, job: str, name: int, reason: str) -> Quarantined | None:
        """Move a data file aside into ``quarantine/`` and log why."""
        folder = self.job_dir(job)
        qdir = folder / "quarantine"
        if not is_real_folder(qdir):  # a link in its place is refused: nothing is moved out of the store
            qdir.mkdir(exist_ok=True)
        filename = f"{name}.json"
        try:
            os.rename(folder / filename, qdir / filename)
        except FileNotFoundError:
            return None  # another reader moved it first
        line = orjson.dumps({"file": filename, "reason": reason, "time": time.time_ns()}) + b"\n"
        with open(open_regular(qdir / "log", os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab") as fh:
            fh.write(line)
        fsync_dir(folder)
        self.index(job).remove([name])
        return Quarantined(job, filename, reason)

    # -- retention ----------------------------------------------------------

    def max_size(self, job: str) -> int | None:
        """The retention cap of ``job`` in bytes (its own, else the store's default; None: no cap)."""
        meta = self.read_meta(job, "retention", None)
        if isinstance(meta, dict) and "max_size" in meta:
            return meta["max_size"]
        return self.default_max_size

    def retention_preview(self, job: str, max_size: int | None) -> list[FileInfo]:
        """The files a cap of ``max_size`` (None: the store's default) would delete now, deleting nothing."""
        cap = self.default_max_size if max_size is None else max_size
        if cap is None:
            return []
        index = self.reconciled(job)
        pins = self.pins.of(index.folder)
        return index.retention(cap, (), pins or None)[0]

    def set_max_size(self, job: str, max_size: int | None, *, force: bool = False) -> list[FileInfo]:
        """Set the cap of ``job`` (None: back to the store's default) and apply it now; returns deleted files
        (``force``: pinned ones too, see ``enforce_retention``)."""
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1):
            raise NomError(f"max_size must be a whole number of bytes >= 1, got {max_size!r}", field="max_size")
        self.job_dir(job, create=True)
        self.write_meta(job, "retention", {"max_size": max_size} if max_size is not None else {})
        return self.enforce_retention(job, force=force)

    def enforce_retention(self, job: str, *, force: bool = False) -> list[FileInfo]:
        """Delete the oldest files until the rest fit the cap (the newest file always stays); returns them.
        Files a kept snapshot holds stay, unless ``force``: then they go too and their snapshots are marked
        evicted (nom.store.snapshots)."""
        cap = self.max_size(job)
        return [] if cap is None else self.retain(job, cap, [], force=force)[0]

    def pinned(self, job: str) -> PinSet:
        """The files of ``job`` that its kept snapshots hold (retention never deletes them)."""
        return self.pins.of(self.job_dir(job))

    def retain(self, job: str, cap: int, new: list[FileInfo], *,
               force: bool = False) -> tuple[list[FileInfo], set[int]]:
        """Delete the job's files that do not fit under ``cap`` beside the ``new`` ones (a group about to be
        linked); returns them, and the names of the new ones that do not fit either (never to be linked).
        Pinned files (held by kept snapshots) are kept and counted, unless ``force``."""
        index = self.index(job)
        with self.retention_lock(job):
            return self._retain(index, cap, new, force)

    @contextmanager
    def retention_lock(self, job: str) -> Iterator[None]:
        """Hold ``<job>/retention.lock`` (flock, across processes): retention decides and deletes under it, and
        a snapshot reads the index and writes its record under it, so that no file a new snapshot holds is
        deleted by a retention that had not seen the snapshot yet."""
        fd = open_regular(self.job_dir(job) / "retention.lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _retain(self, index: JobIndex, cap: int, new: list[FileInfo],
                force: bool) -> tuple[list[FileInfo], set[int]]:
        index.refresh()
        pins = self.pins.of(index.folder)
        # oldest first: a crash part-way leaves the newest
        doomed, dropped = index.retention(cap, new, None if force or not pins else pins)
        if force and pins and doomed:
            mark_evicted(index.folder, [info.name for info in doomed if info.name in pins])
            self.pins.forget(index.folder)
        if doomed:
            folder = index.folder
            for info in doomed:
                try:
                    os.unlink(folder / info.filename)
                except FileNotFoundError:
                    pass
            fsync_dir(folder)
            index.remove(info.name for info in doomed)
        return doomed, {info.name for info in dropped}

    # -- metadata -----------------------------------------------------------

    def write_meta(self, job: str, name: str, value: Any) -> None:
        """Durably replace the metadata record ``name`` of ``job`` (stored as ``<name>.json``)."""
        path = self.job_dir(job, create=True) / f"{_check_meta_name(name)}.json"
        atomic_write(path, orjson.dumps(value, option=orjson.OPT_INDENT_2))

    def read_meta(self, job: str, name: str, default: Any = None) -> Any:
        """The metadata record ``name`` of ``job``, or ``default`` when there is none."""
        path = self.job_dir(job) / f"{_check_meta_name(name)}.json"
        try:
            return orjson.loads(read_regular(path))
        except FileNotFoundError:
            return default
        except orjson.JSONDecodeError as exc:
            raise CorruptFile(f"{path}: metadata is not valid JSON: {exc}") from None

    # -- indexes ------------------------------------------------------------

    def index(self, job: str, *, create: bool = False) -> JobIndex:
        """The job's index, refreshed from its file (built from the folder listing the first time)."""
        return self._index_built(job, create=create)[0]

    def reconciled(self, job: str, report: list[Quarantined] | None = None) -> JobIndex:
        """The job's index, checked against the folder listing: files written by hand (or whose index line was
        lost) are read and indexed, files gone are dropped; unreadable files are quarantined (and reported)."""
        index, found = self._index_built(job)
        if found is None:
            self._reconcile(job, index, report)
        elif report is not None:
            report.extend(found)  # just built from a listing: no need to list the folder again
        return index

    def _folder(self, job: str) -> str:
        """The folder of ``job`` as a string, after checking the id (cached: hot paths call it per file)."""
        folder = self._folders.get(job)
        if folder is None:
            folder = self._folders[job] = str(self.job_dir(job))
        return folder

    def _index_built(self, job: str, *, create: bool = False) -> tuple[JobIndex, list[Quarantined] | None]:
        """The job's index, and what building it quarantined when this call built it (else None)."""
        found = None
        with self._lock:
            index = self._indexes.get(job)
            if index is None:
                folder = self.job_dir(job, create=create)
                if not folder.is_dir():
                    raise StoreError(errno.ENOENT, f"no job {job!r} in the store at {self.root}")
                index = JobIndex(folder)
                self._indexes[job] = index
                names = os.listdir(folder)  # one listing serves both: orphans out, unindexed files in
                remove_orphans(str(folder), names)
                found = []
                self._reconcile(job, index, found, names=names)
        index.refresh()
        return index, found

    def _reconcile(self, job: str, index: JobIndex, report: list[Quarantined] | None = None,
                   names: list[str] | None = None) -> None:
        index.refresh()
        listing = (entry.name for entry in os.scandir(index.folder)) if names is None else names
        missing = index.reconcile(int(n[:-5]) for n in listing if is_data_name(n))
        infos = []
        for name in missing:
            info = self._index_file(job, index.folder, name, report)
            if info is not None:
                infos.append(info)
        index.add(infos)

    def _index_file(self, job: str, folder: Path, name: int,
                    report: list[Quarantined] | None = None) -> FileInfo | None:
        """Read an unindexed file (a foreign one, or one whose index line was lost) and describe it."""
        path = folder / f"{name}.json"
        try:
            raw = read_regular(path)
            objs = orjson.loads(raw)
            if type(objs) is not list:
                raise CorruptFile(f"not a JSON array but {type(objs).__name__}")
            if not objs:
                raise CorruptFile("an empty array")
            _check_all(objs)
        except FileNotFoundError:
            return None
        except (orjson.JSONDecodeError, NomError) as exc:
            reason = f"truncated or invalid JSON: {exc}" if isinstance(exc, orjson.JSONDecodeError) else str(exc)
            item = self.quarantine(job, name, reason)
            if report is not None and item is not None:
                report.append(item)
            return None
        return _describe(name, objs, raw)


def _describe(name: int, objs: list[dict[str, Any]], raw: bytes) -> FileInfo:
    ids = [o["id"] for o in objs]
    written = written_bounds(ids, [written_of_data(o.get("data")) for o in objs])
    return FileInfo(name, min(ids), max(ids), len(ids), len(raw), all(a < b for a, b in zip(ids, ids[1:])),
                    hashlib.sha256(raw).hexdigest(), *written)


def _check_all(objs: list[Any]) -> None:
    for i, obj in enumerate(objs):
        check_object(obj, where=f"object {i}")


def _check_meta_name(name: str) -> str:
    if not name or name.isdigit() or not set(name) <= _META_OK or name.startswith(".") or name == "index":
        raise NomError(f"metadata name must be lower-case letters, digits, '-', '_' or '.', "
                       f"not all digits, got {name!r}", field="name")
    return name
