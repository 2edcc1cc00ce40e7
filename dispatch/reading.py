"""Reading a job's store files in an id range, and folding what is read: the one path every reader of
Dispatch takes (a local worker, a Spark executor, a standing reduction, an attachment healing a gap).

A file's objects come from the cache when it holds the file (a hit), else from the store, where a file
that cannot be read is quarantined and reads as []; they are then clipped to the range (a file wholly
inside it is taken as it is, FileInfo.clip).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dispatch.cache import Cache
from dispatch.functions import MapFn, ReduceFn, fold_objects
from nom.store import FileInfo, JobFolders

__all__ = ["fold_files", "read_range"]


def read_range(store: JobFolders, job: str, files: Iterable[FileInfo], from_id: int | None, to_id: int | None, *,
               cache: Cache | None = None) -> Iterator[tuple[FileInfo, list[dict[str, Any]]]]:
    """Each file and its objects whose ids fall in ``[from_id, to_id]`` (None: open), in the files' order."""
    for info in files:
        objs = cache.get(job, info.name) if cache is not None else None
        if objs is None:
            objs = store.read_file(job, info)
        yield info, info.clip(objs, from_id, to_id)


def fold_files(store: JobFolders, job: str, files: Iterable[FileInfo], from_id: int | None, to_id: int | None,
               mapper: MapFn, reducer: ReduceFn, acc: dict[Any, Any], *, skip_errors: bool = False,
               cache: Cache | None = None, after_file: Callable[[], None] | None = None) -> tuple[int, int]:
    """Read, clip and fold ``files`` into ``acc``; returns the objects folded and how many of them were skipped
    (``skip_errors``; else a function that raises fails the fold with FoldError). ``after_file`` is called
    after each file (a worker's heartbeat)."""
    objects = skipped = 0
    for _, objs in read_range(store, job, files, from_id, to_id, cache=cache):
        skipped += fold_objects(objs, mapper, reducer, acc, skip_errors=skip_errors)
        objects += len(objs)
        if after_file is not None:
            after_file()
    return objects, skipped
