"""Snapshots: a frozen, content-addressed set of a job's data files (issue 20).

A snapshot of a job over an id range names the files that hold the job's objects in that range, by a
canonical **manifest**: the format, the range (``from``/``to``, None = open), the id bounds of the files
(``firstId``/``lastId``), the parent snapshot (the job's newest kept snapshot when it was made) and the
files sorted by name, each ``{name, size, sha256, firstId, lastId, count}``. The manifest is encoded with
sorted keys and no spaces; the SHA-256 of those bytes is the snapshot's **id**, so the same files (and the
same parent and range) give the same id on every machine and after every restart.

Making one reads no data file: sizes, id ranges and hashes come from the job's index (a file's SHA-256 is
computed when it is written, nom.store.commit.steps; a file from before that is hashed once on first need).

Records live beside the job, ``NOM_ROOT/<jobId>/snapshots/<id>.json`` (``snapshots/inputs/<id>.json`` for
those an apply records of its inputs, the newest 64 of them kept): the manifest, a summary (files,
objects, bytes; files and objects added and files removed since the parent), the names given to it,
when it was made, whether it is **kept** (a kept snapshot pins its files: retention never deletes them,
nom.store.pins; the snapshots an apply records of its inputs are not kept) and the files a forced
deletion **evicted**. ``verify`` reads every file again and names those whose bytes changed or that are gone;
``diff`` lists the files added and removed between two snapshots.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from nom.errors import NomError, StoreError
from nom.store.durable import atomic_write
from nom.store.folders import JobFolders
from nom.store.index import FileInfo
from nom.store.nofollow import is_real_folder, read_regular
from nom.store.pins import SNAPSHOT_DIR, file_number

__all__ = ["FORMAT", "Snapshot", "Snapshots", "canonical", "manifest_id"]

FORMAT = "nectar.snapshot/1"
INPUTS_DIR = "inputs"  # snapshots/inputs/: the snapshots applies recorded of what they read (not kept)
MAX_UNKEPT = 64  # the snapshots applies record of their inputs, per job: the oldest beyond it are pruned
_ID = re.compile(r"[0-9a-f]{64}")
_REF = re.compile(r"[0-9a-f]{6,64}")
_NAME = re.compile(r"[A-Za-z][\w.-]{0,63}")


def canonical(manifest: dict[str, Any]) -> bytes:
    """The manifest's canonical bytes: sorted keys, no spaces (what the id is the SHA-256 of)."""
    return orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS)


def manifest_id(manifest: dict[str, Any]) -> str:
    """The id of a snapshot: the SHA-256 of its canonical manifest, in hex."""
    return hashlib.sha256(canonical(manifest)).hexdigest()


def check_manifest(manifest: Any) -> dict[str, Any]:
    """``manifest`` checked field by field (NomError naming the field); returned as is."""
    if not isinstance(manifest, dict):
        raise NomError(f"a manifest is a JSON object, not {type(manifest).__name__}", field="manifest")
    if manifest.get("format") != FORMAT:
        raise NomError(f"manifest format must be {FORMAT!r}, got {manifest.get('format')!r}", field="format")
    for key in ("from", "to", "firstId", "lastId"):
        value = manifest.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise NomError(f"manifest {key} must be a whole number or null, got {value!r}", field=key)
    parent = manifest.get("parent")
    if parent is not None and (not isinstance(parent, str) or not _ID.fullmatch(parent)):
        raise NomError(f"manifest parent must be a snapshot id (64 hex digits) or null, got {parent!r}", field="parent")
    files = manifest.get("files")
    if not isinstance(files, list):
        raise NomError("manifest files must be a list", field="files")
    previous = -1
    for n, item in enumerate(files):
        where = f"files[{n}]"
        if not isinstance(item, dict) or set(item) != {"name", "size", "sha256", "firstId", "lastId", "count"}:
            raise NomError(f"{where} must hold name, size, sha256, firstId, lastId and count", field=where)
        name = item["name"]
        if not isinstance(name, str) or not re.fullmatch(r"\d{1,19}\.json", name):
            raise NomError(f"{where}.name must be a data file name like 1700000000000000000.json, got {name!r}",
                           field=f"{where}.name")
        if file_number(name) <= previous:
            raise NomError(f"{where}.name: files must be sorted by name, without repeats", field=f"{where}.name")
        previous = file_number(name)
        if not isinstance(item["sha256"], str) or not _ID.fullmatch(item["sha256"]):
            raise NomError(f"{where}.sha256 must be 64 hex digits", field=f"{where}.sha256")
        for key in ("size", "firstId", "lastId", "count"):
            if isinstance(item[key], bool) or not isinstance(item[key], int) or item[key] < 0:
                raise NomError(f"{where}.{key} must be a whole number, got {item[key]!r}", field=f"{where}.{key}")
    return manifest


