"""The JSON API, versioned under ``/api/v1`` (fields are only ever added, never removed or renamed).

Every route answers JSON; ids are strings (see nectar.web.backend). Errors: ``{"code", "message",
"field"}`` with 400 (bad request), 404 (no such job, apply or book), 409 (a clash with the state), 503 (a
service does not answer), 504 (a wait ran out). Routes are plain functions: FastAPI runs them in worker
threads, where the services' blocking clients belong.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response

from nectar.web.backend import ApiError, Backend, check_job, web_ids

__all__ = ["JSON", "json_response", "router"]

router = APIRouter(prefix="/api/v1")
JSON = "application/json"

JOB_EXAMPLE = {"jobName": "search for A and/or B.", "collectorObjectsPerFile": 50, "delayInMsBetweenObjects": 0,
               "searchTerms": "biden harris", "source": {"kind": "synthetic", "rate": 100, "count": 1000}}
APPLY_EXAMPLE = {"map": "hashtags", "reduce": "topk:10", "jobId": "<jobId>", "fromDate": "-1h", "toDate": "now"}
STAT_PARTS = (("count", "count", "sum", 1), ("minute", "minute", "sum", 0), ("lang", "lang", "sum", 10),
              ("hashtags", "hashtags", "topk:10", 10), ("authors", "authors", "topk:10", 10))


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as JSON, ids as strings."""
    return Response(orjson.dumps(web_ids(data)), status_code=status, media_type=JSON)


def backend_of(request: Request) -> Backend:
    """The app's backend."""
    return request.app.state.backend


def _apply_id(value: str) -> str:
    if not (1 <= len(value) <= 64 and value.isascii() and value.replace("-", "").replace("_", "").isalnum()):
        raise ApiError(400, "bad_request", "applyId must be 1-64 letters, digits, '-' or '_'", "applyId")
    return value


# -- services -----------------------------------------------------------------

@router.get("/health", summary="whether the collector and Dispatch answer, and what the system is doing now")
def health(request: Request) -> Response:
    """Each service: up, endpoint, pid, uptime; and the activity line the dashboard shows."""
    hub = request.app.state.hub
    return json_response({"services": backend_of(request).health(), "activity": hub.state.health.get("activity", ""),
                          "subscribers": len(hub.subscribers), "dropped": hub.dropped})


@router.get("/functions", summary="the map and reduce functions Dispatch knows")
def functions(request: Request) -> Response:
    """Names of maps and reduces (from Dispatch's ping)."""
    ping = backend_of(request).call("dispatch", "ping")
    return json_response({"maps": ping.get("maps", []), "reduces": ping.get("reduces", [])})


@router.get("/cache", summary="what Dispatch holds in its cache, per job")
def cache(request: Request) -> Response:
    """Dispatch's ``showCache``."""
    return json_response(backend_of(request).call("dispatch", "showCache"))


@router.get("/stats", summary="Dispatch's state: engine, workers, attached jobs")
def service_stats(request: Request) -> Response:
    """Dispatch's ``status`` of the service, and the collector's ping."""
    backend = backend_of(request)
    return json_response({"dispatch": backend.call("dispatch", "status"), "collector": backend.call("collector",
                                                                                                    "ping")})


# -- jobs ---------------------------------------------------------------------

@router.get("/jobs", summary="every job: id, name, source, state, objects, files, bytes, rate, newest")
def list_jobs(request: Request) -> Response:
    """The collector's ``listJobs``."""
    return json_response(backend_of(request).call("collector", "listJobs"))


@router.post("/jobs", status_code=201, summary="start a collector job from a job request (a job file's content)")
def start_job(request: Request, job: Annotated[dict[str, Any], Body(examples=[JOB_EXAMPLE])]) -> Response:
    """Send the request to the collector, hand its data.collector.job to Dispatch (as the shell's ``start``)."""
    backend = backend_of(request)
    job = {k: v for k, v in job.items() if k != "action"}
    reply = backend.call("collector", "newCollectorJob", **job)
    backend.call("dispatch", "attach", job=reply)
    return json_response(reply, 201)


@router.get("/jobs/{job_id}", summary="one job: its status, request and standing reductions")
def get_job(request: Request, job_id: str) -> Response:
    """The collector's ``jobStatus`` and Dispatch's standing applies of the job."""
    backend = backend_of(request)
    job = check_job(job_id)
    status = backend.call("collector", "jobStatus", jobId=job)
    applies = backend.call("dispatch", "listApplies")["applies"]
    status["standing"] = [a for a in applies if a["job"] == job and a["standing"]
                          and a["state"] in ("standing", "running")]
    return json_response(status)


@router.post("/jobs/{job_id}/stop", summary="stop a collector job (what it stored stays)")
def stop_job(request: Request, job_id: str) -> Response:
    """The collector's ``stopCollectorJob``."""
    return json_response(backend_of(request).call("collector", "stopCollectorJob", jobId=check_job(job_id)))


@router.get("/jobs/{job_id}/files", summary="a job's files after an offset (a file name), oldest first: its "
            "ingest over time")
