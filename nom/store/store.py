"""The NOM file store: Nectar's durable log. ``Store`` is the facade every other package uses.

Layout under the root (``NOM_ROOT``)::

    <jobId>/<ns>.json         data: one JSON array of NOM objects per file;
                              <ns> is the write time in ns, so names sort in time order
    <jobId>/index             what each data file holds (see nom.store.index); a cache
    <jobId>/clock             the job's id clock (see nom.store.clock)
    <jobId>/<name>.json       metadata and checkpoints: names that are not all digits
    <jobId>/quarantine/       files that could not be read, with ``log`` saying why
    <jobId>/snapshots/        snapshot records (nom.store.snapshots); ``inputs/`` those applies recorded
    <jobId>/retention.lock    flock'ed while retention deletes and while a snapshot is made (nom.store.folders)
    <jobId>/.tmp-<pid>-<ns>   temp files where the filesystem has no O_TMPFILE (see nom.store.commit.files);
                              never read, removed when their writer is gone

Contract (tests/test_store_contract.py checks every point):

- ``commit``/``append`` return only when the files are durable: data synced,
  linked into place, folder synced. A reader or a restart sees a whole file
  or none. Group commit: one ``commit`` of many arrays costs one filesystem
  sync and one folder sync per job, not one per file (nom.store.commit).
- ``scan(job, from_id, to_id)`` yields objects with ids in the inclusive range,
  in id order, opening only files whose indexed id range overlaps it.
- A file that cannot be parsed, is not an array, or holds objects without a
  valid id/type is moved to ``quarantine/``, logged and reported by the scan;
  the rest of the job stays readable.
- Retention: with a ``max_size`` (per job, else the store's default), the
  newest files whose total size fits are kept and older ones deleted, before
  new files land, so a job never holds more than its cap, at any moment a
  reader can see (unless its newest file alone is larger: the newest file is
  always kept). Files a kept snapshot holds are never deleted by retention (unless forced, which marks
  the snapshot evicted); their bytes count against the cap. Retention deletes data by design, acknowledged data too: a
  commit whose own files exceed the cap links only its newest files that fit;
  the others are acknowledged (their ``FileInfo`` returned, as for any stored
  file) but never linked, as if retention had deleted them at once. (A cap
  lowered while a writer is linking a group counts only what is recorded: the
  job may hold that group beside what fits until the writer's next group.)
- Only regular files and real folders are taken: nothing is ever followed,
  read, written or moved through a symbolic link (see nom.store.nofollow), and no
  FIFO can make a reader wait. A data name (``<digits>.json``) that is a link,
  FIFO, folder or device is quarantined like a bad file (the link itself is
  moved, never its target); a job folder that is a link is left out of
  ``jobs()`` and refused (NomError, field ``jobId``) when named; a link or
  special file in place of ``index``, ``clock``, ``quarantine/`` or a metadata
  file is refused with a NotRegular error naming it.
- Job ids are checked (nom.model.check_job_id) before anything touches the disk.

The job folders themselves (indexes, clocks, metadata, retention, quarantine) are the lower layer,
nom.store.folders.JobFolders, which Store extends with committing (in this thread, or through a
writer) and reading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import orjson

from nom.store.commit import open_writer
from nom.store.commit.arrays import Encoded, Objects
from nom.store.commit.steps import Arrays, GroupCommit
from nom.store.commit.writer import Writer
from nom.store.folders import JobFolders, Quarantined
from nom.store.index import FileInfo
from nom.store.nofollow import is_real_folder, read_regular
from nom.store.scan import Scan

__all__ = ["Quarantined", "Store", "Usage"]


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


class Store(JobFolders):
    """The store under one root folder. Safe to share between threads; several processes may write one job."""

    def __init__(self, root: str | os.PathLike[str], *, default_max_size: int | None = None,
                 sync: str = "syncfs") -> None:
        """Open (and create) the store at ``root``; ``sync`` is "syncfs" (group), "fsync" (per file) or "none"."""
        super().__init__(root, default_max_size=default_max_size, sync=sync)
        self._commit = GroupCommit(self)

    # -- writing ------------------------------------------------------------

    def append(self, job: str, objects: Objects) -> FileInfo:
        """Store one array durably; return its file."""
        return self.commit([(job, objects)])[0]

    def commit(self, arrays: Arrays) -> list[FileInfo]:
        """Store many arrays (of any jobs) as one group: one sync for all. Returns when all are durable.

        Each entry is ``(job, objects)`` or ``(job, objects, encoded)`` where ``encoded`` is
        ``orjson.dumps(objects)`` made by a caller that needs the bytes too (to publish them).
        """
        return self._commit.run(arrays)

    def encode(self, objects: Objects | Encoded, raw: bytes | None = None) -> Encoded:
        """Check an array and encode it in id order (``raw``: its encoding, when the caller made it already)."""
        return self._commit.encode(objects, raw)

    def writer(self, kind: str = "auto", **options: Any) -> Writer:
        """A writer that commits this store's arrays in groups while its producer goes on: "thread",
        "process" or "auto" (see nom.store.commit.open_writer)."""
        return open_writer(self, kind, **options)

    # -- reading ------------------------------------------------------------

    def files(self, job: str, from_id: int | None = None, to_id: int | None = None, *,
              report: list[Quarantined] | None = None, reconcile: bool = True) -> list[FileInfo]:
        """The job's data files that can hold ids in the range, in name order.

        With ``reconcile`` (the default) the index is first checked against the folder listing, and
        files found unreadable are quarantined and appended to ``report``; without it only the index's
        new lines are read, which stays cheap however many files the job has (for followers that poll).
        """
        index = self.reconciled(job, report) if reconcile else self.index(job)
        return index.overlapping(from_id, to_id)

    def new_files(self, job: str, cursor: tuple[int, int] | None) -> tuple[list[FileInfo], tuple[int, int]]:
        """Files of ``job`` learnt since ``cursor`` (all of them for None), cheaply, and the next cursor."""
        fresh, after = self.index(job).added_since(cursor or (-1, 0))
        if fresh is None:
            return self.files(job, reconcile=False), after
        return fresh, after

    def files_after(self, job: str, after: int | None, limit: int = 1000) -> list[FileInfo]:
        """At most ``limit`` data files of ``job`` named above ``after`` (None: from the oldest), in name order,
        from the index's new lines (cheap however many files the job has): how a client pages through a job's
        files, or polls for new ones, with the last name it saw as its offset."""
        return self.index(job).after(-1 if after is None else after, limit)

    def newest_file(self, job: str) -> FileInfo | None:
        """The newest data file of ``job``, or None when it has none."""
        return self.index(job).newest()

    def scan(self, job: str, from_id: int | None = None, to_id: int | None = None) -> Scan:
        """Iterate the job's objects with ids in ``[from_id, to_id]`` in id order."""
        report: list[Quarantined] = []
        files = self.files(job, from_id, to_id, report=report)
        return Scan(self, job, from_id, to_id, files, quarantined=report)

    def reconcile(self, job: str, report: list[Quarantined] | None = None) -> None:
        """Check the job's index against its folder: files written by hand (or whose index line was
        lost) are read and indexed, files gone are dropped; unreadable files are quarantined."""
        self.reconciled(job, report)

    def backlog(self, job: str, after: int) -> tuple[int, int]:
        """Files and objects of ``job`` named above ``after`` (a follower's watermark), from the index."""
        return self.index(job).newer_than(after)

    def spans(self, job: str) -> dict[str, list[int | None]]:
        """The oldest and newest times of ``job``'s objects by each clock (nom.written): ``collected`` from
        their ids, ``written`` from the files' recorded bounds (None where none are recorded)."""
        index = self.reconciled(job)
        _, _, _, oldest, newest = index.totals()
        return {"written": list(index.written_span()), "collected": [oldest, newest]}

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
        index = self.reconciled(job)
        files, objects, size, oldest, newest = index.totals()
        qdir = self.job_dir(job) / "quarantine"
        real = qdir.is_dir() and not qdir.is_symlink()  # a link there is refused when a file is quarantined
        quarantined = sum(1 for n in os.listdir(qdir) if n.endswith(".json")) if real else 0
        return Usage(job=job, files=files, objects=objects, bytes=size, oldest_id=oldest, newest_id=newest,
                     max_size=self.max_size(job), quarantined=quarantined)
