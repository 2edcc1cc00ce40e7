"""More of ``/api/v1``: books and search over a job's inverted index (issue 19), snapshots and provenance
(issue 20).

Each route is one request to Dispatch (dispatch.protocol lists the actions); the shapes are Dispatch's, ids as
strings.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response

from nectar.web.api import backend_of, json_response
from nectar.web.backend import ApiError, check_job

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
SNAPSHOT = re.compile(r"[\w.:-]{1,128}")


def _snapshot(value: str, field: str = "snapshot") -> str:
    if not SNAPSHOT.fullmatch(value):
        raise ApiError(400, "bad_request", f"{field} must be a snapshot id or name (letters, digits, '.', ':', "
                       f"'_' or '-'), got {value[:80]!r}", field)
    return value


@router.get("/books", summary="the books folder's .txt files: job id, whether stored, paragraphs (seed 004's "
            "URLs name them)")
def books(request: Request) -> Response:
    """Dispatch's ``listBooks``."""
    return json_response(backend_of(request).call("dispatch", "listBooks"))


@router.get("/jobs/{job_id}/search", summary="search a job's newest inverted index (words ANDed, OR, -term, "
            "\"a phrase\", prefix*), ranked by BM25")
def search(request: Request, job_id: str, q: Annotated[str, Query(min_length=1, max_length=1000)],
           limit: Annotated[int, Query(ge=1, le=1000)] = 10, offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
           apply_id: Annotated[str | None, Query(alias="applyId", max_length=64)] = None) -> Response:
    """Dispatch's ``search``; build the index first (POST /api/v1/applies with map words, reduce index)."""
    fields: dict[str, Any] = {"jobId": check_job(job_id), "query": q, "limit": limit, "offset": offset}
    if apply_id:
        fields["applyId"] = apply_id
    return json_response(backend_of(request).call("dispatch", "search", **fields))


@router.get("/jobs/{job_id}/snapshots", summary="a job's snapshots, and what they pin")
def list_snapshots(request: Request, job_id: str) -> Response:
    """Dispatch's ``listSnapshots``."""
    return json_response(backend_of(request).call("dispatch", "listSnapshots", jobId=check_job(job_id)))


@router.post("/jobs/{job_id}/snapshots", status_code=201, summary="take a snapshot of a job's range: its files, "
             "by SHA-256")
def take_snapshot(request: Request, job_id: str,
                  body: Annotated[dict[str, Any], Body(examples=[{"fromDate": "-1h", "toDate": "now",
                                                                  "name": "before-the-change"}])]) -> Response:
    """Dispatch's ``snapshot`` (fromDate?, toDate?, name?)."""
    fields = {k: v for k, v in body.items() if k in ("fromDate", "toDate", "name")}
    return json_response(backend_of(request).call("dispatch", "snapshot", jobId=check_job(job_id), **fields), 201)


@router.get("/snapshots/{a}/diff/{b}", summary="what changed between two snapshots")
def diff(request: Request, a: str, b: str) -> Response:
    """Dispatch's ``snapshotDiff``."""
    return json_response(backend_of(request).call("dispatch", "snapshotDiff", a=_snapshot(a, "a"), b=_snapshot(b, "b")))


@router.post("/snapshots/{snapshot}/verify", summary="check a snapshot's files against their SHA-256")
def verify(request: Request, snapshot: str) -> Response:
    """Dispatch's ``snapshotVerify``."""
    return json_response(backend_of(request).call("dispatch", "snapshotVerify", snapshot=_snapshot(snapshot)))


@router.post("/snapshots/{snapshot}/drop", summary="drop a snapshot (the files only it kept may then go)")
def drop(request: Request, snapshot: str) -> Response:
    """Dispatch's ``snapshotDrop``."""
    return json_response(backend_of(request).call("dispatch", "snapshotDrop", snapshot=_snapshot(snapshot)))


@router.get("/applies/{apply_id}/provenance", summary="where an apply's result came from: inputs, functions, "
            "engine, version, times, the result's SHA-256")
def provenance(request: Request, apply_id: str) -> Response:
    """The ``provenance`` of Dispatch's ``status``."""
    if not re.fullmatch(r"[\w-]{1,64}", apply_id):
        raise ApiError(400, "bad_request", "applyId must be 1-64 letters, digits, '-' or '_'", "applyId")
    reply = backend_of(request).call("dispatch", "status", applyId=apply_id, top=1)
    return json_response({"applyId": apply_id, "state": reply["state"], "provenance": reply.get("provenance")})


@router.post("/applies/{apply_id}/verify", status_code=201, summary="run an apply again over its inputs and "
             "compare the results")
def verify_apply(request: Request, apply_id: str) -> Response:
    """Dispatch's ``verifyApply``: a new apply whose status carries ``verification`` once done."""
    if not re.fullmatch(r"[\w-]{1,64}", apply_id):
        raise ApiError(400, "bad_request", "applyId must be 1-64 letters, digits, '-' or '_'", "applyId")
    return json_response(backend_of(request).call("dispatch", "verifyApply", applyId=apply_id), 201)