def job_files(request: Request, job_id: str, after: Annotated[str | None, Query(pattern=r"^\d{1,19}$")] = None,
              limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> Response:
    """The collector's ``jobFiles``; page on with ``after`` = the last file's name."""
    return json_response(backend_of(request).call("collector", "jobFiles", jobId=check_job(job_id),
                                                  after=_offset(after), limit=limit))


def _offset(after: str | None) -> int | None:
    if after is None:
        return None
    value = int(after)
    if value >= 2**63:
        raise ApiError(400, "bad_request", f"after must be below 2^63, got {after}", "after")
    return value


@router.get("/jobs/{job_id}/disk", summary="a job's files, objects, bytes, oldest and newest, quarantined files, "
            "share of jobMaxSize")
def job_disk(request: Request, job_id: str) -> Response:
    """As the shell's ``disk``."""
    s = backend_of(request).call("collector", "jobStatus", jobId=check_job(job_id))
    share = s["bytes"] / s["maxSize"] if s.get("maxSize") else None
    return json_response({"jobId": s["jobId"], "files": s["files"], "objects": s["objects"], "bytes": s["bytes"],
                          "oldestId": s.get("oldestId"), "newestId": s.get("newestId"),
                          "quarantined": s.get("quarantined", 0), "maxSize": s.get("maxSize"), "share": share})


@router.get("/jobs/{job_id}/stats", summary="statistics of a job: objects, per minute, languages, top hashtags "
            "and authors (as the shell's stat)")
def job_stats(request: Request, job_id: str) -> Response:
    """Runs the stats reductions over the whole job, up to now, and waits for them (504 past 60 s)."""
    backend = backend_of(request)
    job = check_job(job_id)
    upto = str(time.time_ns())
    parts: dict[str, Any] = {}
    for key, map_name, reduce_name, top in STAT_PARTS:
        started = backend.call("dispatch", "apply", map=map_name, reduce=reduce_name, jobId=job, toDate=upto)
        reply = backend.wait_apply(started["applyId"], 60.0, top)
        parts[key] = reply.get("result", [])
        parts.setdefault("objects", reply.get("objects", 0))
    parts["minute"] = sorted(parts["minute"], key=lambda kv: kv[0])
    return json_response({"jobId": job, **parts})


@router.get("/jobMaxSize", summary="every job's retention cap and bytes")
def job_max_sizes(request: Request) -> Response:
    """Each job's ``maxSize`` and ``bytes``."""
    rows = backend_of(request).call("collector", "listJobs")["jobs"]
    return json_response({"jobs": [{"jobId": r["jobId"], "maxSize": r.get("maxSize"), "bytes": r["bytes"]}
                                   for r in rows]})


# -- applies ------------------------------------------------------------------

@router.get("/applies", summary="every apply Dispatch knows, with its progress")
def list_applies(request: Request) -> Response:
    """Dispatch's ``listApplies``."""
    return json_response(backend_of(request).call("dispatch", "listApplies"))


@router.post("/applies", status_code=201, summary="start a map/reduce over a job's range (standing when toDate "
             "is now)")
def start_apply(request: Request, body: Annotated[dict[str, Any], Body(examples=[APPLY_EXAMPLE])]) -> Response:
    """Dispatch's ``apply``: map, reduce, jobId, fromDate?, toDate?, engine?, skipErrors?."""
    fields = {k: v for k, v in body.items() if k != "action"}
    return json_response(backend_of(request).call("dispatch", "apply", **fields), 201)


@router.get("/applies/{apply_id}", summary="one apply: state and progress (its result: .../result)")
def get_apply(request: Request, apply_id: str) -> Response:
    """Dispatch's ``status`` without the result rows."""
    reply = backend_of(request).call("dispatch", "status", applyId=_apply_id(apply_id), top=1)
    reply.pop("result", None)
    return json_response(reply)


@router.get("/applies/{apply_id}/result", summary="an apply's result, a page of rows, optionally only the key "
            "equal to a specifier")
def apply_result(request: Request, apply_id: str, offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
                 limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
                 specifier: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """Rows ``offset`` to ``offset + limit`` of the result (as it stands, for a standing apply); 409 while the
    batch part runs."""
    backend = backend_of(request)
    apply = _apply_id(apply_id)
    if specifier is None:
        reply = backend.call("dispatch", "status", applyId=apply, top=limit, offset=offset)
    else:
        reply = backend.call("dispatch", "status", applyId=apply, top=0)
    if reply["state"] not in ("done", "standing"):
        raise ApiError(409, "not_ready", f"apply {apply} is {reply['state']}: no result yet", "applyId")
    rows = reply.get("result", [])
    if specifier is not None:
        wanted = specifier.lower()
        rows = [r for r in rows if str(r[0]).lower() == wanted][offset:offset + limit]
    return json_response({"applyId": apply, "state": reply["state"], "keys": reply.get("keys", 0), "offset": offset,
                          "limit": limit, "specifier": specifier, "rows": rows})


@router.post("/applies/{apply_id}/cancel", summary="end a standing reduction (or a running apply)")
def cancel_apply(request: Request, apply_id: str) -> Response:
    """Dispatch's ``cancel``."""
    return json_response(backend_of(request).call("dispatch", "cancel", applyId=_apply_id(apply_id)))


@router.get("/standing", summary="the standing reductions with their top rows now")
def standing(request: Request, top: Annotated[int, Query(ge=1, le=1000)] = 10) -> Response:
    """Each standing apply's ``status`` with its ``top`` rows."""
    backend = backend_of(request)
    out = []
    for a in backend.call("dispatch", "listApplies")["applies"]:
        if a["state"] == "standing":
            try:
                reply = backend.call("dispatch", "status", applyId=a["applyId"], top=top)
            except ApiError as exc:
                if exc.status == 404:  # cancelled meanwhile
                    continue
                raise
            out.append({**a, "keys": reply.get("keys"), "top": reply.get("result", [])})
    return json_response({"standing": out})
