"""Dispatch's wire protocol: every control request and reply shape, in one place.

Control socket (REP, one JSON object per request and per reply)::

    {"action": "attach", "job": <data.collector.job NOM object>}   -> {"jobId", "attached": true}
    {"action": "detach", "jobId"}                                    -> {"jobId", "attached": false}
    {"action": "apply", "map", "reduce", "jobId", "fromDate"?, "toDate"?, "by"?, "engine"?, "skipErrors"?,
     "specifier"?: "word" | "w1,w2" | "prefix*"}
        -> {"applyId", "state", "standing", "from", "to", "by", "files", "total", "specifier"?}
       ``by``: the clock of the range, "written" (the default: when each object was written, nom.written)
       or "collected" (its id); a ``status`` of a finished apply that folded no object adds ``jobSpan``,
       the job's oldest and newest times by both clocks. A ``specifier`` keeps only the result keys it
       matches, folded by the tokenizer; every reply about the apply, status included, then says what it
       was filtered by in "specifier"
    {"action": "status", "applyId"?, "top"?, "offset"?}
        -> one apply (progress, and its result once there is one: ``top`` rows from row ``offset``; with
           ``warnings`` when its functions make no sense together or a field path matched nothing),
           or the service (workers, engine, applies, attached jobs)
    {"action": "cancel", "applyId"}            -> {"applyId", "state": "cancelled"}
    {"action": "listApplies"}                  -> {"applies": [...]}
    {"action": "showCache"}                    -> {"jobs": [{jobId, objects, bytes, oldestId, newestId, hits, misses}]}
    {"action": "functions"}                    -> {"maps": [...], "reduces": [...]}: each built-in function's
                                                  name, kind, summary, emits, pairsWith (dispatch.functions.catalog)
    {"action": "ping"}                         -> {"pong": true, ...}
    {"action": "applyBook", "method": "word-count" | "inverted-index", "book": "<file name in the books folder>",
     "specifier"?, "engine"?}
        -> apply's reply and {"book", "method", "jobId", "ingested"}: the book is stored first when the store does
           not hold it (dispatch.books); then status with the applyId gives {"state": "done", "result": [...]}.
           Errors on field "book": "no such book ..." (not in the folder), "... not a path ..." (a name with a
           folder or '..'); on field "method": an unknown method.
    {"action": "listBooks"}                    -> {"folder", "books": [{"book", "bytes", "jobId", "stored",
                                                  "paragraphs"}]}: the books folder's .txt files, by name

Snapshots, provenance, verify and watch (issue 20; dispatch.snapshots answers them)::

    {"action": "apply", ..., "at": <snapshot>}  -> reduces exactly the snapshot's files and range (no dates)
    {"action": "snapshot", "jobId", "fromDate"?, "toDate"?, "name"?}
        -> {"id", "short", "job", "names", "from", "to", "firstId", "lastId", "parent", "files", "objects",
            "bytes", "addedFiles", "addedObjects", "removedFiles", "created", "kept", "evicted"}
    {"action": "listSnapshots", "jobId"}       -> {"snapshots": [...], "pinnedBytes", "pinnedFiles", "pinnedBy",
                                                  "damaged", "maxSize"}
    {"action": "snapshotDiff", "a", "b"}       -> {"added": [file...], "removed": [file...], "changed": [name...]}
    {"action": "snapshotVerify", "snapshot"}   -> {"ok", "files", "changed": [{name, expected, found}],
                                                  "vanished": [{name, reason}]}
    {"action": "snapshotDrop", "snapshot"}     -> {"id", "dropped": true, "deletedFiles", "deletedBytes"}
    {"action": "verifyApply", "applyId", "engine"?}
        -> a new apply (as ``apply``) with "verifies"; its ``status`` carries "verification" once done:
           {"identical", "resultSha256", "originalResultSha256", "sourceChanged": [...], "differences"?}
    {"action": "watch", "jobId"}               -> {"endpoint", "topic", "epoch", "seq", "lastFile"}
    {"action": "filesSince", "jobId", "after", "limit"?}  -> {"files": [{name, sha256, firstId, lastId, ...}]}

Every apply's ``status`` and ``listApplies`` entry (and every stored result object) carries "provenance"
(dispatch.provenance): inputs (job, range, snapshot id or standing hash chain, files), map and reduce names
with the SHA-256 of a user function's source, engine, Nectar version, start, end, objects, resultSha256.

Inverted index and search (issue 19; the ``index`` reduce is dispatch.functions.index, ``search`` is answered by
dispatch.search, its query language and BM25 ranking are dispatch.query)::

    {"action": "apply", "map": "words", "reduce": "index", "jobId", ...}   (an apply like any other; its status
        result rows are [term, {"df", "cf", "postings": [[objectId, [position, ...]], ...]}], most documents
        first; its stored result objects hold the index's compact arrays, parts of "index", not the rows)
    {"action": "search", "jobId", "query", "applyId"?, "limit"? (10), "offset"? (0)}
        -> {"jobId", "applyId", "query", "understood", "ranking", "total", "offset", "documents", "terms",
            "indexBytes", "seconds", "hits": [{"id", "score", "positions": [[first, terms], ...],
            "book"?, "paragraph"?, "line"?, "offset"?, "author_id"?, "created_at"?, "lang"?,
            "snippet", "snippetStart", "highlights": [[start, end], ...] (in the snippet),
            "matches": [[start, end], ...] (in the object's text), "textLength", "gone"?}]}
       over the newest index of the job Dispatch holds (done or standing), else the newest stored one;
       errors name the query's column, or the job (no such job, no index) or the apply

Events socket (PUB; dispatch.events): ``[b"<jobId> ", JSON]`` with "seq" and "epoch", kinds "files",
"snapshot" and "result".

Errors: ``{"error": "<what to fix>", "field": "<request field>"}``; a request that
gets an error changes nothing. The service (dispatch.service) answers each action through
one table (``Dispatcher.actions``); the skeleton that serves them is nom.net.service.

Results are stored as NOM objects of type ``data.<jobId>.<reduce>`` under the
derived job ``<jobId>.<map>.<reduce>`` (``result_job``; ``.standing`` after it for a standing apply's last
snapshots; an apply with ``"store": false`` stores nothing) (the reduce name with characters other than
letters, digits, '_' and '-' made '-'), at most ``RESULT_PAIRS_PER_OBJECT``
pairs per object.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from nom import NomError, ProtocolError, check_job_id, quote

__all__ = ["CONTROL_ENDPOINT", "ENGINES", "MAX_MESSAGE_BYTES", "RESULT_PAIRS_PER_OBJECT", "field_text", "job_id_of",
           "reduce_slug", "result_job", "result_type"]

CONTROL_ENDPOINT = "tcp://127.0.0.1:5556"
MAX_MESSAGE_BYTES = 16 * 2**20
RESULT_PAIRS_PER_OBJECT = 1000
ENGINES = ("local", "spark")


def field_text(request: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string field of the request."""
    value = request.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{name} is required (a non-empty string)" if value is None else
                            f"{name} must be a non-empty string, got {quote(value)}", field=name)
    return value


