"""The collector's wire protocol: every request, reply and message shape, in one place.

Control socket (REP, JSON object per request, JSON object per reply)::

    {"action": "newCollectorJob", "jobName": str, "searchTerms": str,
     "collectorObjectsPerFile": int 1..100000, "delayInMsBetweenObjects": int 0..3600000,
     "source": {"kind": "synthetic" | "replay" | "text" | "x", ...}?, "jobMaxSize": int?,
     "jobId": str? (a job id of the caller's choosing; refused when a job has it already)}
        -> NOM object {"id", "type": "data.collector.job", "data": {jobId, jobName, searchTerms,
           hostName, dispatchPort, collectorPort, typeReturned, source}}
    {"action": "stopCollectorJob", "jobId": str}        -> {"jobId", "state"}
    {"action": "listJobs"}                              -> {"jobs": [status, ...]}
    {"action": "jobStatus", "jobId": str}               -> status
    {"action": "setJobMaxSize", "jobId": str, "maxSize": int | null, "dryRun"?: true, "force"?: bool}
        -> {"jobId", "maxSize", "deletedFiles", "deletedBytes", "pinnedFiles"}; with dryRun nothing changes:
        -> {"jobId", "maxSize" (the current cap), "dryRun": true, "wouldDeleteFiles", "wouldDeleteBytes"}
           (files kept snapshots pin stay, unless force, which deletes them too and marks their snapshots
           evicted; nom.store.snapshots)
    {"action": "ping"}                                  -> {"pong": true, "pid", "uptime", "jobs"}
    {"action": "jobFiles", "jobId": str, "after": int | null, "limit": int?}
        -> {"jobId", "files": [{name, minId, maxId, objects, bytes}], "newest", "more"} (collector.files)

Errors: ``{"error": "<what to fix>", "field": "<request field>"}``; a request that gets
an error changes nothing. The service (collector.service) answers each action through one table
(``Collector.actions``); the skeleton that serves them is nom.net.service.

Publish socket of a job (PUB, bound at ``dispatchPort``), one message per stored file,
in the batch form of nom.net.wire: ``[jobId, header, JSON array]``. ``seq`` numbers the
job's objects from 0 and carries on across restarts; ``epoch`` is the collector's
start time, so a subscriber also learns of a restart.

Storage inlet of a job (PULL, bound at ``collectorPort``), one JSON object per message
of at most ``MAX_MESSAGE_BYTES``::

    {"job": "<jobId>.<name>", "objects": [NOM object, ...]}

The inlet stores results: what a reducer made of the job (Dispatch sends an apply's
result objects, typed ``data.<jobId>.<reduce>``, to the derived job ``<jobId>.<reduce>``).
So it takes only a derived job of its own job as ``job``, never the job itself (whose
folder holds only what the source collected, and from which the job's dedup memory is
rebuilt), and only objects of a result type ``data.<jobId>.<name>`` (never the job's
``typeReturned``, which only its source makes). The objects get new ids and are stored
in arrays of the job's ``collectorObjectsPerFile``, as they are, without deduplication.
Anything else is rejected, counted (``inlet_rejected``, ``lastInletError``) and logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from nom import NomError, ProtocolError, check_job_id, check_object, check_type, quote

__all__ = [
    "CONTROL_ENDPOINT", "MAX_MESSAGE_BYTES", "JobRequest", "decode_inlet", "decode_job_request", "decode_max_size",
    "job_id_field",
]

CONTROL_ENDPOINT = "tcp://127.0.0.1:5555"
MAX_MESSAGE_BYTES = 16 * 2**20  # every socket refuses bigger messages (zmq.MAXMSGSIZE)
MAX_OBJECTS_PER_FILE = 100_000
MAX_DELAY_MS = 3_600_000
MAX_INLET_OBJECTS = 100_000
SOURCE_KINDS = ("synthetic", "replay", "text", "x")


@dataclass(frozen=True)
class JobRequest:
    """A checked ``newCollectorJob`` request."""

    job_name: str
    search_terms: str
    objects_per_file: int
    delay_ms: int
    source: dict[str, Any] | None = None
    max_size: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def _int(request: dict[str, Any], name: str, low: int, high: int) -> int:
    if name not in request:
        raise ProtocolError(f"{name} is required (an integer from {low} to {high})", field=name)
    value = request[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError(f"{name} must be an integer from {low} to {high}, got {quote(value)}", field=name)
    return value


def _text(request: dict[str, Any], name: str, limit: int = 512) -> str:
    if name not in request:
        raise ProtocolError(f"{name} is required (a non-empty string)", field=name)
    value = request[name]
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ProtocolError(f"{name} must be a non-empty string of at most {limit} characters, got {quote(value)}",
                            field=name)
    return value


def job_id_field(request: dict[str, Any]) -> str:
    """The checked ``jobId`` of a request."""
    if "jobId" not in request:
        raise ProtocolError("jobId is required", field="jobId")
    try:
        return check_job_id(request["jobId"])
    except NomError as exc:
        raise ProtocolError(str(exc), field="jobId") from None


def decode_job_request(request: dict[str, Any]) -> JobRequest:
    """Check every field of a ``newCollectorJob`` request."""
    known = {"action", "jobName", "searchTerms", "collectorObjectsPerFile", "delayInMsBetweenObjects", "source",
             "jobMaxSize", "jobId"}
    unknown = sorted(set(request) - known)
    if unknown:
        raise ProtocolError(f"unknown field {quote(unknown[0])}; newCollectorJob takes {', '.join(sorted(known))}",
                            field=unknown[0])
    source = request.get("source")
    if source is not None:
        if not isinstance(source, dict):
            raise ProtocolError(f"source must be an object such as {{\"kind\": \"synthetic\"}}, got {quote(source)}",
                                field="source")
        if source.get("kind") not in SOURCE_KINDS:
            raise ProtocolError(f"source.kind must be one of {', '.join(SOURCE_KINDS)}, "
                                f"got {quote(source.get('kind'))}", field="source.kind")
    if "jobId" in request:
        job_id_field(request)  # a job id the caller chose (the ingest verb names a book's job after its file)
    max_size = request.get("jobMaxSize")
    if max_size is not None:
        max_size = _int(request, "jobMaxSize", 1, 2**62)
    return JobRequest(
        job_name=_text(request, "jobName"),
        search_terms=_text(request, "searchTerms"),
        objects_per_file=_int(request, "collectorObjectsPerFile", 1, MAX_OBJECTS_PER_FILE),
        delay_ms=_int(request, "delayInMsBetweenObjects", 0, MAX_DELAY_MS),
        source=source,
        max_size=max_size,
        raw=request,
    )


def decode_max_size(request: dict[str, Any]) -> int | None:
    """The ``maxSize`` of a ``setJobMaxSize`` request (null: back to the default)."""
    if "maxSize" not in request:
        raise ProtocolError("maxSize is required (bytes, or null for the default)", field="maxSize")
    if request["maxSize"] is None:
        return None
    return _int(request, "maxSize", 1, 2**62)


def decode_inlet(raw: bytes, owner: str) -> tuple[str, list[dict[str, Any]]]:
    """Check a storage-inlet message for job ``owner``; return the target job and its objects."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(raw)} bytes exceeds the cap of {MAX_MESSAGE_BYTES}")
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"message is not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"message must be a JSON object {{job, objects}}, got {type(message).__name__}")
    job = message.get("job")
    try:
        check_job_id(job, field="job")
    except NomError as exc:
        raise ProtocolError(str(exc), field="job") from None
    if not job.startswith(owner + "."):
        raise ProtocolError(f"job must be a derived job {owner + '.<name>'!r} on this port (the inlet stores "
                            f"results, never into the job itself), got {quote(job)}", field="job")
    objects = message.get("objects")
    if not isinstance(objects, list) or not objects or len(objects) > MAX_INLET_OBJECTS:
        raise ProtocolError(f"objects must be a non-empty array of at most {MAX_INLET_OBJECTS} NOM objects",
                            field="objects")
    results = f"data.{owner}."
    for i, obj in enumerate(objects):
        try:
            check_object(obj, where=f"objects[{i}]")
            check_type(obj["type"], field=f"objects[{i}].type")
        except NomError as exc:
            raise ProtocolError(str(exc), field=exc.field or "objects") from None
        if not obj["type"].startswith(results):
            raise ProtocolError(f"objects[{i}].type must be a result type {results + '<name>'!r}, got "
                                f"{quote(obj['type'])}", field=f"objects[{i}].type")
    return job, objects
