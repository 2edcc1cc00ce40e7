"""The shell's verbs. Each handler takes the session's ``Context`` and parsed values and returns a result
(nectar.results); none prints. Registering here is all it takes to get parsing, help and completion."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from nectar import (
    verbs_applies,  # registers 'show applies'; 'show <applyId>' below (issue 18)
    verbs_books,  # noqa: F401 - registers the book verbs (ingest)
    verbs_search,  # noqa: F401 - registers 'search' (its own module: issue 19)
    verbs_snapshots,  # noqa: F401 - registers snapshot, verify, watch (issue 20)
    verbs_web,  # noqa: F401 - registers the web verb
)
from nectar.client import Client
from nectar.config import SECRETS, Config, config_dir
from nectar.errors import CommandError, ServiceError
from nectar.registry import COMMANDS, Arg, Option, command, help_table, usage
from nectar.results import (
    ApplyDetail,
    ApplyResult,
    CacheReport,
    ConfigReport,
    DiskReport,
    FunctionList,
    HelpText,
    JobDetail,
    JobList,
    JobStarted,
    Message,
    ServiceReport,
    SizeReport,
    StandingView,
    StatReport,
)
from nectar.services import SERVICE_NAMES, Services
from nectar.sizes import format_size, parse_size
from nom import CLOCKS, NomError, check_job_id
from nom.net import init_keys

__all__ = ["Context", "Progress", "read_job_file", "run_apply"]


class LeftStanding(Exception):
    """The user stopped watching a standing apply; it goes on."""

    def __init__(self, apply_id: str) -> None:
        super().__init__(apply_id)
        self.apply_id = apply_id


class Progress:
    """Where a long handler reports progress; the renderer supplies a real one (a bar), tests a silent one."""

    def begin(self, apply_id: str) -> None:
        """An apply started: its id is shown while it runs."""

    def update(self, done: int, total: int, rate: float = 0.0) -> None:
        """Objects done of total."""


@dataclass
class Context:
    """A shell session: configuration, services, what was last started, and how to report progress."""

    config: Config
    services: Services
    progress: Progress = field(default_factory=Progress)
    interactive: bool = False
    last_job: str | None = None
    last_apply: str | None = None
    cwd: Path = field(default_factory=Path.cwd)
    sleep: Callable[[float], None] = time.sleep
    confirm: Callable[[str], bool] | None = None  # asks the user yes or no (the REPL); None: no one to ask
    started_jobs: set[str] = field(default_factory=set)  # jobs started here and still live: a line when they end

    def job(self, value: str) -> str:
        """A job id from an argument (``@last``: the job started last in this session)."""
        if value == "@last":
            if self.last_job is None:
                raise CommandError("@last names the job started last in this session, and none was started")
            return self.last_job
        try:
            return check_job_id(value)
        except NomError as exc:
            raise CommandError(str(exc)) from None

    def apply_id(self, value: str) -> str:
        """An apply id (``@last``: the apply started last)."""
        if value == "@last":
            if self.last_apply is None:
                raise CommandError("@last names the apply started last in this session, and none was started")
            return self.last_apply
        return value


def _call(client: Client, action: str, **fields: Any) -> Any:
    try:
        return client.call(action, **fields)
    except ServiceError as exc:
        raise CommandError(str(exc)) from None


def read_job_file(path: Path) -> dict[str, Any]:
    """A job request from ``path``, with the file and line named in every error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"{path}: no such job file") from None
    except OSError as exc:
        raise CommandError(f"{path}: cannot read it: {exc.strerror}") from None
    try:
        request = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CommandError(f"{path}, line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(request, dict):
        raise CommandError(f"{path}, line 1: a job file holds one JSON object, not a {type(request).__name__}")
    return request


def _resolve_replay_paths(request: dict[str, Any], folder: Path) -> None:
    """A replay's relative paths name files beside the job file (not the collector's folder): made absolute."""
    source = request.get("source")
    if not isinstance(source, dict) or source.get("kind") != "replay":
        return
    paths = source.get("path")
    if isinstance(paths, str):
        source["path"] = str(folder / Path(paths).expanduser()) if not Path(paths).expanduser().is_absolute() else paths
    elif isinstance(paths, list):
        source["path"] = [str(folder / p) if isinstance(p, str) and not Path(p).expanduser().is_absolute() else p
                          for p in paths]


def _line_of(path: Path, field_name: str | None) -> str:
    if not field_name:
        return ""
    key = f'"{field_name.split(".")[0]}"'
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if key in line:
            return f", line {number}"
    return ""


def _status_rows(ctx: Context) -> list[dict[str, Any]]:
    return _call(ctx.services.collector, "listJobs")["jobs"]


# -- jobs ---------------------------------------------------------------------

@command("start", Arg("job.json", "file"), help="start a collector job from a job file and attach Dispatch to it",
         example="start examples/job.json")
def start(ctx: Context, values: dict[str, Any]) -> JobStarted:
    """Send the job request to the collector, hand its data.collector.job to Dispatch."""
    path = (ctx.cwd / values["job.json"]).resolve()
    request = read_job_file(path)
    request.pop("action", None)
    _resolve_replay_paths(request, path.parent)
    try:
        reply = ctx.services.collector.call("newCollectorJob", **request)
    except ServiceError as exc:
        raise CommandError(f"{path}{_line_of(path, exc.field)}: {exc}") from None
    _call(ctx.services.dispatch, "attach", job=reply)
    data = reply["data"]
    ctx.last_job = data["jobId"]
    ctx.started_jobs.add(data["jobId"])
    return JobStarted(data["jobId"], data["jobName"], data.get("source", ""), data["typeReturned"],
                      data["dispatchPort"], data["collectorPort"], data.get("note", ""), reply)


@command("stop", Arg("jobId", "job"), help="stop a collector job (what it stored stays)",
         example="stop @last")
def stop(ctx: Context, values: dict[str, Any]) -> Message:
    """Stop collecting."""
    job = ctx.job(values["jobId"])
    reply = _call(ctx.services.collector, "stopCollectorJob", jobId=job)
    return Message(f"job {job} is {reply['state']}", {"jobId": job, "state": reply["state"]})


@command("show jobs", options=(Option("all", flag=True, help="result jobs (<job>.<map>.<reduce>) too"),),
         help="list the jobs: id, name, source, state, objects, files, bytes, rate, newest (result jobs with --all)")
def show_jobs(ctx: Context, values: dict[str, Any]) -> JobList:
    """Every job in the store; the jobs that hold another job's results only with --all."""
    rows = _status_rows(ctx)
    if values.get("all"):
        return JobList(rows)
    ids = {r["jobId"] for r in rows}
    own = [r for r in rows if not any(r["jobId"].startswith(other + ".") for other in ids if other != r["jobId"])]
    return JobList(own, len(rows) - len(own))


@command("show cache", help="what Dispatch holds in its cache, per job")
def show_cache(ctx: Context, values: dict[str, Any]) -> CacheReport:
    """Dispatch's cache."""
    reply = _call(ctx.services.dispatch, "showCache")
    return CacheReport(reply["jobs"], reply["objects"], reply["bytes"], reply["maxObjects"], reply["maxBytes"])


@command("show", Arg("jobId|applyId", "job"), help="one job (its request, its data.collector.job, its standing "
         "reductions), or one apply (what it was computed over and its latest result)", example="show @last")
def show_job(ctx: Context, values: dict[str, Any]) -> JobDetail | ApplyDetail:
    """One job in full, or one apply."""
    value = values["jobId|applyId"]
    if value == "@last" and ctx.last_apply is not None and ctx.last_job is None:
        return verbs_applies.apply_detail(ctx, ctx.last_apply)
    if value != "@last" and verbs_applies.is_apply_id(ctx, value):
        return verbs_applies.apply_detail(ctx, value)
    job = ctx.job(value)
    status = _call(ctx.services.collector, "jobStatus", jobId=job)
    applies = _call(ctx.services.dispatch, "listApplies")["applies"]
    standing = [a for a in applies if a["job"] == job and a["standing"] and a["state"] in ("standing", "running")]
    return JobDetail(job, status, status.pop("request", None), standing)


# -- map/reduce ---------------------------------------------------------------

def _apply_result(reply: dict[str, Any]) -> ApplyResult:
    progress = reply.get("progress") or {}
    return ApplyResult(reply["applyId"], reply["job"], reply["map"], reply["reduce"], reply["from"], reply["to"],
                       reply["objects"], reply["engine"], reply["state"], reply.get("result", []),
                       reply.get("keys", 0), progress.get("seconds"), reply.get("skipped", progress.get("skipped", 0)),
                       reply.get("provenance"), reply.get("by", "collected"), reply.get("jobSpan"),
                       reply.get("files", 0), reply.get("total", 0), reply.get("specifier"),
                       warnings=reply.get("warnings") or [])


def run_apply(ctx: Context, job: str, map_name: str, reduce_name: str, from_date: str | None, to_date: str | None,
              *, engine: str | None = None, top: int = 20, skip_errors: bool = False,
              at: str | None = None, by: str | None = None, specifier: str | None = None,
              store: bool = True) -> ApplyResult | str:
    """Start an apply and wait for its batch part, reporting progress; returns the result (or the standing id)."""
    request: dict[str, Any] = {"map": map_name, "reduce": reduce_name, "jobId": job}
    if from_date is not None:
        request["fromDate"] = from_date
    if to_date is not None:
        request["toDate"] = to_date
    if engine:
        request["engine"] = engine
    if skip_errors:
        request["skipErrors"] = True
    if specifier is not None:
        request["specifier"] = specifier
    if by:
        request["by"] = by
    if not store:
        request["store"] = False
    if at:
        request["at"] = at  # a snapshot: exactly its files (issue 20)
    dispatch = ctx.services.dispatch
    started = _call(dispatch, "apply", **request)
    apply_id = started["applyId"]
    ctx.last_apply = apply_id
    ctx.progress.begin(apply_id)
    try:
        while True:
            reply = _call(dispatch, "status", applyId=apply_id, top=top)
            progress = reply.get("progress") or {}
            ctx.progress.update(progress.get("objects", 0), max(1, progress.get("total", started["total"])),
                                progress.get("rate", 0))
            if reply["state"] == "failed":
                raise CommandError(f"apply {apply_id} failed: {reply['lastError']}")
            if reply["state"] != "running":
                return apply_id if started["standing"] else _apply_result(reply)
            ctx.sleep(0.05)
    except KeyboardInterrupt:
        if started["standing"]:  # Ctrl-C stops watching, never the reduction the user asked to stand
            raise LeftStanding(apply_id) from None
        # a finite apply: cancel it for real, so that nothing is stored
        reply = _call(dispatch, "cancel", applyId=apply_id)
        if reply["state"] == "done":
            raise CommandError(f"apply {apply_id} had finished before Ctrl-C; its result is stored "
                               f"('show {apply_id}')") from None
        raise CommandError(f"apply {apply_id} cancelled: nothing was stored") from None


@command("apply", Arg("mapFun", "map"), Arg("reduceFun", "reduce"), Arg("jobId", "job"),
         Arg("fromDate", "date", optional=True), Arg("toDate", "date", optional=True),
         options=(Option("engine", "word", help="local or spark"), Option("top", "word", help="rows shown (0: all)"),
                  Option("for", "seconds", help="with toDate now: watch this many seconds, then leave it standing"),
                  Option("skip-errors", flag=True, help="skip and count objects a function fails on"),
                  Option("at", "snapshot", help="reduce exactly the files of this snapshot (no dates)"),
                  Option("by", "clock", help="the clock of the range: written (default: when each post was "
                         "written, its created_at) or collected (when Nectar stored it)"),
                  Option("specifier", "word", help="keep only these keys: a word, w1,w2 or a prefix*"),
                  Option("plot", flag=True, help="draw the values as bars (hour and minute results always are)"),
                  Option("no-store", flag=True, help="show the result, store nothing (exploring)")),
         help="map/reduce a job's objects over a date range; with toDate 'now' the reduction stands",
         example="apply hashtags topk:10 @last -1h now", live=True,
         details="Dates: ISO 8601 (2026-11-23T10:00), epoch seconds or ns, -15m/-2h/-7d, today, now; a day as "
                 "toDate means through its end.\nThe range is by when each object was written (a tweet's "
                 "created_at, a post's createdAt; its collection time when it has none), or with --by collected "
                 "by when Nectar collected it.\n--specifier ebook, --specifier whale,ahab or --specifier 'whale*' "
                 "keeps only those keys, folded as words are (case, apostrophes).")
def apply(ctx: Context, values: dict[str, Any]) -> ApplyResult | StandingView:
    """Reduce; a standing apply is shown live until Ctrl-C (or --for seconds) and keeps running."""
    job = ctx.job(values["jobId"])
    top = _whole(values.get("top", "20"), "--top")
    by = values.get("by")
    if by is not None and by not in CLOCKS:
        raise CommandError(f"--by must be {' or '.join(CLOCKS)}, got {by!r}")
    try:
        outcome = run_apply(ctx, job, values["mapFun"], values["reduceFun"], values.get("fromDate"),
                            values.get("toDate"), engine=values.get("engine"), top=top,
                            skip_errors=values.get("skip-errors", False), at=values.get("at"), by=by,
                            specifier=values.get("specifier"), store=not values.get("no-store"))
    except LeftStanding as left:
        return Message(f"stopped watching; apply {left.apply_id} keeps standing (it folds every new object): "
                       f"'cancel {left.apply_id}' ends it", {"applyId": left.apply_id, "state": "standing"})
    if isinstance(outcome, ApplyResult):
        outcome.plot = bool(values.get("plot"))
        if outcome.skipped and outcome.skipped >= outcome.objects:
            raise CommandError(f"apply {outcome.apply_id}: every object failed ({outcome.skipped:,} skipped with "
                               f"--skip-errors): {outcome.map} or {outcome.reduce} fails on this job's objects")
        return outcome
    dispatch = ctx.services.dispatch

    def fetch() -> ApplyResult:
        return _apply_result(_call(dispatch, "status", applyId=outcome, top=top))

    seconds = float(_whole(values["for"], "--for")) if "for" in values else None
    return StandingView(outcome, fetch, seconds if seconds is not None or ctx.interactive else 0.0, fetch())


@command("cancel", Arg("applyId", "apply"), help="end a standing reduction (or a running apply)",
         example="cancel @last")
def cancel(ctx: Context, values: dict[str, Any]) -> Message:
    """Cancel an apply."""
    apply_id = ctx.apply_id(values["applyId"])
    reply = _call(ctx.services.dispatch, "cancel", applyId=apply_id)
    return Message(f"apply {apply_id} is {reply['state']}", {"applyId": apply_id, "state": reply["state"]})


def _job_or_file(ctx: Context, value: str) -> str:
    if value.endswith(".json") and (ctx.cwd / value).is_file():
        name = read_job_file(ctx.cwd / value).get("jobName")
        for row in _status_rows(ctx):
            if row.get("jobName") == name:
                return row["jobId"]
        raise CommandError(f"{value}: no job in the store was started from it (jobName {name!r})")
    return ctx.job(value)


@command("stat", Arg("job", "job_or_file"), help="statistics of a job: objects, rate over time, languages, "
         "top hashtags and authors", example="stat @last", live=True)
def stat(ctx: Context, values: dict[str, Any]) -> StatReport:
    """Runs the stats reducers over the whole job."""
    job = _job_or_file(ctx, values["job"])
    upto = str(time.time_ns())  # one snapshot: every part counts the same objects of a live job
    parts = {}
    for key, map_name, reduce_name, top in (("count", "count", "sum", 1), ("minute", "minute", "sum", 0),
                                            ("lang", "lang", "sum", 10), ("hashtags", "hashtags", "topk:10", 10),
                                            ("authors", "authors", "topk:10", 10)):
        result = run_apply(ctx, job, map_name, reduce_name, None, upto, top=top, by="collected")
        assert isinstance(result, ApplyResult)
        parts[key] = result
    per_minute = sorted(parts["minute"].result, key=lambda kv: kv[0])
    return StatReport(job, parts["count"].objects, per_minute, parts["lang"].result, parts["hashtags"].result,
                      parts["authors"].result)


@command("disk", Arg("job", "job_or_file"), help="a job's files, objects, bytes, oldest and newest, quarantined "
         "files, share of jobMaxSize", example="disk @last")
def disk(ctx: Context, values: dict[str, Any]) -> DiskReport:
    """Storage use of one job."""
    job = _job_or_file(ctx, values["job"])
    s = _call(ctx.services.collector, "jobStatus", jobId=job)
    pins = _call(ctx.services.dispatch, "listSnapshots", jobId=job)  # what kept snapshots pin (issue 20)
    return DiskReport(job, s["files"], s["objects"], s["bytes"], s.get("oldestId"), s.get("newestId"),
                      s.get("quarantined", 0), s.get("maxSize"),
                      {"bytes": pins["pinnedBytes"], "files": pins["pinnedFiles"], "by": pins["pinnedBy"]})


@command("jobMaxSize", Arg("size", "size", optional=True), Arg("jobId", "job", optional=True),
         options=(Option("yes", flag=True, help="delete without asking (scripts)"),
                  Option("all", flag=True, help="set the cap on every live job (needed when no job is named)")),
         help="show or set the retention cap in bytes (10000, 10kB, 2GiB); a cap that deletes files asks first",
         example="jobMaxSize 10MB @last",
         details="A cap that would delete files says how many files and bytes of which jobs, and asks; in a "
                 "script it refuses unless --yes (nothing is deleted or changed). Every live job: --all.")
def job_max_size(ctx: Context, values: dict[str, Any]) -> SizeReport:
    """Keep the newest files that fit in the cap; delete the oldest, once the user agreed."""
    collector = ctx.services.collector
    rows = _status_rows(ctx)
    if "size" in values and values["size"] != "show":
        try:
            size = parse_size(values["size"])
        except ValueError as exc:
            raise CommandError(f"jobMaxSize: {exc}") from None
        if "jobId" in values:
            targets = [ctx.job(values["jobId"])]
        elif values.get("all"):
            targets = [r["jobId"] for r in rows if r["state"] in ("running", "paused")]
        else:
            raise CommandError("jobMaxSize: name a job (jobMaxSize SIZE JOBID), or add --all to cap every live job")
        if not targets:
            raise CommandError("jobMaxSize: no live job to set it on; name a job")
        previews = [_call(collector, "setJobMaxSize", jobId=job, maxSize=size, dryRun=True) for job in targets]
        doomed = [p for p in previews if p["wouldDeleteFiles"]]
        if doomed and not values.get("yes"):
            what = "; ".join(f"{p['jobId']}: {p['wouldDeleteFiles']:,} files, {format_size(p['wouldDeleteBytes'])}"
                             for p in doomed)
            files = sum(p["wouldDeleteFiles"] for p in doomed)
            question = f"jobMaxSize {format_size(size)} deletes {files:,} files now ({what})"
            if ctx.confirm is None:
                raise CommandError(f"{question}; nothing was changed: add --yes to do it in a script")
            if not ctx.confirm(f"{question}. Delete them?"):
                raise CommandError("jobMaxSize: nothing was changed")
        out = []
        for job in targets:
            reply = _call(collector, "setJobMaxSize", jobId=job, maxSize=size)
            status = _call(collector, "jobStatus", jobId=job)
            out.append({"jobId": job, "maxSize": reply["maxSize"], "bytes": status["bytes"], "files": status["files"],
                        "deletedFiles": reply["deletedFiles"], "deletedBytes": reply.get("deletedBytes", 0)})
        return SizeReport(out)
    wanted = {ctx.job(values["jobId"])} if "jobId" in values else None
    return SizeReport([{"jobId": r["jobId"], "maxSize": r.get("maxSize"), "bytes": r["bytes"], "files": r["files"],
                        "deletedFiles": 0, "deletedBytes": 0}
                       for r in rows if wanted is None or r["jobId"] in wanted])


# -- services and the shell ---------------------------------------------------

@command("services", help="whether the collector and Dispatch answer, and where")
def services(ctx: Context, values: dict[str, Any]) -> ServiceReport:
    """Status of both services."""
    return ServiceReport(ctx.services.status())


@command("up", help="start the collector and Dispatch in the background if they are not running")
def up(ctx: Context, values: dict[str, Any]) -> Message:
    """Start both services."""
    return Message("; ".join(ctx.services.start(name) for name in SERVICE_NAMES))


@command("down", help="stop the collector and Dispatch gracefully (jobs and standing reductions resume on 'up')")
def down(ctx: Context, values: dict[str, Any]) -> Message:
    """Stop both services."""
    return Message("; ".join(ctx.services.stop(name) for name in reversed(SERVICE_NAMES)))


@command("config", help="the effective configuration and where each value came from")
def config(ctx: Context, values: dict[str, Any]) -> ConfigReport:
    """Every setting."""
    return ConfigReport([(key, ("(set)" if value else "(none)") if key in SECRETS else value, ctx.config.sources[key])
                         for key, value in ctx.config.values.items()])


@command("keys init", Arg("folder", "file", optional=True), options=(Option("force", flag=True,
         help="replace existing keys"),), help="create CurveZMQ server and client keys (default: "
         "$XDG_CONFIG_HOME/nectar/keys); then set keys = \"<folder>\" in the config")
def keys_init(ctx: Context, values: dict[str, Any]) -> Message:
    """Make the key folder that lets the services bind beyond loopback safely."""
    folder = Path(values["folder"]).expanduser() if "folder" in values else config_dir() / "keys"
    try:
        init_keys(folder, force=values.get("force", False))
    except FileExistsError as exc:
        raise CommandError(str(exc)) from None
    return Message(f"keys written to {folder} (secret keys readable by you only); add keys = \"{folder}\" to "
                   f"{config_dir() / 'config.toml'} and pass --keys {folder} to services you run by hand",
                   {"folder": str(folder)})


@command("sleep", Arg("seconds", "seconds"), help="wait (in scripts, to let a job collect)", example="sleep 3")
def sleep(ctx: Context, values: dict[str, Any]) -> Message:
    """Pause a script."""
    seconds = _whole(values["seconds"], "seconds")
    ctx.sleep(seconds)
    return Message(f"waited {seconds} s")


@command("help", Arg("command", "command", optional=True),
         help="list the commands, or explain one; 'help functions' lists the map and reduce functions, "
              "'help <function>' explains one")
def help_(ctx: Context, values: dict[str, Any]) -> HelpText | FunctionList:
    """The command table from the registry."""
    name = values.get("command")
    if name is None:
        return HelpText(help_table(), "'help functions' lists the map and reduce functions")
    matches = [c for c in COMMANDS.values() if c.name == name or c.words[0] == name]
    if name == "functions" or not matches:
        reply = _call(ctx.services.dispatch, "functions")
        every = reply["maps"] + reply["reduces"]
        if name == "functions":
            return FunctionList(every)
        family = name.split(":")[0]
        found = [f for f in every if f["name"] == name or f["name"].split(":")[0] == family]
        if not found:
            raise CommandError(f"help: no command or function {name!r}; 'help' lists the commands, "
                               f"'help functions' the functions")
        return FunctionList(found)
    details = "\n".join(filter(None, [m.details for m in matches] + [f"example: {m.example}" for m in matches
                                                                     if m.example]))
    options = "\n".join(f"  --{o.name}: {o.help}" for m in matches for o in m.options)
    return HelpText([(usage(m), m.help) for m in matches], "\n".join(filter(None, [details, options])))


@command("quit", help="leave the shell (Ctrl-D too); the services keep running")
def quit_(ctx: Context, values: dict[str, Any]) -> Message:
    """Leave."""
    return Message("bye", quit=True)


def _whole(value: str, name: str) -> int:
    if not str(value).isdigit():
        raise CommandError(f"{name} must be a whole number, got {value!r}")
    return int(value)
