"""The shell's book verbs: ``ingest FILE...`` reads plain-text books into the store, a paragraph an object.

A FILE is a path (from the shell's folder) or a file name in the books folder (the ``books`` setting, default
``books/`` beside NOM_ROOT). Each book becomes a collector job of the ``text`` source (collector.sources.text),
its id the book's file name without the extension (``1342-0.txt`` -> ``1342-0``) unless ``--name`` gives one;
Dispatch is attached to it as ``start`` does, and the verb waits, with a progress bar, until every paragraph
is stored. A book whose job the store holds already is not stored again: the verb says so and names the job.

Registered through the one registry (nectar.registry) and imported by nectar.commands; the handlers take the
session's ``nectar.commands.Context`` (not imported here: that module imports this one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nectar.client import Client
from nectar.errors import CommandError, ServiceError
from nectar.registry import Arg, Option, command
from nectar.results import Message
from nom import BookError, NomError, book_job_id, check_job_id, paragraphs

__all__ = ["book_file", "ingest"]

POLL_SECONDS = 0.05


def _call(client: Client, action: str, **fields: Any) -> Any:
    try:
        return client.call(action, **fields)
    except ServiceError as exc:
        raise CommandError(str(exc)) from None


def book_file(ctx: Any, value: str) -> Path:
    """The book ``value`` names: a file from the shell's folder, else one of that name in the books folder."""
    path = (ctx.cwd / value).expanduser()
    if path.is_file():
        return path.resolve()
    books = ctx.config.books_path
    if "/" not in value and (books / value).is_file():
        return (books / value).resolve()
    raise CommandError(f"{value}: no such book (not a file from {ctx.cwd}, nor in the books folder {books})")


@command("ingest", Arg("file", "file", many=True),
         options=(Option("name", "word", help="the job id (one file only; default: the file name without .txt)"),
                  Option("keep-header", flag=True, help="keep Project Gutenberg's header and footer")),
         help="read plain-text books into the store, one object per paragraph; waits until they are stored",
         example="ingest 1342-0.txt", live=True,
         details="A FILE is a path or a file name in the books folder ('config' shows it). UTF-8 with or without "
                 "a BOM, CRLF or LF; the Gutenberg header and footer (the '*** START OF' and '*** END OF' lines) "
                 "are left out unless --keep-header. A book already in the store is not stored twice.")
def ingest(ctx: Any, values: dict[str, Any]) -> Message:
    """Start a text job per book, attach Dispatch, wait until every paragraph is stored."""
    files = values["file"]
    if values.get("name") and len(files) > 1:
        raise CommandError("ingest --name names one job: give one file with it")
    keep = bool(values.get("keep-header", False))
    existing = {row["jobId"]: row for row in _call(ctx.services.collector, "listJobs")["jobs"]}
    started: list[tuple[str, Path, int]] = []  # (job, file, paragraphs)
    lines, rows = [], []
    for value in files:
        path = book_file(ctx, value)
        try:
            job = check_job_id(values["name"]) if values.get("name") else book_job_id(path.name)
        except NomError as exc:
            raise CommandError(f"--name: {exc}") from None
        if job in existing or any(job == s[0] for s in started):
            row = existing.get(job, {})
            lines.append(f"{path.name}: already in the store as job {job} ({row.get('objects', 0):,} paragraphs); "
                         f"not stored again")
            rows.append({"file": path.name, "jobId": job, "stored": False, "objects": row.get("objects", 0)})
            continue
        try:
            count = len(paragraphs(path.read_bytes(), path.name, keep_header=keep))
        except BookError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(f"{path}: cannot read it: {exc.strerror}") from None
        # searchTerms: the name without .txt, so that its objects are typed as nom.book_type names them
        request = {"jobId": job, "jobName": f"book {path.name}", "searchTerms": path.stem or path.name,
                   "collectorObjectsPerFile": 100, "delayInMsBetweenObjects": 0,
                   "source": {"kind": "text", "path": str(path), "keepHeader": keep}}
        reply = _call(ctx.services.collector, "newCollectorJob", **request)
        _call(ctx.services.dispatch, "attach", job=reply)
        ctx.last_job = job
        started.append((job, path, count))
    _wait(ctx, started)
    for job, path, count in started:
        lines.append(f"{path.name}: stored as job {job}: {count:,} paragraphs"
                     + (", header and footer kept" if keep else ""))
        rows.append({"file": path.name, "jobId": job, "stored": True, "objects": count})
    return Message("\n".join(lines), {"books": rows})


def _wait(ctx: Any, started: list[tuple[str, Path, int]]) -> None:
    """Poll the jobs until each is finished, reporting the paragraphs stored of all."""
    total = max(1, sum(count for _, _, count in started))
    waiting = {job for job, _, _ in started}
    stored: dict[str, int] = {}
    while waiting:
        for job in sorted(waiting):
            status = _call(ctx.services.collector, "jobStatus", jobId=job)
            stored[job] = status.get("objects", 0)
            if status["state"] in ("failed", "stopped"):
                raise CommandError(f"job {job} {status['state']}: {status.get('lastError') or 'no reason given'}")
            if status["state"] == "finished":
                waiting.discard(job)
        ctx.progress.update(sum(stored.values()), total)
        if waiting:
            ctx.sleep(POLL_SECONDS)
