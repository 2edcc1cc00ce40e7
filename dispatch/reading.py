"""Reading a job's store files in an id range, and folding what is read: the one path every reader of
Dispatch takes (a local worker, a Spark executor, a standing reduction, an attachment healing a gap).

A file's objects come from the cache when it holds the file (a hit), else from the store, where a file
that cannot be read is quarantined and reads as []; they are then clipped to the range (a file wholly
inside it is taken as it is, FileInfo.clip).

A reader that must not hold the interpreter lock for long (a local worker, whose heartbeats come from a
thread of its own) folds a large file in pieces (``piece_bytes``): orjson holds the lock for a whole parse,
and a 500 MB file would take seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from dispatch.cache import Cache
from dispatch.functions import MapFn, ReduceFn, fold_objects, merge_into, new_accumulator
from nom import NomError
from nom.store import FileInfo, JobFolders

__all__ = ["array_pieces", "fold_files", "read_range"]


def read_range(store: JobFolders, job: str, files: Iterable[FileInfo], from_id: int | None, to_id: int | None, *,
               cache: Cache | None = None, by: str = "collected") -> Iterator[tuple[FileInfo, list[dict[str, Any]]]]:
    """Each file and its objects whose times (by clock ``by``: nom.written) fall in ``[from_id, to_id]`` (None:
    open), in the files' order."""
    for info in files:
        yield info, _objects(store, job, info, from_id, to_id, cache, by)


def fold_files(store: JobFolders, job: str, files: Iterable[FileInfo], from_id: int | None, to_id: int | None,
               mapper: MapFn, reducer: ReduceFn, acc: dict[Any, Any], *, skip_errors: bool = False,
               cache: Cache | None = None, piece_bytes: int | None = None,
               after_file: Callable[[], None] | None = None, by: str = "collected") -> tuple[int, int]:
    """Read, clip and fold ``files`` into ``acc``, in order; returns the objects folded and how many of them were
    skipped (``skip_errors``; else a function that raises fails the fold with FoldError). With ``piece_bytes``,
    a file larger than twice that is parsed and folded in pieces of about that size. ``after_file`` is called
    after each file. ``by``: the clock the range is of (``collected``, the ids; ``written``: nom.written)."""
    objects = skipped = 0
    for info in files:
        folded = None
        if piece_bytes is not None and info.bytes > 2 * piece_bytes:
            folded = _fold_in_pieces(store, job, info, from_id, to_id, mapper, reducer, acc, skip_errors,
                                     piece_bytes, by)
        if folded is None:
            objs = _objects(store, job, info, from_id, to_id, cache, by)
            folded = len(objs), fold_objects(objs, mapper, reducer, acc, skip_errors=skip_errors)
        objects, skipped = objects + folded[0], skipped + folded[1]
        if after_file is not None:
            after_file()
    return objects, skipped


def _objects(store: JobFolders, job: str, info: FileInfo, from_id: int | None, to_id: int | None,
             cache: Cache | None, by: str = "collected") -> list[dict[str, Any]]:
    """One file's objects in the range: from the cache when it holds the file, else from the store."""
    objs = cache.get(job, info.name) if cache is not None else None
    if objs is None:
        objs = store.read_file(job, info)
    return info.clip(objs, from_id, to_id, by)


def _fold_in_pieces(store: JobFolders, job: str, info: FileInfo, from_id: int | None, to_id: int | None,
                    mapper: MapFn, reducer: ReduceFn, acc: dict[Any, Any], skip_errors: bool,
                    piece_bytes: int, by: str = "collected") -> tuple[int, int] | None:
    """Fold a large file piece by piece into ``acc``: (objects folded, skipped), or None (nothing folded) when
    it cannot be read here, does not split into whole objects or does not hold the objects the index says (the
    store then reads it whole, and quarantines it if it is bad)."""
    try:
        raw = store.read_bytes(job, info)
    except (OSError, NomError):
        return None
    part = new_accumulator(mapper, reducer)  # merged only once the whole file has been read
    seen = folded = skipped = 0
    try:
        for objs in array_pieces(raw, piece_bytes):
            seen += len(objs)
            objs = info.clip(objs, from_id, to_id, by)
            skipped += fold_objects(objs, mapper, reducer, part, skip_errors=skip_errors)
            folded += len(objs)
    except (orjson.JSONDecodeError, ValueError):
        return None
    if seen != info.objects:
        return None
    merge_into(acc, part, reducer)
    return folded, skipped


_CUT = re.compile(rb'\},\{"id":-?\d')  # where the store's objects meet: '},{"id":<digit>'


def array_pieces(raw: bytes, size: int) -> Iterator[list[Any]]:
    """The elements of the JSON array ``raw``, parsed in runs of about ``size`` bytes (ValueError or
    orjson.JSONDecodeError when it is not an array).

    A run is cut after a ``},{"id":<digit>`` found past ``size`` bytes. A cut that is not between two
    elements (inside a string, or inside a nested value) leaves the run before it with an open string or an
    open bracket, which orjson refuses: the run is then extended to the next cut. So every run accepted ends
    between two elements, and the runs hold exactly the file's elements.
    """
    view = memoryview(raw)
    start, end = raw.find(b"["), raw.rfind(b"]")
    if start < 0 or end < start or raw[:start].strip() or raw[end + 1:].strip():
        raise ValueError("not a JSON array")
    begin = start + 1
    while begin < end:
        search = begin + size
        while True:
            found = _CUT.search(raw, search, end) if end - search > 0 else None
            stop = end if found is None else found.start() + 1
            try:
                run = orjson.loads(b"".join((b"[", view[begin:stop], b"]")))
            except orjson.JSONDecodeError:
                if found is None:
                    raise
                search = stop  # not between elements: the next cut
                continue
            break
        yield run
        begin = stop + 1