def job_id_of(request: dict[str, Any], name: str = "jobId") -> str:
    """The checked job id in field ``name``."""
    value = field_text(request, name)
    try:
        return check_job_id(value, field=name)
    except NomError as exc:
        raise ProtocolError(str(exc), field=name) from None


def reduce_slug(reduce_name: str) -> str:
    """The reduce's name as a type or job-id part: ``topk:10`` -> ``topk-10``."""
    return re.sub(r"[^\w-]", "-", reduce_name).strip("-")[:60] or "reduce"


def result_type(job: str, reduce_name: str) -> str:
    """``data.<jobId>.<reduce>``."""
    return f"data.{job}.{reduce_slug(reduce_name)}"


def result_job(job: str, reduce_name: str, map_name: str | None = None, *, standing: bool = False) -> str:
    """The derived job that stores an apply's results: ``<jobId>.<map>.<reduce>`` (``.standing`` added for a
    standing apply's snapshots, kept to the last few), so that ``hashtags topk:10`` and ``words topk:10`` never
    share one. Each part is made safe (``reduce_slug``); a name that would pass 128 characters is cut and ends in a
    hash of the whole. An index (``reduce`` index) stays ``<jobId>.index`` whatever its map: search finds it
    there; without ``map_name`` the name is ``<jobId>.<reduce>`` as before (issue 18)."""
    if map_name is None or reduce_name == "index":
        name = f"{job}.{reduce_slug(reduce_name)}"
    else:
        name = f"{job}.{reduce_slug(map_name)}.{reduce_slug(reduce_name)}" + (".standing" if standing else "")
    if len(name) > 128:
        name = f"{name[:121]}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"
    return name
