"""Dispatch's cache: the newest objects of each attached job, by the store file they were written to.

Filled by the attachments (dispatch.attach) from what collectors publish, read by standing reductions
(dispatch.reading) before they go to the store. Bounded by objects and by bytes across all jobs; the
oldest files are evicted first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["Cache"]


@dataclass
class _JobCache:
    files: OrderedDict[int, _CachedFile] = field(default_factory=OrderedDict)
    objects: int = 0
    bytes: int = 0
    hits: int = 0
    misses: int = 0


@dataclass(frozen=True, slots=True)
class _CachedFile:
    raw: bytes  # the file's matching objects as one encoded JSON array
    objects: int
    first_id: int
    last_id: int


class Cache:
    """The newest objects of each job, by store file, within ``max_objects`` and ``max_bytes`` in all.

    Files are kept encoded and decoded on each hit: decoded tweets take several times their JSON size in
    Python objects, and the bound should be what the cache really holds.
    """

    def __init__(self, max_objects: int = 50_000, max_bytes: int = 64 * 2**20) -> None:
        self.max_objects = max_objects
        self.max_bytes = max_bytes
        self.jobs: dict[str, _JobCache] = {}
        self.objects = 0
        self.bytes = 0

    def put(self, job: str, file_name: int, objects: list[dict[str, Any]], raw: bytes | None = None) -> None:
        """Keep a file's objects; ``raw`` is their encoding when the caller already has it."""
        entry = self.jobs.setdefault(job, _JobCache())
        if file_name in entry.files or not objects:
            return
        cached = _CachedFile(orjson.dumps(objects) if raw is None else raw, len(objects),
                             objects[0].get("id", 0), objects[-1].get("id", 0))
        entry.files[file_name] = cached
        entry.objects += cached.objects
        entry.bytes += len(cached.raw)
        self.objects += cached.objects
        self.bytes += len(cached.raw)
        while (self.objects > self.max_objects or self.bytes > self.max_bytes) and self._evict_oldest():
            pass

    def get(self, job: str, file_name: int) -> list[dict[str, Any]] | None:
        """A file's objects if cached (counted as a hit), else None (a miss)."""
        entry = self.jobs.setdefault(job, _JobCache())
        cached = entry.files.get(file_name)
        if cached is None:
            entry.misses += 1
            return None
        entry.hits += 1
        return orjson.loads(cached.raw)

    def _evict_oldest(self) -> bool:
        oldest = None
        for job, entry in self.jobs.items():
            if entry.files:
                name = next(iter(entry.files))
                if oldest is None or name < oldest[1]:
                    oldest = (job, name)
        if oldest is None:
            return False
        self._remove(*oldest)
        return True

    def _remove(self, job: str, name: int) -> None:
        entry = self.jobs[job]
        cached = entry.files.pop(name)
        entry.objects -= cached.objects
        entry.bytes -= len(cached.raw)
        self.objects -= cached.objects
        self.bytes -= len(cached.raw)

    def drop(self, job: str) -> None:
        """Forget a job's entries."""
        entry = self.jobs.pop(job, None)
        if entry is not None:
            self.objects -= entry.objects
            self.bytes -= entry.bytes

    def report(self) -> list[dict[str, Any]]:
        """Per job: objects, bytes, oldest and newest id, hits and misses."""
        out = []
        for job, entry in sorted(self.jobs.items()):
            files = entry.files.values()
            out.append({"jobId": job, "objects": entry.objects, "bytes": entry.bytes, "files": len(entry.files),
                        "oldestId": min((f.first_id for f in files), default=None),
                        "newestId": max((f.last_id for f in files), default=None),
                        "hits": entry.hits, "misses": entry.misses})
        return out