@dataclass
class Snapshot:
    """One snapshot record (see the module docstring)."""

    id: str
    job: str
    manifest: dict[str, Any]
    summary: dict[str, Any]
    names: list[str] = field(default_factory=list)
    kept: bool = True
    created: int = 0
    evicted: list[str] = field(default_factory=list)

    @property
    def short(self) -> str:
        """The id's first 12 hex digits (what the shell prints; any unique prefix of 6 or more names it)."""
        return self.id[:12]

    def files(self) -> list[FileInfo]:
        """The snapshot's files as the index describes them."""
        return [FileInfo(file_number(i["name"]), i["firstId"], i["lastId"], i["count"], i["size"], True, i["sha256"])
                for i in self.manifest["files"]]

    def record(self) -> dict[str, Any]:
        """The stored form."""
        return {"id": self.id, "job": self.job, "manifest": self.manifest, "summary": self.summary,
                "names": self.names, "kept": self.kept, "created": self.created, "evicted": self.evicted}

    @classmethod
    def from_record(cls, record: Any) -> Snapshot:
        """A snapshot from its stored form, its manifest checked and its id checked against the manifest."""
        if not isinstance(record, dict):
            raise NomError("a snapshot record is a JSON object", field="record")
        manifest = check_manifest(record.get("manifest"))
        computed = manifest_id(manifest)
        if record.get("id") != computed:
            raise NomError(f"snapshot record id {record.get('id')!r} is not the SHA-256 of its manifest "
                           f"({computed})", field="id")
        return cls(computed, str(record.get("job", "")), manifest, dict(record.get("summary") or {}),
                   list(record.get("names") or []), bool(record.get("kept", True)), int(record.get("created", 0)),
                   list(record.get("evicted") or []))

    def describe(self) -> dict[str, Any]:
        """What ``show snapshots`` prints of it (without the file list)."""
        m = self.manifest
        return {"id": self.id, "short": self.short, "job": self.job, "names": self.names, "kept": self.kept,
                "created": self.created, "from": m["from"], "to": m["to"], "firstId": m["firstId"],
                "lastId": m["lastId"], "parent": m["parent"], "evicted": len(self.evicted), **self.summary}


