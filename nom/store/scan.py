"""A scan of a job's objects in id order: an iteration that reports the files it had to quarantine."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from nom.store.folders import JobFolders, Quarantined
from nom.store.index import FileInfo, clip

__all__ = ["Scan"]


@dataclass
class Scan:
    """An iteration over a job's objects; after it, ``quarantined`` lists the files moved aside."""

    folders: JobFolders  # the store: its files are read (and quarantined) there
    job: str
    from_id: int | None
    to_id: int | None
    files: list[FileInfo]
    quarantined: list[Quarantined] = field(default_factory=list)
    objects: int = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[dict[str, Any]]]:
        """The objects in range, one list per file (or per cluster of files whose ranges overlap)."""
        lo, hi = self.from_id, self.to_id
        for cluster in _clusters(self.files):
            objs: list[dict[str, Any]] = []
            for info in cluster:
                part = self.folders.read_file(self.job, info, report=self.quarantined)
                if not info.sorted:
                    part.sort(key=_obj_id)
                objs = part if not objs else objs + part
            if len(cluster) > 1:
                objs.sort(key=_obj_id)
            if (lo is not None and objs and objs[0]["id"] < lo) or (hi is not None and objs and objs[-1]["id"] > hi):
                objs = clip(objs, lo, hi)
            if objs:
                self.objects += len(objs)
                yield objs


def _clusters(files: Iterable[FileInfo]) -> Iterator[list[FileInfo]]:
    """Group files (by min id) so that no two groups' id ranges overlap."""
    cluster: list[FileInfo] = []
    high = -1
    for info in sorted(files, key=lambda f: (f.min_id, f.name)):
        if cluster and info.min_id > high:
            yield cluster
            cluster = []
        cluster.append(info)
        high = max(high, info.max_id) if len(cluster) > 1 else info.max_id
    if cluster:
        yield cluster


def _obj_id(obj: dict[str, Any]) -> int:
    return obj["id"]
