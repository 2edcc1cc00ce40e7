"""Dispatch's ``applyBook`` action: seed 004's two methods over a book named by its file name.

``{"action": "applyBook", "method": "word-count" | "inverted-index", "book": "1342-0.txt", "specifier"?}``
finds the book in the books folder (``--books``, default ``books/`` beside NOM_ROOT), makes sure the store
holds it (the job ``nom.book_job_id(book)``: ``1342-0`` for ``1342-0.txt``), and starts ``apply words sum``
(word-count) or ``apply words index`` (inverted-index) over it with the specifier; the reply is ``apply``'s,
with ``book``, ``method`` and ``ingested`` (whether this request stored the book) added. ``status`` with its
``applyId`` gives the result.

Why Dispatch reads the book itself instead of asking the collector: Dispatch has no collector endpoint (it
reaches collectors only through the jobs handed to it, and takes no endpoint from a message), a book is a
finite file that needs no rate or publishing, and Dispatch already writes to the store (results of jobs
that are not attached). It reads it with the same ``nom.paragraphs`` as the collector's text source and
stores the same objects under the same job id, with a job record like the collector's (state ``finished``,
source ``text``), so ``ingest`` and ``applyBook`` find each other's books and ``show jobs`` lists them.
The record is written after the paragraphs: a job without one is an ingest that did not finish (Dispatch
was killed), and is stored again from the start. A book whose job a collector is still filling is refused
until it is stored.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from dispatch.errors import FunctionError
from dispatch.functions import resolve_reduce
from nom import BookError, ProtocolError, Store, book_job_id, book_type, check_book_name, paragraphs, quote

__all__ = ["METHODS", "PARAGRAPHS_PER_FILE", "apply_book", "book_path", "ingest_book", "list_books"]

METHODS = {"word-count": "sum", "inverted-index": "index"}  # method -> the reduce of ``words <reduce>``
PARAGRAPHS_PER_FILE = 100


def apply_book(dispatcher: Any, request: dict[str, Any]) -> dict[str, Any]:
    """``applyBook`` on ``dispatcher`` (the dispatch.service.Dispatcher: its store, books folder and apply)."""
    method = request.get("method")
    if method not in METHODS:
        raise ProtocolError(f"method must be one of {', '.join(METHODS)}, got {quote(method)}", field="method")
    reduce_name = METHODS[method]
    try:
        resolve_reduce(reduce_name)
    except FunctionError:
        raise ProtocolError(f"method {method} needs the reduce {reduce_name!r}, which this Dispatch does not have "
                            f"yet", field="method") from None
    path = book_path(dispatcher.books, request.get("book"))
    job = book_job_id(path.name)
    ingested = ingest_book(dispatcher.store, path, job)
    fields = {"jobId": job, "map": "words", "reduce": reduce_name}
    if request.get("specifier") is not None:
        fields["specifier"] = request["specifier"]
    if request.get("engine") is not None:
        fields["engine"] = request["engine"]
    reply = dispatcher.apply(fields)
    return {**reply, "book": path.name, "method": method, "jobId": job, "ingested": ingested}


def list_books(dispatcher: Any, request: dict[str, Any]) -> dict[str, Any]:
    """``listBooks``: the ``.txt`` files of the books folder, each with its job id and whether the store holds it
    (with its paragraphs when it does), sorted by name; the folder itself, so a user can see where to put books."""
    folder: Path = dispatcher.books
    store: Store = dispatcher.store
    books = []
    for path in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        try:
            check_book_name(path.name)
            size = path.stat().st_size
        except (BookError, OSError):
            continue  # a name no request could give, or gone since the listing
        if not path.is_file():
            continue
        job = book_job_id(path.name)
        record = store.read_meta(job, "job", None) if store.exists(job) else None
        stored = isinstance(record, dict) and record.get("state") not in ("running", "paused")
        books.append({"book": path.name, "bytes": size, "jobId": job, "stored": stored,
                      "paragraphs": store.usage(job).objects if stored else None})
    return {"folder": str(folder), "books": books}


def book_path(folder: Path, name: Any) -> Path:
    """The file of the book ``name`` in ``folder``; a ProtocolError on field ``book`` when there is none."""
    try:
        name = check_book_name(name)
    except BookError as exc:
        raise ProtocolError(str(exc), field="book") from None
    path = folder / name
    if not path.is_file():
        raise ProtocolError(f"no such book {name!r} in the books folder {folder}", field="book")
    return path


def ingest_book(store: Store, path: Path, job: str) -> bool:
    """Store the paragraphs of the book at ``path`` as ``job`` unless the store holds it; True if it stored it."""
    if store.exists(job):
        record = store.read_meta(job, "job", None)
        if isinstance(record, dict):
            if record.get("state") in ("running", "paused"):
                raise ProtocolError(f"book {path.name!r} is being ingested by the collector (job {job}); ask again "
                                    f"once it is stored", field="book")
            return False
        store.release(job)  # an ingest of ours that did not finish: start it again
        shutil.rmtree(store.job_dir(job), ignore_errors=True)
    try:
        found = paragraphs(path.read_bytes(), path.name)
    except BookError as exc:
        raise ProtocolError(str(exc), field="book") from None
    except OSError as exc:
        raise ProtocolError(f"book {path.name!r}: cannot read it: {exc.strerror}", field="book") from None
    kind = book_type(path.name)
    data = [{"id": f"0:{p.paragraph}", **p.to_data()} for p in found]
    arrays = []
    for start in range(0, len(data), PARAGRAPHS_PER_FILE):
        part = data[start:start + PARAGRAPHS_PER_FILE]
        ids = store.new_ids(job, len(part))
        arrays.append((job, [{"id": i, "type": kind, "data": d} for i, d in zip(ids, part)]))
    store.job_dir(job, create=True)
    if arrays:
        store.commit(arrays)
    request = {"jobName": f"book {path.name}", "searchTerms": path.stem or path.name, "jobId": job,
               "collectorObjectsPerFile": PARAGRAPHS_PER_FILE, "delayInMsBetweenObjects": 0,
               "source": {"kind": "text", "path": str(path)}}
    note = f"{len(found)} paragraphs from 1 file(s), stored by Dispatch (applyBook)"
    store.write_meta(job, "job", {
        "job_id": job, "request": request, "state": "finished", "created": time.time_ns(), "note": note,
        "reply": {"data": {"jobId": job, "jobName": request["jobName"], "searchTerms": request["searchTerms"],
                           "typeReturned": kind, "source": "text", "note": note}}})
    store.release(job)
    return True
