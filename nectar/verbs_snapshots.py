"""Snapshots, verify and watch in the shell (issue 20): each verb is one of Dispatch's actions
(dispatch.snapshots); nectar.render shows their results.

- ``snapshot <job> [fromDate [toDate]] [--name NAME]``: freeze the job's files in the range;
- ``show snapshots <job>``: its kept snapshots and the bytes they pin;
- ``snapshot diff A B``, ``snapshot verify A``, ``snapshot drop A``: a snapshot is named by its id, a unique
  prefix of 6 or more hex digits, or a name given to it;
- ``verify <applyId> [--engine E]``: re-run an apply on its recorded snapshot: identical, or how it differs;
- ``watch <job> [--for SECONDS]``: files added, snapshots made, standing results updated, live (nectar.watch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nectar.errors import CommandError, ServiceError
from nectar.registry import Arg, Option, command
from nectar.results import Message, Result
from nectar.watch import Watcher

Context = Any  # nectar.commands.Context (imported from there it would be a cycle: commands imports this module)

__all__ = ["SnapshotDiff", "SnapshotInfo", "SnapshotList", "SnapshotVerify", "Verification", "WatchView"]


def _call(ctx: Context, action: str, **fields: Any) -> Any:
    try:
        return ctx.services.dispatch.call(action, **fields)
    except ServiceError as exc:
        raise CommandError(str(exc)) from None


@dataclass
class SnapshotInfo(Result):
    """``snapshot``: the snapshot made (or found: the same files give the same id)."""

    snapshot: dict[str, Any]

    def to_json(self) -> Any:
        return self.snapshot


@dataclass
class SnapshotList(Result):
    """``show snapshots``: a job's kept snapshots, and the bytes they pin."""

    job: str
    snapshots: list[dict[str, Any]]
    pinned_bytes: int
    pinned_by: list[dict[str, Any]]
    damaged: list[str]

    def to_json(self) -> Any:
        return {"jobId": self.job, "snapshots": self.snapshots, "pinnedBytes": self.pinned_bytes,
                "pinnedBy": self.pinned_by, "damaged": self.damaged}


@dataclass
class SnapshotDiff(Result):
    """``snapshot diff``: files added and removed from A to B."""

    diff: dict[str, Any]

    def to_json(self) -> Any:
        return self.diff


@dataclass
class SnapshotVerify(Result):
    """``snapshot verify``: every file read again; the changed and vanished ones."""

    report: dict[str, Any]

    def to_json(self) -> Any:
        return self.report


@dataclass
class Verification(Result):
    """``verify``: an apply re-run on its recorded snapshot, compared by the hash of the canonical result."""

    apply_id: str
    rerun_id: str
    verification: dict[str, Any]

    def to_json(self) -> Any:
        return {"apply": self.apply_id, "rerun": self.rerun_id, **self.verification}


@dataclass
class WatchView(Result):
    """``watch``: the renderer prints ``next()``'s events for ``seconds`` (None: until Ctrl-C)."""

    job: str
    next: Callable[[float], list[dict[str, Any]]]
    seconds: float | None
    close: Callable[[], None]
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> Any:
        return {"jobId": self.job, **self.counts}


def _dates(values: dict[str, Any]) -> dict[str, Any]:
    return {k: values[k] for k in ("fromDate", "toDate") if values.get(k) is not None}


@command("snapshot", Arg("jobId", "job"), Arg("fromDate", "date", optional=True), Arg("toDate", "date", optional=True),
         options=(Option("name", "word", help="a name for it (letters, digits, '_', '-', '.')"),),
         help="freeze the files holding a job's objects in a range: a manifest whose SHA-256 is its id",
         example="snapshot @last --name before-fix",
         details="The id is the SHA-256 of a canonical manifest (files by name with size, SHA-256, id range and "
                 "count; the range; the parent snapshot), so the same files give the same id anywhere. No data "
                 "file is read. Kept snapshots pin their files: jobMaxSize never deletes them.")
def snapshot(ctx: Context, values: dict[str, Any]) -> SnapshotInfo:
    """Make a snapshot."""
    request = {"jobId": ctx.job(values["jobId"]), **_dates(values)}
    if values.get("name"):
        request["name"] = values["name"]
    return SnapshotInfo(_call(ctx, "snapshot", **request))


@command("show snapshots", Arg("jobId", "job"), help="a job's snapshots: id, names, range, files, objects, "
         "bytes, added since the parent; the bytes they pin", example="show snapshots @last")