class Snapshots:
    """Making, listing, comparing, verifying and dropping the snapshots of the jobs of one store."""

    def __init__(self, folders: JobFolders) -> None:
        """Snapshots of the jobs in ``folders`` (a Store)."""
        self.folders = folders

    # -- making -------------------------------------------------------------

    def create(self, job: str, from_id: int | None = None, to_id: int | None = None, *, name: str | None = None,
               kept: bool = True, files: list[FileInfo] | None = None) -> Snapshot:
        """Freeze the files of ``job`` that hold objects in ``[from_id, to_id]`` (or exactly ``files``, the ones
        an apply reads); returns the snapshot (the existing one when the same manifest was made before)."""
        if name is not None and not _NAME.fullmatch(name):
            raise NomError(f"snapshot name must start with a letter and hold letters, digits, '_', '-' or '.' "
                           f"(at most 64), got {name!r}", field="name")
        if not kept:  # pins nothing: retention need not wait for it
            return self._create(job, from_id, to_id, name, kept, files)
        with self.folders.retention_lock(job):  # no retention deletes a file between the index and the record
            return self._create(job, from_id, to_id, name, kept, files)

    def _create(self, job: str, from_id: int | None, to_id: int | None, name: str | None, kept: bool,
                files: list[FileInfo] | None) -> Snapshot:
        if files is None:  # the index alone: no listing, no data file (but one never hashed is, once)
            index = self.folders.index(job)
            index.refresh()  # under the lock: what retention left
            rows = index.entries(from_id, to_id)
        else:
            rows = [(f.name, f.bytes, f.min_id, f.max_id, f.objects, f.sha256) for f in files]
        rows.sort()
        entries = [{"name": f"{name}.json", "size": size, "sha256": sha or self._hash(job, name), "firstId": lo,
                    "lastId": hi, "count": count} for name, size, lo, hi, count, sha in rows]
        kept_ones = self.list(job)
        parent = kept_ones[-1] if kept_ones else None
        manifest = {"format": FORMAT, "from": from_id, "to": to_id, "parent": parent.id if parent else None,
                    "firstId": min((r[2] for r in rows), default=None),
                    "lastId": max((r[3] for r in rows), default=None), "files": entries}
        snap_id = manifest_id(manifest)
        same = self._load(job, snap_id)
        if same is not None:  # the same manifest again: one record, with the new name (and kept if asked)
            if (name and name not in same.names) or (kept and not same.kept):
                if name and name not in same.names:
                    same.names.append(name)
                if kept and not same.kept:
                    self._path(same).unlink(missing_ok=True)
                    same.kept = True
                self._write(same)
            return same
        before = {i["name"] for i in parent.manifest["files"]} if parent else set()
        now = {i["name"] for i in manifest["files"]}
        added = [i for i in manifest["files"] if i["name"] not in before]
        summary = {"files": len(rows), "objects": sum(r[4] for r in rows),
                   "bytes": sum(r[1] for r in rows), "addedFiles": len(added),
                   "addedObjects": sum(i["count"] for i in added), "removedFiles": len(before - now)}
        snap = Snapshot(snap_id, job, manifest, summary, [name] if name else [], kept, time.time_ns())
        self._write(snap)
        if not kept:
            self._prune(job)
        return snap

    def _hash(self, job: str, name: int) -> str:
        info = self.folders.index(job).get(name)
        if info is None:
            raise StoreError(2, f"job {job!r}: file {name}.json is gone")
        return self.folders.file_sha256(job, info)

    def _dir(self, job: str, kept: bool) -> Path:
        sdir = self.folders.job_dir(job) / SNAPSHOT_DIR
        return sdir if kept else sdir / INPUTS_DIR

    def _path(self, snap: Snapshot) -> Path:
        return self._dir(snap.job, snap.kept) / f"{snap.id}.json"

    def _write(self, snap: Snapshot) -> None:
        sdir = self._dir(snap.job, snap.kept)
        for folder in (sdir.parent, sdir) if not snap.kept else (sdir,):
            if not is_real_folder(folder):
                folder.mkdir(exist_ok=True)  # a link in its place is refused by the write below
        atomic_write(sdir / f"{snap.id}.json", orjson.dumps(snap.record()))
        self.folders.pins.forget(self.folders.job_dir(snap.job))

    def _prune(self, job: str) -> None:
        """Keep the newest MAX_UNKEPT input snapshots of ``job`` (by when they were written)."""
        paths = sorted(self._paths(job, kept=False), key=lambda p: p.stat().st_mtime_ns)
        for path in paths[:max(0, len(paths) - MAX_UNKEPT)]:
            path.unlink(missing_ok=True)

    def _load(self, job: str, snap_id: str) -> Snapshot | None:
        for kept in (True, False):
            try:
                return Snapshot.from_record(orjson.loads(read_regular(self._dir(job, kept) / f"{snap_id}.json")))
            except FileNotFoundError:
                continue
        return None

    # -- reading ------------------------------------------------------------

    def list(self, job: str, *, inputs: bool = False) -> list[Snapshot]:
        """The job's kept snapshots, oldest first (with ``inputs``, the ones applies recorded too); damaged
        records are left out (``damaged`` lists them)."""
        out = []
        for path in self._paths(job, kept=True) + (self._paths(job, kept=False) if inputs else []):
            try:
                out.append(Snapshot.from_record(orjson.loads(read_regular(path))))
            except (OSError, orjson.JSONDecodeError, NomError, TypeError, ValueError):
                continue
        return sorted(out, key=lambda s: (s.created, s.id))

    def damaged(self, job: str) -> list[str]:
        """The job's kept snapshot records that cannot be read, each with why."""
        out = []
        for path in self._paths(job, kept=True):
            try:
                Snapshot.from_record(orjson.loads(read_regular(path)))
            except (OSError, orjson.JSONDecodeError, NomError, TypeError, ValueError) as exc:
                out.append(f"{path.name}: {exc}")
        return out

    def _paths(self, job: str, *, kept: bool) -> list[Path]:
        sdir = self._dir(job, kept)
        if not is_real_folder(sdir):
            return []
        return [sdir / n for n in sorted(os.listdir(sdir)) if n.endswith(".json") and _ID.fullmatch(n[:-5])]

    def get(self, ref: str, job: str | None = None) -> Snapshot:
        """The snapshot named by ``ref``: its id, a unique prefix of 6 hex digits or more, or a name given to
        it (in ``job``, or in any job of the store)."""
        if not isinstance(ref, str) or not ref:
            raise NomError("a snapshot is named by its id (or a unique prefix of 6+ hex digits) or its name",
                           field="snapshot")
        jobs = [job] if job is not None else self.folders.jobs()
        found: dict[str, Snapshot] = {}
        by_id = _REF.fullmatch(ref) is not None
        for j in jobs:
            if not is_real_folder(self.folders.job_dir(j) / SNAPSHOT_DIR):
                continue
            if by_id:
                for kept in (True, False):
                    for path in self._paths(j, kept=kept):
                        if path.name.startswith(ref):
                            snap = self._load(j, path.name[:-5])
                            if snap is not None:
                                found[f"{j}/{snap.id}"] = snap
            for snap in self.list(j):
                if ref in snap.names:
                    found[f"{j}/{snap.id}"] = snap
        if not found:
            raise NomError(f"no snapshot {ref!r}" + (f" of job {job!r}" if job else "") +
                           " (show snapshots <job> lists them)", field="snapshot")
        if len(found) > 1:
            raise NomError(f"snapshot {ref!r} is ambiguous: " + ", ".join(sorted(found)), field="snapshot")
        return next(iter(found.values()))

    # -- comparing and checking ---------------------------------------------

    @staticmethod
    def diff(a: Snapshot, b: Snapshot) -> dict[str, Any]:
        """The files in ``b`` and not in ``a`` (added) and in ``a`` and not in ``b`` (removed); files of the
        same name whose hash differs are listed as changed."""
        left = {i["name"]: i for i in a.manifest["files"]}
        right = {i["name"]: i for i in b.manifest["files"]}
        return {"from": a.id, "to": b.id,
                "added": [right[n] for n in sorted(right.keys() - left.keys(), key=file_number)],
                "removed": [left[n] for n in sorted(left.keys() - right.keys(), key=file_number)],
                "changed": [n for n in sorted(left.keys() & right.keys(), key=file_number)
                            if left[n]["sha256"] != right[n]["sha256"]]}

    def missing(self, snap: Snapshot) -> list[str]:
        """The snapshot's files no longer in the job (evicted, quarantined, deleted), from the index."""
        index = self.folders.reconciled(snap.job)
        return [i["name"] for i in snap.manifest["files"] if file_number(i["name"]) not in index]

    def verify(self, snap: Snapshot) -> dict[str, Any]:
        """Read every file of ``snap`` again and hash it: which changed (and how), which are gone (and why)."""
        changed, vanished = [], []
        folder = self.folders.job_dir(snap.job)
        quarantined = {q.filename: q.reason for q in _quarantined(self.folders, snap.job)}
        for item in snap.manifest["files"]:
            try:
                raw = read_regular(folder / item["name"])
            except FileNotFoundError:
                why = ("evicted by a forced retention" if item["name"] in snap.evicted else
                       f"quarantined: {quarantined[item['name']]}" if item["name"] in quarantined else "gone")
                vanished.append({"name": item["name"], "reason": why})
                continue
            except OSError as exc:
                vanished.append({"name": item["name"], "reason": f"cannot be read: {exc.strerror or exc}"})
                continue
            digest = hashlib.sha256(raw).hexdigest()
            if digest != item["sha256"] or len(raw) != item["size"]:
                changed.append({"name": item["name"], "expected": item["sha256"], "found": digest,
                                "size": item["size"], "foundSize": len(raw)})
        return {"id": snap.id, "job": snap.job, "files": len(snap.manifest["files"]),
                "ok": not changed and not vanished, "changed": changed, "vanished": vanished}

    def drop(self, snap: Snapshot) -> list[FileInfo]:
        """Forget a snapshot (its files are no longer pinned by it) and apply the job's cap now; returns the
        files that retention deleted."""
        try:
            self._path(snap).unlink()
        except FileNotFoundError:
            raise StoreError(2, f"snapshot {snap.short} of job {snap.job!r} is gone already") from None
        self.folders.pins.forget(self.folders.job_dir(snap.job))
        return self.folders.enforce_retention(snap.job)

    def pinned_bytes(self, job: str) -> dict[str, Any]:
        """How many bytes of ``job`` its kept snapshots pin: in all, and by snapshot (a file two hold counts
        once in the total, in each of theirs)."""
        index = self.folders.reconciled(job)
        total_names: set[int] = set()
        total = 0
        per = []
        for snap in self.list(job):
            live = [i for i in snap.manifest["files"] if file_number(i["name"]) in index]
            per.append({"id": snap.id, "short": snap.short, "names": snap.names, "files": len(live),
                        "bytes": sum(i["size"] for i in live), "evicted": len(snap.evicted)})
            for i in live:
                if file_number(i["name"]) not in total_names:
                    total_names.add(file_number(i["name"]))
                    total += i["size"]
        return {"pinnedBytes": total, "pinnedFiles": len(total_names), "snapshots": per}


def _quarantined(folders: JobFolders, job: str) -> list[Any]:
    quarantined = getattr(folders, "quarantined", None)
    return quarantined(job) if quarantined is not None else []
