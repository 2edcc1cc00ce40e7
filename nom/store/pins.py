"""Which data files a job's kept snapshots hold: retention must never delete them (issue 20).

Snapshots (nom.store.snapshots) are records under ``NOM_ROOT/<jobId>/snapshots/<id>.json``. Retention runs
once a commit group for a capped job, so the pinned names are read from those records only when the folder
changed (its mtime and inode: every record is written by an atomic rename into it), and kept in memory
otherwise. This module sits below the job folders (nom.store.folders imports it) and reads the records
itself, so that the snapshots module can be built on the job folders.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from nom.store.durable import atomic_write
from nom.store.nofollow import is_real_folder, read_regular

__all__ = ["SNAPSHOT_DIR", "PinSet", "Pins", "file_number", "mark_evicted"]

SNAPSHOT_DIR = "snapshots"


def file_number(filename: str) -> int:
    """The name (write time in ns) of a data file named ``<ns>.json``."""
    return int(filename[:-5])


@dataclass(frozen=True)
class PinSet:
    """The files that kept snapshots hold: by file name, the ids of the snapshots that hold it."""

    holders: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.holders)

    def __contains__(self, name: int) -> bool:
        return name in self.holders


class Pins:
    """The pinned files of each job folder, read again only when its snapshots folder changed."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[int, int], PinSet]] = {}
        self._lock = threading.Lock()

    def of(self, folder: Path) -> PinSet:
        """The files pinned in job folder ``folder`` (an empty set when it has no snapshots)."""
        sdir = folder / SNAPSHOT_DIR
        try:
            st = os.stat(sdir, follow_symlinks=False)
        except FileNotFoundError:
            return PinSet()
        key = (st.st_mtime_ns, st.st_ino)
        with self._lock:
            cached = self._cache.get(str(folder))
        if cached is not None and cached[0] == key:
            return cached[1]
        pins = _read(sdir)
        with self._lock:
            self._cache[str(folder)] = (key, pins)
        return pins

    def forget(self, folder: Path) -> None:
        """Drop what is cached for ``folder`` (its records changed within one mtime tick)."""
        with self._lock:
            self._cache.pop(str(folder), None)


def _read(sdir: Path) -> PinSet:
    if not is_real_folder(sdir):
        return PinSet()
    holders: dict[int, list[str]] = {}
    for entry in sorted(os.listdir(sdir)):
        if not entry.endswith(".json") or entry.startswith("."):
            continue
        try:
            record = orjson.loads(read_regular(sdir / entry))
            if not record.get("kept", True):
                continue
            for item in record["manifest"]["files"]:
                holders.setdefault(file_number(item["name"]), []).append(record["id"])
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            continue  # a damaged record pins nothing; `show snapshots` reports it
    return PinSet({name: tuple(ids) for name, ids in holders.items()})


def mark_evicted(folder: Path, names: list[int]) -> list[str]:
    """Record in every snapshot of job folder ``folder`` that holds one of ``names`` (files deleted by a forced
    retention) that they are evicted; returns the ids of the snapshots marked."""
    sdir = folder / SNAPSHOT_DIR
    gone = set(names)
    marked = []
    if not gone or not is_real_folder(sdir):
        return marked
    for entry in sorted(os.listdir(sdir)):
        if not entry.endswith(".json") or entry.startswith("."):
            continue
        try:
            record = orjson.loads(read_regular(sdir / entry))
            held = {item["name"] for item in record["manifest"]["files"] if file_number(item["name"]) in gone}
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            continue
        if held:
            record["evicted"] = sorted(set(record.get("evicted", [])) | held)
            atomic_write(sdir / entry, orjson.dumps(record))
            marked.append(record["id"])
    return marked
