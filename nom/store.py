"""The NOM file store: Nectar's durable log.

Layout under the root (``NOM_ROOT``)::

    <jobId>/<ns>.json         data: one JSON array of NOM objects per file;
                              <ns> is the write time in ns, so names sort in time order
    <jobId>/index             what each data file holds (see nom.index); a cache
    <jobId>/clock             the job's id clock (see nom.ids)
    <jobId>/<name>.json       metadata and checkpoints: names that are not all digits
    <jobId>/quarantine/       files that could not be read, with ``log`` saying why
    <jobId>/.tmp-<pid>-<ns>   writes in flight where the filesystem has no O_TMPFILE (see nom.inflight);
                              never read, removed when their writer is gone

Contract (tests/test_store_contract.py checks every point):

- ``commit``/``append`` return only when the files are durable: data synced,
  renamed into place, folder synced. A reader or a restart sees a whole file
  or none. Group commit: one ``commit`` of many arrays costs one filesystem
  sync and one folder sync per job, not one per file.
- ``scan(job, from_id, to_id)`` yields objects with ids in the inclusive range,
  in id order, opening only files whose indexed id range overlaps it.
- A file that cannot be parsed, is not an array, or holds objects without a
  valid id/type is moved to ``quarantine/``, logged and reported by the scan;
  the rest of the job stays readable.
- Retention: with a ``max_size`` (per job, else the store's default), the
  newest files whose total size fits are kept and older ones deleted, before
  new files land, so a job never holds more than its cap, at any moment a
  reader can see (unless its newest file alone is larger: the newest file is
  always kept). Retention deletes data by design, acknowledged data too: a
  commit whose own files exceed the cap places only its newest files that fit;
  the others are acknowledged (their ``FileInfo`` returned, as for any stored
  file) but never placed, as if retention had deleted them at once. (A cap
  lowered while a writer is placing a group counts only what is recorded: the
  job may hold that group beside what fits until the writer's next group.)
- Only regular files and real folders are taken: nothing is ever followed,
  read, written or moved through a symbolic link (see nom.nofollow), and no
  FIFO can make a reader wait. A data name (``<digits>.json``) that is a link,
  FIFO, folder or device is quarantined like a bad file (the link itself is
  moved, never its target); a job folder that is a link is left out of
  ``jobs()`` and refused (NomError, field ``jobId``) when named; a link or
  special file in place of ``index``, ``clock``, ``quarantine/`` or a metadata
  file is refused with a NotRegular error naming it.
- Job ids are checked (nom.model.check_job_id) before anything touches the disk.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from nom.arrays import ArrayChecker, Encoded, Objects
from nom.durable import atomic_write, fsync_dir, syncfs
from nom.errors import CorruptFile, NomError, StoreError
from nom.ids import IdClock
from nom.index import FileInfo, JobIndex, is_data_name
from nom.inflight import InFlight, place_group, remove_orphans, write_group
from nom.model import check_job_id, check_object
from nom.nofollow import is_real_folder, open_regular, read_regular
from nom.scan import Scan

__all__ = ["Store", "Scan", "Usage", "Quarantined"]

_META_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


@dataclass(frozen=True, slots=True)
class Usage:
    """What one job holds, from the index (no data file is opened)."""

    job: str
    files: int
    objects: int
    bytes: int
    oldest_id: int | None
    newest_id: int | None
    max_size: int | None
    quarantined: int


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A file moved aside, and why."""

    job: str
    filename: str
    reason: str