def show_snapshots(ctx: Context, values: dict[str, Any]) -> SnapshotList:
    """List a job's snapshots."""
    reply = _call(ctx, "listSnapshots", jobId=ctx.job(values["jobId"]))
    return SnapshotList(reply["jobId"], reply["snapshots"], reply["pinnedBytes"], reply["pinnedBy"], reply["damaged"])


@command("snapshot diff", Arg("A", "snapshot"), Arg("B", "snapshot"),
         help="the files added and removed from snapshot A to snapshot B", example="snapshot diff before-fix 3f2a9c")
def snapshot_diff(ctx: Context, values: dict[str, Any]) -> SnapshotDiff:
    """Compare two snapshots."""
    return SnapshotDiff(_call(ctx, "snapshotDiff", a=values["A"], b=values["B"]))


@command("snapshot verify", Arg("A", "snapshot"), help="read every file of a snapshot again: the ones whose bytes "
         "changed or that vanished (quarantined, evicted, deleted)", example="snapshot verify before-fix")
def snapshot_verify(ctx: Context, values: dict[str, Any]) -> SnapshotVerify:
    """Check a snapshot's files."""
    return SnapshotVerify(_call(ctx, "snapshotVerify", snapshot=values["A"]))


@command("snapshot drop", Arg("A", "snapshot"), help="forget a snapshot: its files are no longer pinned, and the "
         "job's jobMaxSize applies to them now", example="snapshot drop before-fix")
def snapshot_drop(ctx: Context, values: dict[str, Any]) -> Result:
    """Drop a snapshot."""
    reply = _call(ctx, "snapshotDrop", snapshot=values["A"])
    return Message(f"dropped snapshot {reply['id'][:12]} of {reply['job']}; retention deleted "
                   f"{reply['deletedFiles']} files ({reply['deletedBytes']:,} bytes)", reply)


def wait_apply(ctx: Context, apply_id: str, total: int) -> dict[str, Any]:
    """Wait for a batch apply to finish (reporting progress); its status (top 1)."""
    while True:
        reply = _call(ctx, "status", applyId=apply_id, top=1)
        progress = reply.get("progress") or {}
        ctx.progress.update(progress.get("objects", 0), max(1, progress.get("total", total)), progress.get("rate", 0))
        if reply["state"] == "failed":
            raise CommandError(f"apply {apply_id} failed: {reply['lastError']}")
        if reply["state"] != "running":
            return reply
        ctx.sleep(0.05)


@command("verify", Arg("applyId", "apply"), options=(Option("engine", "word", help="local or spark (default: the "
         "apply's own)"),), help="re-run an apply on its recorded snapshot: identical (by the SHA-256 of the "
         "canonical result) or how it differs; a changed user function source is named", example="verify @last")
def verify(ctx: Context, values: dict[str, Any]) -> Verification:
    """Verify an apply."""
    apply_id = ctx.apply_id(values["applyId"])
    request: dict[str, Any] = {"applyId": apply_id}
    if values.get("engine"):
        request["engine"] = values["engine"]
    started = _call(ctx, "verifyApply", **request)
    reply = wait_apply(ctx, started["applyId"], started.get("total", 1))
    return Verification(apply_id, started["applyId"], reply.get("verification") or {})


@command("watch", Arg("jobId", "job"), options=(Option("for", "seconds", help="watch this many seconds"),),
         help="print a job's changes live until Ctrl-C: files added (SHA-256, id range), snapshots made, "
              "standing results updated", example="watch @last", live=True,
         details="Events come from Dispatch's PUB socket with a sequence number each; a gap (a slow terminal, "
                 "a reconnect, a Dispatch restart) is filled from the store, so every file is shown once, in order.")
def watch(ctx: Context, values: dict[str, Any]) -> WatchView:
    """Watch a job's changes."""
    job = ctx.job(values["jobId"])
    seconds = None
    if values.get("for") is not None:
        if not str(values["for"]).isdigit():
            raise CommandError(f"--for must be a whole number of seconds, got {values['for']!r}")
        seconds = float(values["for"])
    try:
        watcher = Watcher(ctx.services.dispatch, job, keys=getattr(ctx.services, "keys", None))
    except ServiceError as exc:
        raise CommandError(str(exc)) from None
    counts = {"events": 0, "files": 0, "healedFiles": 0, "gaps": 0}

    def next_events(timeout: float) -> list[dict[str, Any]]:
        events = watcher.next(timeout)
        counts["events"] += len(events)
        counts["files"] += sum(len(e.get("files", [])) for e in events)
        counts["healedFiles"], counts["gaps"] = watcher.healed, watcher.gaps
        return events

    return WatchView(job, next_events, seconds, watcher.close, counts)
