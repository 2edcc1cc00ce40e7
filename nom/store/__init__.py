"""The NOM file store: job folders of JSON arrays under NOM_ROOT, written crash-safe, read by id range.

What lives here:

- ``store.py``: ``Store``, the facade: commit and append arrays, scan a job by id range, files, usage,
  metadata, retention (its docstring is the store's contract).
- ``folders.py``: ``JobFolders``, the layer under it: job folders, their indexes, id clocks, metadata,
  retention, quarantine, and reading one file.
- ``fileinfo.py``: ``FileInfo``, one data file: name, id range, count, size, SHA-256, written bounds.
- ``index.py``: ``JobIndex``, the per-job index file of ``FileInfo`` lines, kept in memory as arrays.
- ``clock.py``: ``IdClock``, ids that never repeat and never go backwards, across processes and restarts.
- ``durable.py``: syncfs, folder fsync, atomic whole-file writes, and removing the temp files of dead writers.
- ``nofollow.py``: opening the store's files without following links or waiting on FIFOs.
- ``scan.py``: ``Scan``, a job's objects in id order, reporting what it quarantined.
- ``follow.py``: ``Follower``, each new file of a job once, for standing reductions.
- ``commit/``: the commit pipeline, from an array to a durable file, and the writers that run it in
  groups (see its own docstring).
- ``pins.py``: which files the kept snapshots of a job hold (retention never deletes them).
- ``snapshots.py``: ``Snapshots``, content-addressed manifests of a job's files (id = SHA-256 of the manifest),
  their diff, verify and drop.

A file's SHA-256 (issue 20) is kept with its ``FileInfo`` in the index, computed in the commit's write step
from the bytes it already holds.
"""

from __future__ import annotations

from nom.store.clock import IdClock
from nom.store.commit import (
    GROUPS_IN_C,
    MAX_GROUP,
    WRITER_KINDS,
    Encoded,
    GroupCommit,
    ThreadWriter,
    Writer,
    open_writer,
)
from nom.store.durable import atomic_write, fsync_dir
from nom.store.folders import JobFolders, Quarantined
from nom.store.follow import GRACE_NS, Follower
from nom.store.index import FileInfo, JobIndex, is_data_name
from nom.store.pins import SNAPSHOT_DIR, PinSet
from nom.store.scan import Scan
from nom.store.snapshots import Snapshot, Snapshots, canonical, manifest_id
from nom.store.store import Store, Usage

__all__ = [
    "SNAPSHOT_DIR",
    "GRACE_NS", "GROUPS_IN_C", "MAX_GROUP", "WRITER_KINDS", "Encoded", "FileInfo", "Follower", "GroupCommit",
    "IdClock", "JobFolders", "JobIndex", "PinSet", "Quarantined", "Scan", "Snapshot", "Snapshots", "Store",
    "ThreadWriter", "Usage", "Writer", "atomic_write", "canonical", "fsync_dir", "is_data_name", "manifest_id",
    "open_writer",
]
