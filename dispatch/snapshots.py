"""Dispatch's snapshot, provenance, verify and watch actions (issue 20); ``Dispatcher.actions`` includes them.

Actions (see dispatch.protocol for the shapes)::

    snapshot        {jobId, fromDate?, toDate?, name?}   freeze the job's files in the range (nom.store.snapshots)
    listSnapshots   {jobId}                             its kept snapshots, the bytes they pin, damaged records
    snapshotDiff    {a, b}                              files added, removed (and changed) from a to b
    snapshotVerify  {snapshot}                          re-read every file: the changed and vanished ones
    snapshotDrop    {snapshot}                          forget it, then apply the job's cap
    verifyApply     {applyId, engine?}                  re-run an apply on its recorded snapshot: a new apply
                                                        whose status says, once done, identical or how not
                                                        (a batch apply's provenance is also kept in
                                                        <job>/snapshots/applies/, so this works after a restart)
    watch           {jobId}                             announce the job's new files; the events endpoint,
                                                        the last sequence number and file announced
    filesSince      {jobId, after, limit?}              files named after ``after``: healing a missed event

The apply inputs, provenance and verification of a result are worked out here too (``inputs_of``,
``finish``), so that dispatch.service only calls them.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import orjson

from dispatch import protocol
from dispatch.applies import Apply
from dispatch.dates import parse_range
from dispatch.provenance import CHAIN_START, extend_chain, new_provenance, result_sha256
from nom import NomError, ProtocolError, quote
from nom.store import SNAPSHOT_DIR, FileInfo, Snapshot, Snapshots, atomic_write

Dispatcher = Any  # dispatch.service.Dispatcher, which imports this module (a type from there would be a cycle)

__all__ = ["SnapshotActions"]

MAX_DIFF_EXAMPLES = 10
APPLIES_DIR = "applies"  # snapshots/applies/<applyId>.json: each batch apply's provenance, for verify
MAX_APPLY_RECORDS = 256  # per job, the newest
_APPLY_ID = re.compile(r"[0-9a-f]{6,32}")


def _protocol_error(exc: NomError, field: str) -> ProtocolError:
    return ProtocolError(str(exc), field=exc.field or field)


class SnapshotActions:
    """The actions above, over one Dispatcher's store, applies and events."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher
        self.snapshots = Snapshots(dispatcher.store)

    def table(self) -> dict[str, Any]:
        """Action name -> handler."""
        return {"snapshot": self.snapshot, "listSnapshots": self.list_snapshots, "snapshotDiff": self.diff,
                "snapshotVerify": self.verify, "snapshotDrop": self.drop, "verifyApply": self.verify_apply,
                "watch": self.watch, "filesSince": self.files_since}

    # -- snapshots ----------------------------------------------------------

    def _job(self, request: dict[str, Any]) -> str:
        job = protocol.job_id_of(request)
        if not self.d.store.exists(job):
            raise ProtocolError(f"no job {job!r} in the store at {self.d.store.root}", field="jobId")
        return job

    def get(self, ref: Any, field: str, job: str | None = None) -> Snapshot:
        """The snapshot ``ref`` names (an id, a unique prefix, a name), or a ProtocolError naming ``field``."""
        if not isinstance(ref, str) or not ref:
            raise ProtocolError(f"{field} must name a snapshot (its id, a prefix of 6+ hex digits, or its name), "
                                f"got {quote(ref)}", field=field)
        try:
            return self.snapshots.get(ref, job)
        except NomError as exc:
            raise ProtocolError(str(exc), field=field) from None

    def snapshot(self, request: dict[str, Any]) -> dict[str, Any]:
        """``snapshot``: freeze the files of a job that hold its objects in the range."""
        job = self._job(request)
        lo, hi, standing = parse_range(request.get("fromDate"), request.get("toDate"))
        if standing:
            hi = time.time_ns()  # "now": what is stored by now
        name = request.get("name")
        try:
            snap = self.snapshots.create(job, lo, hi, name=name)
        except NomError as exc:
            raise _protocol_error(exc, "name") from None
        info = snap.describe()
        if self.d.events is not None:
            self.d.events.publish(job, "snapshot", snapshot=info)
        return info

    def list_snapshots(self, request: dict[str, Any]) -> dict[str, Any]:
        """``listSnapshots``: the job's kept snapshots, what they pin, damaged records."""
        job = self._job(request)
        pinned = self.snapshots.pinned_bytes(job)
        return {"jobId": job, "snapshots": [s.describe() for s in self.snapshots.list(job)],
                "pinnedBytes": pinned["pinnedBytes"], "pinnedFiles": pinned["pinnedFiles"],
                "pinnedBy": pinned["snapshots"], "damaged": self.snapshots.damaged(job),
                "maxSize": self.d.store.max_size(job)}

    def diff(self, request: dict[str, Any]) -> dict[str, Any]:
        """``snapshotDiff``: files added and removed from ``a`` to ``b``."""
        a, b = self.get(request.get("a"), "a"), self.get(request.get("b"), "b")
        return {**self.snapshots.diff(a, b), "jobA": a.job, "jobB": b.job}

    def verify(self, request: dict[str, Any]) -> dict[str, Any]:
        """``snapshotVerify``: read every file again."""
        snap = self.get(request.get("snapshot"), "snapshot")
        return {**self.snapshots.verify(snap), "names": snap.names}

    def drop(self, request: dict[str, Any]) -> dict[str, Any]:
        """``snapshotDrop``: release a snapshot's files; the job's cap applies to them now."""
        snap = self.get(request.get("snapshot"), "snapshot")
        deleted = self.snapshots.drop(snap)
        return {"id": snap.id, "job": snap.job, "dropped": True, "deletedFiles": len(deleted),
                "deletedBytes": sum(f.bytes for f in deleted)}

    # -- apply inputs and provenance -----------------------------------------

    def inputs_of(self, apply: Apply, listed: list[FileInfo], files: list[FileInfo]) -> list[FileInfo]:
        """The files ``apply`` reads (those of its snapshot with ``at``), with its provenance set: the snapshot
        of exactly those files for a batch apply, the hash chain over them for a standing one."""
        spec = apply.spec
        store = self.d.store
        if apply.at is not None:
            snap = self.get(apply.at, "at", spec.job)
            index = store.reconciled(spec.job)
            current = [index.get(f.name) for f in snap.files()]
            gone = sum(1 for info in current if info is None)
            if gone:
                raise ProtocolError(f"snapshot {snap.short} is not reproducible: {gone} files evicted "
                                    f"({len(current)} in it)", field="at")
            files = [info for info in current if info is not None]
            apply.provenance = new_provenance(spec.job, spec.map, spec.reduce, apply.engine, spec.from_id,
                                              spec.to_id, snapshot=snap.id, files=len(files))
            return files
        files = store.with_hashes(spec.job, files)
        if apply.standing:
            apply.provenance = new_provenance(spec.job, spec.map, spec.reduce, apply.engine, spec.from_id, None,
                                              chain=extend_chain(CHAIN_START, files), files=len(files))
        else:
            snap = self.snapshots.create(spec.job, spec.from_id, spec.to_id, kept=False, files=files)
            apply.provenance = new_provenance(spec.job, spec.map, spec.reduce, apply.engine, spec.from_id,
                                              spec.to_id, snapshot=snap.id, files=len(files))
        return files

    def finish(self, apply: Apply) -> None:
        """Close a batch apply's provenance (end, objects, result hash) and, for a verification, compare."""
        prov = apply.provenance
        if prov is None:
            return
        prov["ended"] = time.time()
        prov["objects"] = apply.objects()
        prov["resultSha256"] = result_sha256(apply.result or [])
        if apply.verifies is not None:
            apply.verification = self._compare(apply)
        try:  # kept beside the job, so that verify works after Dispatch forgot the apply (or restarted)
            self._keep_record(apply)
        except OSError as exc:
            self.d.log.warning("apply %s: provenance record not kept: %s", apply.spec.apply_id, exc)

    def _records_dir(self, job: str) -> Path:
        return self.d.store.job_dir(job) / SNAPSHOT_DIR / APPLIES_DIR

    def _keep_record(self, apply: Apply) -> None:
        folder = self._records_dir(apply.spec.job)
        folder.mkdir(parents=True, exist_ok=True)
        spec = apply.spec
        atomic_write(folder / f"{spec.apply_id}.json", orjson.dumps({
            "applyId": spec.apply_id, "job": spec.job, "map": spec.map, "reduce": spec.reduce,
            "engine": apply.engine, "provenance": apply.provenance}))
        records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in records[:max(0, len(records) - MAX_APPLY_RECORDS)]:
            old.unlink(missing_ok=True)

    def _recorded(self, apply_id: str) -> dict[str, Any] | None:
        """The kept record of a batch apply Dispatch no longer holds (any job), or None."""
        if not _APPLY_ID.fullmatch(apply_id):
            return None
        for job in self.d.store.jobs():
            path = self._records_dir(job) / f"{apply_id}.json"
            if path.is_file():
                return orjson.loads(path.read_bytes())
        return None

    def standing_update(self, apply: Apply) -> None:
        """Bring a standing reduction's provenance up to date (its chain and objects) and announce it."""
        prov, reduction = apply.provenance, apply.reduction
        if prov is None or reduction is None:
            return
        prov["inputs"]["chain"] = reduction.chain
        prov["objects"] = reduction.objects
        prov["resultSha256"] = result_sha256(apply.view())  # lazy: an index hashes its arrays
        if self.d.events is not None:
            self.d.events.publish(apply.spec.job, "result", applyId=apply.spec.apply_id, map=apply.spec.map,
                                  reduce=apply.spec.reduce, objects=reduction.objects,
                                  resultSha256=prov["resultSha256"], chain=reduction.chain)

    def _compare(self, apply: Apply) -> dict[str, Any]:
        original = self.d.applies.get(apply.verifies or "")
        recorded = apply.verifies_provenance or {}
        ours = apply.provenance or {}
        out: dict[str, Any] = {"of": apply.verifies, "snapshot": ours.get("inputs", {}).get("snapshot"),
                               "engine": apply.engine, "originalEngine": recorded.get("engine"),
                               "resultSha256": ours.get("resultSha256"),
                               "originalResultSha256": recorded.get("resultSha256")}
        changed = []
        for part in ("map", "reduce"):
            then, now = (recorded.get(part) or {}).get("sha256"), (ours.get(part) or {}).get("sha256")
            if then != now:
                changed.append({"function": part, "name": (ours.get(part) or {}).get("name"), "recorded": then,
                                "now": now})
        out["sourceChanged"] = changed
        out["identical"] = out["resultSha256"] == out["originalResultSha256"]
        if not out["identical"] and original is not None and original.result is not None:
            before = {orjson_key(k): (k, v) for k, v in original.result}
            after = {orjson_key(k): (k, v) for k, v in (apply.result or [])}
            differ = sorted(k for k in before.keys() & after.keys() if before[k][1] != after[k][1])
            out["differences"] = {
                "onlyOriginal": len(before.keys() - after.keys()), "onlyNow": len(after.keys() - before.keys()),
                "changedValues": len(differ),
                "examples": [[before[k][0], before[k][1], after[k][1]] for k in differ[:MAX_DIFF_EXAMPLES]]}
        return out

    def verify_apply(self, request: dict[str, Any]) -> dict[str, Any]:
        """``verifyApply``: start an apply over the recorded snapshot of ``applyId`` with the same functions."""
        apply_id = protocol.field_text(request, "applyId")
        original = self.d.applies.get(apply_id)  # type: ignore[arg-type]
        if original is None:
            kept = self._recorded(apply_id)  # type: ignore[arg-type]
            if kept is None:
                raise ProtocolError(f"no apply {quote(apply_id)} ('show applies' lists them)", field="applyId")
            return self._rerun(apply_id, kept["job"], kept["map"], kept["reduce"], kept["provenance"],
                               request.get("engine") or kept["engine"])
        prov = original.provenance
        if original.standing or prov is None or not prov["inputs"].get("snapshot"):
            raise ProtocolError(f"apply {apply_id} is a standing reduction: its inputs are a hash chain, not a "
                                f"snapshot; verify a batch apply (or one made with --at)", field="applyId")
        if prov.get("resultSha256") is None:
            raise ProtocolError(f"apply {apply_id} has no result yet ({original.state.value})", field="applyId")
        return self._rerun(apply_id, original.spec.job, original.spec.map, original.spec.reduce, prov,
                           request.get("engine") or original.engine)

    def _rerun(self, apply_id: str, job: str, map_name: str, reduce_name: str, prov: dict[str, Any],
               engine: str) -> dict[str, Any]:
        reply = self.d.apply({"jobId": job, "map": map_name, "reduce": reduce_name,
                              "at": prov["inputs"]["snapshot"], "engine": engine})
        new = self.d.applies[reply["applyId"]]
        new.verifies, new.verifies_provenance = apply_id, prov
        return {**reply, "verifies": apply_id}

    # -- watching -----------------------------------------------------------

    def watch(self, request: dict[str, Any]) -> dict[str, Any]:
        """``watch``: announce the job's new files from now on; where to subscribe."""
        job = self._job(request)
        events = self.d.events
        if events is None:
            raise ProtocolError("Dispatch publishes no events (it has not started)", field="jobId")
        events.follow(job)
        return {"jobId": job, "endpoint": events.endpoint, "topic": job + " ", "epoch": events.epoch,
                "seq": events.seq.get(job, 0), "lastFile": events.last_file.get(job, 0)}

    def files_since(self, request: dict[str, Any]) -> dict[str, Any]:
        """``filesSince``: the files named after ``after``, from the store (what a missed event announced)."""
        job = self._job(request)
        after, limit = request.get("after", 0), request.get("limit", 1000)
        for name, value in (("after", after), ("limit", limit)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ProtocolError(f"{name} must be a whole number, got {quote(value)}", field=name)
        assert self.d.events is not None
        files = self.d.events.files_since(job, after, min(limit, 10_000) or 10_000)
        return {"jobId": job, "files": files}


def orjson_key(key: Any) -> bytes:
    """A result key as comparable bytes (keys may be strings, numbers or lists)."""
    return orjson.dumps(key, option=orjson.OPT_NON_STR_KEYS)