class Store:
    """The store under one root folder. Safe to share between threads; several processes may write one job."""

    def __init__(self, root: str | Path, *, default_max_size: int | None = None, sync: str = "syncfs") -> None:
        """Open (and create) the store at ``root``; ``sync`` is "syncfs" (group), "fsync" (per file) or "none"."""
        if sync not in ("syncfs", "fsync", "none"):
            raise ValueError(f"sync must be 'syncfs', 'fsync' or 'none', got {sync!r}")
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.default_max_size = default_max_size
        self.sync = sync
        self._indexes: dict[str, JobIndex] = {}
        self._clocks: dict[str, IdClock] = {}
        self._lock = threading.RLock()
        self._arrays = ArrayChecker()
        self._folders: dict[str, str] = {}

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
        from nom.model import is_job_id

        return sorted(e.name for e in os.scandir(self.root) if e.is_dir(follow_symlinks=False) and is_job_id(e.name))

    def _folder(self, job: str) -> str:
        """The folder of ``job`` as a string, after checking the id (cached: hot paths call it per file)."""
        folder = self._folders.get(job)
        if folder is None:
            folder = self._folders[job] = str(self.job_dir(job))
        return folder

    def exists(self, job: str) -> bool:
        """True when ``job`` has a folder in the store."""
        return self.job_dir(job).is_dir()

    def clock(self, job: str) -> IdClock:
        """The id clock of ``job``, shared with every process writing it."""
        with self._lock:
            clock = self._clocks.get(job)
            if clock is None:
                index = self._index(job, create=True)
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

    # -- writing ------------------------------------------------------------

    def append(self, job: str, objects: Objects) -> FileInfo:
        """Store one array durably; return its file."""
        return self.commit([(job, objects)])[0]

    def commit(self, arrays: Sequence[tuple[str, Objects] | tuple[str, Objects, bytes]]) -> list[FileInfo]:
        """Store many arrays (of any jobs) as one group: one sync for all. Returns when all are durable.

        Each entry is ``(job, objects)`` or ``(job, objects, encoded)`` where ``encoded`` is
        ``orjson.dumps(objects)`` made by a caller that needs the bytes too (to publish them).
        The steps (write, sync data, name, sync folders) are also offered one by one, so that
        GroupWriter can overlap one group's writing with the previous group's sync.
        """
        if not arrays:
            return []
        prepared = self.prepare(arrays)
        self.sync_data()
        self.publish(prepared)
        self.sync_names(prepared)
        return self.indexed(prepared)

    def prepare(self, arrays: Sequence[tuple[str, Objects | Encoded] | tuple[str, Objects, bytes]]
                ) -> list[InFlight]:
        """Write each array to an in-flight file (not visible to readers yet)."""
        entries: list[tuple[str, str, FileInfo, bytes]] = []
        folders: dict[str, str] = {}
        names: dict[str, Iterator[int]] = {}
        try:
            for n, (job, objects, *encoded) in enumerate(arrays):
                folder = folders.get(job)
                if folder is None:  # once per job and group: the index's refresh and the clock cost syscalls
                    folder = folders[job] = str(self._index(job, create=True).folder)
                    names[job] = iter(self.new_ids(job, sum(1 for entry in arrays if entry[0] == job)))
                try:
                    array = self.encode(objects, encoded[0] if encoded else None)
                except NomError as exc:
                    raise NomError(f"arrays[{n}]: {exc}" if len(arrays) > 1 else str(exc), field=exc.field) from None
                info = FileInfo(next(names[job]), array.first_id, array.last_id, array.count, len(array.raw))
                entries.append((job, folder, info, array.raw))
            return write_group(entries, datasync=self.sync == "fsync")  # all written, or none left behind
        except OSError as exc:
            raise StoreError(exc.errno or errno.EIO, f"store write failed: {exc.strerror or exc}") from exc

    def sync_data(self) -> None:
        """Make written data durable (one syncfs for every in-flight file; per-file mode synced already)."""
        if self.sync == "syncfs":
            syncfs(self.root)

    def publish(self, prepared: list[InFlight]) -> None:
        """Make room under each job's cap, then put the synced in-flight files in place (those that fit)."""
        try:
            for job in sorted({item.job for item in prepared}):
                cap = self.max_size(job)
                if cap is not None:
                    items = [item for item in prepared if item.job == job]
                    dropped = self._retain(job, cap, [item.info for item in items])[1]
                    for item in items:
                        if item.info.name in dropped:  # never placed: older than what fits of its own group
                            item.dropped = True
                            item.discard()
            place_group(prepared)
        except OSError as exc:
            self.abandon(prepared)
            raise StoreError(exc.errno or errno.EIO, f"store write failed: {exc.strerror or exc}") from exc

    def sync_names(self, prepared: list[InFlight]) -> None:
        """Make the renames durable: fsync each job folder once."""
        if self.sync != "none":
            for folder in sorted({item.folder for item in prepared}):
                fsync_dir(folder)

    def indexed(self, prepared: list[InFlight]) -> list[FileInfo]:
        """Record the durable files in their jobs' indexes; returns them."""
        for job in {item.job for item in prepared}:
            self._index(job).add(item.info for item in prepared if item.job == job and not item.dropped)
        return [item.info for item in prepared]

    @staticmethod
    def abandon(prepared: list[InFlight]) -> None:
        """Drop in-flight files that will not be published."""
        for item in prepared:
            item.discard()

    def encode(self, objects: Objects | Encoded, raw: bytes | None = None) -> Encoded:
        """Check an array and encode it in id order (``raw``: its encoding, when the caller made it already)."""
        return self._arrays.encode(objects, raw)

    def check_array(self, objects: Objects) -> None:
        """Check an array's objects (NomError naming the first bad one); nothing is written."""
        if type(objects) is not Encoded:
            self._arrays.check(objects)

    def find_stored(self, job: str, array: Encoded) -> FileInfo | None:
        """The file that already holds exactly ``array`` (ids are never reused: a retried write), if any."""
        if not self.exists(job):
            return None
        for info in self._index(job).overlapping(array.first_id, array.last_id):
            if (info.min_id, info.max_id, info.objects) == (array.first_id, array.last_id, array.count):
                return info
        return None

    # -- reading ------------------------------------------------------------

    def files(self, job: str, from_id: int | None = None, to_id: int | None = None, *,
              report: list[Quarantined] | None = None, reconcile: bool = True) -> list[FileInfo]:
        """The job's data files that can hold ids in the range, in name order.

        With ``reconcile`` (the default) the index is first checked against the folder listing, and
        files found unreadable are quarantined and appended to ``report``; without it only the index's
        new lines are read, which stays cheap however many files the job has (for followers that poll).
        """
        index = self._reconciled(job, report) if reconcile else self._index(job)
        return index.overlapping(from_id, to_id)

    def new_files(self, job: str, cursor: tuple[int, int] | None) -> tuple[list[FileInfo], tuple[int, int]]:
        """Files of ``job`` learnt since ``cursor`` (all of them for None), cheaply, and the next cursor."""
        fresh, after = self._index(job).added_since(cursor or (-1, 0))
        if fresh is None:
            return self.files(job, reconcile=False), after
        return fresh, after

    def scan(self, job: str, from_id: int | None = None, to_id: int | None = None) -> Scan:
        """Iterate the job's objects with ids in ``[from_id, to_id]`` in id order."""
        report: list[Quarantined] = []
        files = self.files(job, from_id, to_id, report=report)
        return Scan(self, job, from_id, to_id, files, quarantined=report)

    def reconcile(self, job: str, report: list[Quarantined] | None = None) -> None:
        """Check the job's index against its folder: files written by hand (or whose index line was
        lost) are read and indexed, files gone are dropped; unreadable files are quarantined."""
        self._reconciled(job, report)

    def backlog(self, job: str, after: int) -> tuple[int, int]:
        """Files and objects of ``job`` named above ``after`` (a follower's watermark), from the index."""
        return self._index(job).newer_than(after)

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
                index = self._index(job)
                index.remove([info.name])
                index.add([self._describe(info.name, objs, len(raw))])
            return objs
        except FileNotFoundError:
            return []  # deleted by retention since the listing
        except (orjson.JSONDecodeError, NomError) as exc:
            reason = f"truncated or invalid JSON: {exc}" if isinstance(exc, orjson.JSONDecodeError) else str(exc)
            item = self.quarantine(job, info.name, reason)
            if report is not None and item is not None:
                report.append(item)
            return []

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
        self._index(job).remove([name])
        return Quarantined(job, filename, reason)

    def quarantined(self, job: str) -> list[Quarantined]:
        """Every file of ``job`` in quarantine, with its reason."""
        qdir = self.job_dir(job) / "quarantine"
        try:
            raw = read_regular(qdir / "log") if is_real_folder(qdir) else b""
        except FileNotFoundError:
            return []
        items = []
        for line in raw.splitlines():
            try:
                rec = orjson.loads(line)
                items.append(Quarantined(job, rec["file"], rec["reason"]))
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
        return items

    def usage(self, job: str) -> Usage:
        """Files, objects, bytes and id range of ``job``, from its index."""
        index = self._reconciled(job)
        files, objects, size, oldest, newest = index.totals()
        qdir = self.job_dir(job) / "quarantine"
        real = qdir.is_dir() and not qdir.is_symlink()  # a link there is refused when a file is quarantined
        quarantined = sum(1 for n in os.listdir(qdir) if n.endswith(".json")) if real else 0
        return Usage(
            job=job,
            files=files,
            objects=objects,
            bytes=size,
            oldest_id=oldest,
            newest_id=newest,
            max_size=self.max_size(job),
            quarantined=quarantined,
        )

    # -- retention ----------------------------------------------------------

    def max_size(self, job: str) -> int | None:
        """The retention cap of ``job`` in bytes (its own, else the store's default; None: no cap)."""
        meta = self.read_meta(job, "retention", None)
        if isinstance(meta, dict) and "max_size" in meta:
            return meta["max_size"]
        return self.default_max_size

    def set_max_size(self, job: str, max_size: int | None) -> list[FileInfo]:
        """Set the cap of ``job`` (None: back to the store's default) and apply it now; returns deleted files."""
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1):
            raise NomError(f"max_size must be a whole number of bytes >= 1, got {max_size!r}", field="max_size")
        self.job_dir(job, create=True)
        self.write_meta(job, "retention", {"max_size": max_size} if max_size is not None else {})
        return self.enforce_retention(job)

    def enforce_retention(self, job: str) -> list[FileInfo]:
        """Delete the oldest files until the rest fit the cap (the newest file always stays); returns them."""
        cap = self.max_size(job)
        return [] if cap is None else self._retain(job, cap, [])[0]

    def _retain(self, job: str, cap: int, new: list[FileInfo]) -> tuple[list[FileInfo], set[int]]:
        """Delete the job's files that do not fit under ``cap`` beside the ``new`` ones (a group about to be
        placed); returns them, and the names of the new ones that do not fit either (never to be placed)."""
        index = self._index(job)
        index.refresh()
        doomed, dropped = index.retention(cap, new)  # oldest first: a crash part-way leaves the newest
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

    # -- internals ----------------------------------------------------------

    def _index(self, job: str, *, create: bool = False) -> JobIndex:
        return self._index_built(job, create=create)[0]

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

    def _reconciled(self, job: str, report: list[Quarantined] | None = None) -> JobIndex:
        index, found = self._index_built(job)
        if found is None:
            self._reconcile(job, index, report)
        elif report is not None:
            report.extend(found)  # just built from a listing: no need to list the folder again
        return index

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
        return self._describe(name, objs, len(raw))

    @staticmethod
    def _describe(name: int, objs: list[dict[str, Any]], size: int) -> FileInfo:
        ids = [o["id"] for o in objs]
        return FileInfo(name, min(ids), max(ids), len(ids), size, all(a < b for a, b in zip(ids, ids[1:])))


def _check_all(objs: list[Any]) -> None:
    for i, obj in enumerate(objs):
        check_object(obj, where=f"object {i}")


def _check_meta_name(name: str) -> str:
    if not name or name.isdigit() or not set(name) <= _META_OK or name.startswith(".") or name == "index":
        raise NomError(f"metadata name must be lower-case letters, digits, '-', '_' or '.', "
                       f"not all digits, got {name!r}", field="name")
    return name
