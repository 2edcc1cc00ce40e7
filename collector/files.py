"""The collector's ``jobFiles`` action: a job's data files after an offset, for clients that follow a job
without subscribing to its publish socket (the web service polls it, so its cost stays one small request per
poll whatever number of browsers watch).

``{"action": "jobFiles", "jobId", "after"?: <file name, ns> | null, "limit"?: 1..MAX_FILES}`` ->
``{"jobId", "files": [{"name", "minId", "maxId", "objects", "bytes"}, ...], "newest": <name> | null,
"more": bool}``: the files named above ``after`` in name order (names and ids are integers here, as
everywhere on the wire between the services; the web service turns them into strings for browsers).
"""

from __future__ import annotations

from typing import Any

from collector import protocol
from nom import ProtocolError, quote
from nom.store import Store

__all__ = ["MAX_FILES", "job_files"]

MAX_FILES = 5000


def job_files(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """Answer ``jobFiles`` from the store's index (no data file is opened)."""
    job_id = protocol.job_id_field(request)
    after = request.get("after")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or not 0 <= after < 2**63):
        raise ProtocolError(f"after must be a file name (a whole number of ns) or null, got {quote(after)}",
                            field="after")
    limit = request.get("limit", 1000)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_FILES:
        raise ProtocolError(f"limit must be a whole number from 1 to {MAX_FILES}, got {quote(limit)}", field="limit")
    if not store.exists(job_id):
        raise ProtocolError(f"no job {job_id!r} in the store at {store.root}", field="jobId")
    files = store.files_after(job_id, after, limit + 1)
    newest = store.newest_file(job_id)
    return {"jobId": job_id, "files": [{"name": f.name, "minId": f.min_id, "maxId": f.max_id, "objects": f.objects,
                                        "bytes": f.bytes} for f in files[:limit]],
            "newest": None if newest is None else newest.name, "more": len(files) > limit}
