"""What handlers return: small dataclasses, turned into tables, charts or JSON by nectar.render."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "Result", "Message", "JobStarted", "JobList", "JobDetail", "CacheReport", "ApplyResult", "StandingView",
    "StatReport", "DiskReport", "SizeReport", "ServiceReport", "HelpText", "ConfigReport", "ApplyList", "ApplyDetail",
    "FunctionList",
]


@dataclass
class Result:
    """Base of every result; ``to_json`` is what ``--json`` prints."""

    def to_json(self) -> Any:
        """A JSON-able form."""
        return asdict(self)


@dataclass
class Message(Result):
    """A line of text (``quit``, ``up``, ...)."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    quit: bool = False

    def to_json(self) -> Any:
        return {"message": self.text, **self.data}


@dataclass
class JobStarted(Result):
    """``start``: the job id, its ports and its data.collector.job object."""

    job_id: str
    job_name: str
    source: str
    type_returned: str
    dispatch_port: int
    collector_port: int
    note: str
    job_object: dict[str, Any]

    def to_json(self) -> Any:
        return {"jobId": self.job_id, "job": self.job_object, "attached": True}


@dataclass
class JobList(Result):
    """``show jobs``."""

    jobs: list[dict[str, Any]]
    hidden: int = 0  # result jobs left out (show jobs --all lists them)

    def to_json(self) -> Any:
        return {"jobs": self.jobs, "hiddenResultJobs": self.hidden}


@dataclass
class JobDetail(Result):
    """``show <jobId>``: its request, its data.collector.job, its standing reductions."""

    job_id: str
    status: dict[str, Any]
    request: dict[str, Any] | None
    standing: list[dict[str, Any]]

    def to_json(self) -> Any:
        return {"jobId": self.job_id, "status": self.status, "request": self.request, "standing": self.standing}


@dataclass
class CacheReport(Result):
    """``show cache``."""

    jobs: list[dict[str, Any]]
    objects: int
    bytes: int
    max_objects: int
    max_bytes: int

    def to_json(self) -> Any:
        return {"jobs": self.jobs, "objects": self.objects, "bytes": self.bytes, "maxObjects": self.max_objects,
                "maxBytes": self.max_bytes}


@dataclass
class ApplyResult(Result):
    """A finished (or standing, as of now) apply and its result, largest values first."""

    apply_id: str
    job: str
    map: str
    reduce: str
    from_id: int | None
    to_id: int | str | None
    objects: int
    engine: str
    state: str
    result: list[list[Any]]
    keys: int
    seconds: float | None = None
    skipped: int = 0
    provenance: dict[str, Any] | None = None  # what it read and ran with (dispatch.provenance)
    by: str = "collected"  # the clock of the range: written or collected
    job_span: dict[str, list[int | None]] | None = None  # with no object folded: the job's times by both clocks
    files: int = 0  # the job's files the range selected (the others were skipped unread)
    total: int = 0  # the objects those files hold
    specifier: str | None = None  # the keys were filtered by it
    warnings: list[str] = field(default_factory=list)  # a pair that makes no sense, a path that matched nothing
    plot: bool = False  # draw the values as bars (``--plot``; time keys always are)

    def to_json(self) -> Any:
        out = {"apply": self.apply_id, "job": self.job, "map": self.map, "reduce": self.reduce,
               "from": self.from_id, "to": self.to_id, "by": self.by, "objects": self.objects, "engine": self.engine,
               "state": self.state, "keys": self.keys, "skipped": self.skipped, "seconds": self.seconds,
               "files": self.files, "provenance": self.provenance, "warnings": self.warnings, "result": self.result}
        if self.job_span is not None:
            out["jobSpan"] = self.job_span
        if self.specifier is not None:
            out["specifier"] = self.specifier
        return out


@dataclass
class StandingView(Result):
    """A standing apply: the renderer shows ``fetch()`` live for ``seconds`` (None: until Ctrl-C)."""

    apply_id: str
    fetch: Callable[[], ApplyResult]
    seconds: float | None
    first: ApplyResult

    def to_json(self) -> Any:
        return self.first.to_json()


@dataclass
class StatReport(Result):
    """``stat``: objects, rate over time, languages, top hashtags and authors."""

    job: str
    objects: int
    per_minute: list[list[Any]]
    languages: list[list[Any]]
    hashtags: list[list[Any]]
    authors: list[list[Any]]

    def to_json(self) -> Any:
        return {"job": self.job, "objects": self.objects, "perMinute": self.per_minute, "languages": self.languages,
                "hashtags": self.hashtags, "authors": self.authors}


@dataclass
class DiskReport(Result):
    """``disk``: files, objects, bytes, oldest and newest, quarantined files, share of jobMaxSize."""

    job: str
    files: int
    objects: int
    bytes: int
    oldest_id: int | None
    newest_id: int | None
    quarantined: int
    max_size: int | None
    pinned: dict[str, Any] | None = None  # bytes and files kept snapshots pin, and by which ("by")

    def to_json(self) -> Any:
        share = round(self.bytes / self.max_size, 4) if self.max_size else None
        return {"job": self.job, "files": self.files, "objects": self.objects, "bytes": self.bytes,
                "oldestId": self.oldest_id, "newestId": self.newest_id, "quarantined": self.quarantined,
                "maxSize": self.max_size, "shareOfMaxSize": share, "pinned": self.pinned}


@dataclass
class SizeReport(Result):
    """``jobMaxSize``: each job's cap (and what a change deleted)."""

    rows: list[dict[str, Any]]

    def to_json(self) -> Any:
        return {"jobs": self.rows}


@dataclass
class ServiceReport(Result):
    """``services``."""

    rows: list[dict[str, Any]]

    def to_json(self) -> Any:
        return {"services": self.rows}


@dataclass
class HelpText(Result):
    """``help``: the command table, or one command in full."""

    rows: list[tuple[str, str]]
    details: str = ""

    def to_json(self) -> Any:
        return {"commands": [{"usage": u, "help": h} for u, h in self.rows], "details": self.details}


@dataclass
class ConfigReport(Result):
    """``config``: every effective value and where it came from."""

    rows: list[tuple[str, Any, str]]

    def to_json(self) -> Any:
        return {"config": {key: {"value": value, "source": source} for key, value, source in self.rows}}


@dataclass
class ApplyList(Result):
    """``show applies``: running and standing applies, then the recent ones."""

    applies: list[dict[str, Any]]
    finished: int = 0  # how many finished applies Dispatch remembers (the list may show fewer)

    def to_json(self) -> Any:
        return {"applies": self.applies, "finished": self.finished}


@dataclass
class ApplyDetail(Result):
    """``show <applyId>``: one apply as Dispatch reports it (its latest result included)."""

    reply: dict[str, Any]

    def to_json(self) -> Any:
        return self.reply


@dataclass
class FunctionList(Result):
    """``help functions`` and ``help <function>``: the built-in maps and reduces, from Dispatch's catalog."""

    functions: list[dict[str, Any]]

    def to_json(self) -> Any:
        return {"functions": self.functions}

