"""The one module that prints: results become rich tables, charts and live views, or JSON with ``--json``."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from functools import singledispatchmethod
from typing import Any

import orjson
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from nectar import commands
from nectar.formats import to_text
from nectar.render_applies import (
    empty_range_text,
    problem_lines,
    result_table,
    show_apply_detail,
    show_apply_list,
    show_functions,
    show_job_list,
    span_text,
    when,
)
from nectar.results import (
    ApplyDetail,
    ApplyList,
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
    Result,
    ServiceReport,
    SizeReport,
    StandingView,
    StatReport,
)
from nectar.sizes import format_size
from nectar.verbs_search import SearchResult
from nectar.verbs_snapshots import SnapshotDiff, SnapshotInfo, SnapshotList, SnapshotVerify, Verification, WatchView

__all__ = ["Renderer", "ProgressBar", "SafeConsole", "escape_controls"]

# Control characters (C0, DEL, C1) and the bidirectional overrides: a string from a job request, a tweet or a
# service reply that holds them could move the cursor, clear or retitle the terminal, or reorder what is shown.
_CONTROLS = [*range(0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
             *range(0x2066, 0x206A)]
_ESCAPES = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _CONTROLS}
_ESCAPES.update({ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"})


def escape_controls(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``), so that it prints as it is."""
    return text.translate(_ESCAPES)


class SafeConsole(Console):
    """A rich Console that shows control characters in strings escaped: every string printed, and every table
    cell and title, passes through ``render_str``, so no user-controlled string reaches the terminal raw."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        """Escape control characters (a newline stays a line break: our own messages have several lines)."""
        return super().render_str("\n".join(escape_controls(line) for line in text.split("\n")), **kwargs)


class ProgressBar(commands.Progress):
    """A rich progress bar for applies, shown only on a terminal and only once work takes a moment."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar: Progress | None = None
        self.task: Any = None
        self.started = time.monotonic()
        self.label = "apply"

    def begin(self, apply_id: str) -> None:
        """Show the apply's id on the bar (and that Ctrl-C cancels it)."""
        self.label = f"apply {apply_id} (Ctrl-C cancels)"
        if self.bar is not None:
            self.bar.update(self.task, description=self.label)

    def update(self, done: int, total: int, rate: float = 0.0) -> None:
        """Advance the bar (it appears after a quarter second)."""
        if self.bar is None:
            if time.monotonic() - self.started < 0.25 or not self.console.is_terminal:
                return
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("objects"),
                                TextColumn("{task.fields[rate]}/s"), TimeElapsedColumn(), console=self.console,
                                transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total, rate=0)
        self.bar.update(self.task, completed=done, total=total, rate=f"{rate:,.0f}")

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


class Renderer:
    """Shows results on ``console`` (stdout) or as one JSON document each."""

    def __init__(self, console: Console | None = None, *, json_mode: bool = False, interactive: bool = False,
                 fmt: str = "table") -> None:
        self.console = console or SafeConsole(highlight=False, markup=False)  # keys may hold [brackets]
        self.json_mode = json_mode or fmt == "json"
        self.fmt = "json" if json_mode else fmt  # table, tsv, csv or json (nectar.formats)
        self.interactive = interactive

    def error(self, message: str) -> None:
        """One clear line on stderr."""
        print(f"error: {escape_controls(message)}", file=sys.stderr, flush=True)

    def notice(self, message: str) -> None:
        """A side note (a service was started) on stderr, so stdout stays clean for --json."""
        print(escape_controls(message), file=sys.stderr, flush=True)

    def render(self, result: Result) -> None:
        """Print one result."""
        if isinstance(result, StandingView):
            result = self._standing(result)
        if isinstance(result, WatchView):
            result = self._watch(result)
        if self.json_mode:
            sys.stdout.write(orjson.dumps(result.to_json(), option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
            sys.stdout.flush()
            return
        if self.fmt in ("tsv", "csv") and not isinstance(result, (Message, HelpText)):
            sys.stdout.write(to_text(result, self.fmt))
            sys.stdout.flush()
            if isinstance(result, ApplyResult):
                for warning in result.warnings:
                    self.notice(f"warning: {warning}")
            return
        self.show(result)

    def _standing(self, view: StandingView) -> ApplyResult:
        """Watch a standing apply for ``view.seconds`` (None: until Ctrl-C); it keeps running after."""
        if view.seconds == 0:
            return view.first
        deadline = None if view.seconds is None else time.monotonic() + view.seconds
        latest = view.first
        if self.json_mode or not self.console.is_terminal:
            while deadline is not None and time.monotonic() < deadline:
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            return view.fetch()
        try:
            # transient: the last frame goes when the view ends, and the result is printed once after it
            with Live(self._apply_table(latest, live=True), console=self.console, refresh_per_second=4,
                      transient=True) as live:
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(1.0)
                    latest = view.fetch()
                    live.update(self._apply_table(latest, live=True))
        except KeyboardInterrupt:
            self.console.print(f"stopped watching: left apply {view.apply_id} standing (it keeps folding new "
                               f"objects); 'cancel {view.apply_id}' ends it")
            return latest
        self.console.print(f"apply {view.apply_id} keeps standing; 'cancel {view.apply_id}' ends it", style="dim")
        return latest

    def _watch(self, view: WatchView) -> Result:
        """Print a job's events as they come, for ``view.seconds`` (None: until Ctrl-C); then a summary."""
        deadline = None if view.seconds is None else time.monotonic() + view.seconds
        try:
            while deadline is None or time.monotonic() < deadline:
                wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
                for event in view.next(wait):
                    if self.json_mode:
                        sys.stdout.write(orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
                        sys.stdout.flush()
                    else:
                        for line in event_lines(event):
                            self.console.print(line)
        except KeyboardInterrupt:
            pass
        finally:
            view.close()
        c = view.counts
        return Message(f"watched {view.job}: {c['events']} events, {c['files']} files"
                       + (f" ({c['healedFiles']} read back from the store after {c['gaps']} gaps)"
                          if c["gaps"] else ""), {"jobId": view.job, **c})

    @singledispatchmethod
    def show(self, result: Result) -> None:
        """Print a result as a person reads it."""
        self.console.print(result.to_json())

    @show.register
    def _(self, result: Message) -> None:
        self.console.print(result.text)

    @show.register
    def _(self, result: JobStarted) -> None:
        self.console.print(f"started job {result.job_id} ({result.job_name}): {result.source} source, "
                           f"type {result.type_returned}, dispatchPort {result.dispatch_port}, "
                           f"collectorPort {result.collector_port}; Dispatch attached")
        if result.note:
            self.console.print(f"{result.note}", style="dim")

    @show.register
    def _(self, result: JobList) -> None:
        show_job_list(self.console, result)

    @show.register
    def _(self, result: CacheReport) -> None:
        table = Table(title=f"cache: {result.objects:,} of {result.max_objects:,} objects, "
                            f"{format_size(result.bytes)} of {format_size(result.max_bytes)}")
        for column in ("job", "objects", "bytes", "oldest", "newest", "hits", "misses"):
            table.add_column(column)
        for job in result.jobs:
            table.add_row(job["jobId"], f"{job['objects']:,}", format_size(job["bytes"]), when(job["oldestId"]),
                          when(job["newestId"]), str(job["hits"]), str(job["misses"]))
        self.console.print(table)

    @show.register
    def _(self, result: JobDetail) -> None:
        s = result.status
        self.console.print(f"{result.job_id} {s.get('jobName', '')}: {s.get('state')}, "
                           f"{s.get('objects', 0):,} objects in {s.get('files', 0):,} files "
                           f"({format_size(s.get('bytes'))}), newest {when(s.get('newestId'))}")
        if result.request:
            self.console.print("request: " + orjson.dumps(result.request).decode())
        fields = ("typeReturned", "dispatchPort", "collectorPort", "source", "lastError")
        self.console.print("data.collector.job: " + ", ".join(f"{k} {s.get(k)}" for k in fields if s.get(k)))
        for line in problem_lines(s):
            self.console.print(line)
        if result.standing:
            table = Table(title="standing reductions")
            for column in ("apply", "map", "reduce", "objects", "lag (objects)", "last update"):
                table.add_column(column)
            for a in result.standing:
                updated = datetime.fromtimestamp(a.get("lastUpdate", 0), tz=UTC).strftime("%H:%M:%S")
                table.add_row(a["applyId"], a["map"], a["reduce"], f"{a['objects']:,}",
                              f"{a.get('lag', {}).get('objects', 0):,}", updated)
            self.console.print(table)

    def _apply_table(self, result: ApplyResult, live: bool = False) -> Group:
        title = (f"{result.map} {result.reduce} over {result.job}, {span_text(result)}: {result.objects:,} objects, "
                 f"{result.keys:,} keys, {result.engine} engine" + (", standing" if live else "")
                 + (f", filtered by {result.specifier}" if result.specifier else ""))
        return Group(Text(escape_controls(title)), result_table(result))

    @show.register
    def _(self, result: ApplyResult) -> None:
        if not result.objects and result.job_span is not None:
            self.console.print(empty_range_text(result))
            return
        table = self._apply_table(result, live=result.state == "standing")
        if self.interactive and self.console.is_terminal and len(result.result) > self.console.height - 6:
            os.environ.setdefault("LESS", "-R")
            with self.console.pager(styles=True):  # --top 0: long output pages, as every other long output
                self.console.print(table)
        else:
            self.console.print(table)
        extra = f" in {result.seconds:.2f}s" if result.seconds is not None else ""
        skipped = f", {result.skipped} objects skipped" if result.skipped else ""
        self.console.print(f"apply {result.apply_id}{extra}{skipped}", style="dim")
        for line in provenance_lines(result.provenance):
            self.console.print(line, style="dim")
        for warning in result.warnings:
            self.notice(f"warning: {warning}")

    @show.register
    def _(self, result: FunctionList) -> None:
        show_functions(self.console, result)

    @show.register
    def _(self, result: StatReport) -> None:
        self.console.print(f"{result.job}: {result.objects:,} objects")
        if result.per_minute:
            peak = max(v for _, v in result.per_minute) or 1
            self.console.print("objects per minute:")
            for minute, count in result.per_minute[-30:]:
                bar = "█" * max(1, round(40 * count / peak))
                self.console.print(f"  {minute[11:16]} {bar} {count:,}")
        for title, rows in (("languages", result.languages), ("top hashtags", result.hashtags),
                            ("top authors", result.authors)):
            table = Table(title=title)
            table.add_column("key")
            table.add_column("objects", justify="right")
            for key, value in rows:
                table.add_row(str(key), f"{value:,}")
            self.console.print(table)

    @show.register
    def _(self, result: DiskReport) -> None:
        share = f"{100 * result.bytes / result.max_size:.1f}% of {format_size(result.max_size)}" \
            if result.max_size else "no cap"
        table = Table(title=f"disk: {result.job}", show_header=False)
        for key, value in (("files", f"{result.files:,}"), ("objects", f"{result.objects:,}"),
                           ("bytes", format_size(result.bytes)), ("oldest", when(result.oldest_id)),
                           ("newest", when(result.newest_id)), ("quarantined", str(result.quarantined)),
                           ("jobMaxSize", share)):
            table.add_row(key, value)
        if result.pinned is not None:
            table.add_row("pinned", f"{format_size(result.pinned['bytes'])} in {result.pinned['files']:,} files "
                                    f"(kept by {len(result.pinned['by'])} snapshots)")
            for pin in result.pinned["by"]:
                names = f" ({', '.join(pin['names'])})" if pin.get("names") else ""
                table.add_row(f"  snapshot {pin['short']}{names}", f"{format_size(pin['bytes'])} in "
                                                                   f"{pin['files']:,} files")
        self.console.print(table)

    @show.register
    def _(self, result: SizeReport) -> None:
        table = Table(title="jobMaxSize")
        for column in ("job", "max size", "files", "bytes", "deleted files", "deleted bytes"):
            table.add_column(column, no_wrap=column == "job")
        for row in result.rows:
            table.add_row(row["jobId"], format_size(row["maxSize"]) if row["maxSize"] else "no cap",
                          f"{row.get('files', 0):,}", format_size(row["bytes"]), f"{row['deletedFiles']:,}",
                          format_size(row.get("deletedBytes", 0)))
        self.console.print(table)

    @show.register
    def _(self, result: ServiceReport) -> None:
        table = Table(title="services")
        for column in ("service", "endpoint", "state", "pid", "uptime s"):
            table.add_column(column)
        for row in result.rows:
            table.add_row(str(row["service"]), str(row["endpoint"]), "up" if row["up"] else "down",
                          str(row["pid"] or "-"), str(row["uptime"] or "-"))
        self.console.print(table)

    @show.register
    def _(self, result: HelpText) -> None:
        table = Table(show_header=False, box=None)
        for usage_text, help_text in result.rows:
            table.add_row(f"{usage_text}", help_text)
        self.console.print(table)
        if result.details:
            self.console.print(result.details)

    @show.register
    def _(self, result: ConfigReport) -> None:
        table = Table(title="configuration")
        for column in ("setting", "value", "from"):
            table.add_column(column)
        for key, value, source in result.rows:
            table.add_row(key, str(value), source)
        self.console.print(table)

    @show.register
    def _(self, result: SearchResult) -> None:
        self.console.print(Text(escape_controls(
            f"{result.total:,} hits for {result.understood} in {result.job} ({result.documents:,} documents, index "
            f"{result.apply_id}), ranked by {result.ranking}, in {result.seconds * 1000:.1f} ms")))
        for n, hit in enumerate(result.hits, start=result.offset + 1):
            place = ", ".join(f"{k} {hit[k]}" for k in ("book", "paragraph", "line") if k in hit) or \
                ", ".join(f"{k} {hit[k]}" for k in ("author_id", "created_at") if k in hit) or f"id {hit['id']}"
            self.console.print(Text(escape_controls(f"{n}. {place}  (score {hit['score']:.3f}, id {hit['id']})"),
                                    style="bold"))
            snippet = Text(escape_controls(hit.get("snippet", "").replace("\n", " ").replace("\r", " ")))
            for start, end in hit.get("highlights", []):
                snippet.stylize("bold reverse", start, end)
            if hit.get("snippetStart"):
                snippet = Text("…") + snippet
            if hit.get("snippet") and hit["snippetStart"] + len(hit["snippet"]) < hit.get("textLength", 0):
                snippet.append("…")
            self.console.print(snippet)

    @show.register
    def _(self, result: SnapshotInfo) -> None:
        self.console.print(snapshot_line(result.snapshot))

    @show.register
    def _(self, result: SnapshotList) -> None:
        table = Table(title=f"snapshots of {result.job}: {format_size(result.pinned_bytes)} pinned",
                      title_justify="left")
        for column in ("id", "names", "made", "range", "files", "objects", "bytes", "added", "parent", "state"):
            table.add_column(column, justify="right" if column in ("files", "objects", "bytes") else "left")
        for s in result.snapshots:
            state = f"{s['evicted']} files evicted: not reproducible" if s.get("evicted") else "kept"
            table.add_row(s["short"], ", ".join(s.get("names") or []), when(s.get("created")),
                          f"{when(s.get('from'))} .. {when(s.get('to'))}", f"{s['files']:,}", f"{s['objects']:,}",
                          format_size(s["bytes"]), f"+{s['addedFiles']:,} files", (s.get("parent") or "-")[:12], state)
        self.console.print(table)
        for pin in result.pinned_by:
            self.console.print(f"  {pin['short']} pins {pin['files']:,} files, {format_size(pin['bytes'])}")
        for line in result.damaged:
            self.console.print(f"damaged record: {line}")

    @show.register
    def _(self, result: SnapshotDiff) -> None:
        d = result.diff
        self.console.print(f"{d['from'][:12]} -> {d['to'][:12]}: {len(d['added'])} files added, "
                           f"{len(d['removed'])} removed" + (f", {len(d['changed'])} changed" if d["changed"] else ""))
        for sign, items in (("+", d["added"]), ("-", d["removed"])):
            for item in items:
                self.console.print(f"{sign} {item['name']}  ids {item['firstId']}..{item['lastId']}  "
                                   f"{item['count']:,} objects  sha256 {item['sha256'][:12]}")
        for name in d["changed"]:
            self.console.print(f"~ {name}")

    @show.register
    def _(self, result: SnapshotVerify) -> None:
        r = result.report
        if r["ok"]:
            self.console.print(f"snapshot {r['id'][:12]}: all {r['files']:,} files read again, every SHA-256 "
                               "as recorded")
            return
        self.console.print(f"snapshot {r['id'][:12]}: {len(r['changed'])} of {r['files']:,} files changed, "
                           f"{len(r['vanished'])} vanished")
        for item in r["changed"]:
            self.console.print(f"changed: {item['name']} (sha256 {item['found'][:12]}, recorded "
                               f"{item['expected'][:12]}; {item['foundSize']:,} bytes, recorded {item['size']:,})")
        for item in r["vanished"]:
            self.console.print(f"vanished: {item['name']} ({item['reason']})")

    @show.register
    def _(self, result: Verification) -> None:
        v = result.verification
        how = f"re-run {result.rerun_id} on snapshot {(v.get('snapshot') or '-')[:12]} ({v.get('engine')} engine; " \
              f"recorded on {v.get('originalEngine')})"
        if v.get("identical"):
            self.console.print(f"apply {result.apply_id}: identical; {how}, result sha256 "
                               f"{(v.get('resultSha256') or '')[:12]}")
        else:
            recorded = (v.get("originalResultSha256") or "")[:12]
            self.console.print(f"apply {result.apply_id}: DIFFERS; {how}: result sha256 "
                               f"{(v.get('resultSha256') or '')[:12]}, recorded {recorded}")
            d = v.get("differences")
            if d:
                self.console.print(f"  {d['changedValues']} keys with other values, {d['onlyOriginal']} only in the "
                                   f"recorded result, {d['onlyNow']} only in the re-run")
                for key, before, after in d["examples"]:
                    self.console.print(f"  {key}: {before} -> {after}")
        for change in v.get("sourceChanged") or []:
            self.console.print(f"  the {change['function']} function {change['name']} changed since: its source "
                               f"sha256 was {(change['recorded'] or '-')[:12]}, is {(change['now'] or '-')[:12]}")


    @show.register
    def _(self, result: ApplyList) -> None:
        show_apply_list(self.console, result)

    @show.register
    def _(self, result: ApplyDetail) -> None:
        show_apply_detail(self.console, result)

def snapshot_line(s: dict[str, Any]) -> str:
    """One snapshot as a line."""
    names = f" ({', '.join(s['names'])})" if s.get("names") else ""
    return (f"snapshot {s['short']}{names} of {s['job']}: {s['files']:,} files, {s['objects']:,} objects, "
            f"{format_size(s['bytes'])}; +{s['addedFiles']:,} files (+{s['addedObjects']:,} objects), "
            f"-{s['removedFiles']:,} since parent {(s.get('parent') or '-')[:12]}; id {s['id']}")


def event_lines(event: dict[str, Any]) -> list[str]:
    """An event of ``watch`` as lines."""
    at = datetime.fromtimestamp(event["time"] / 1e9, tz=UTC).strftime("%H:%M:%S.%f")[:-3]
    kind = event.get("kind")
    if kind == "files":
        healed = "  (read back from the store)" if event.get("healed") else ""
        return [f"{at} file {f['name']}.json  ids {f['firstId']}..{f['lastId']}  {f['count']:,} objects  "
                f"{format_size(f['bytes'])}  sha256 {f['sha256'][:12]}{healed}" for f in event["files"]]
    if kind == "snapshot":
        return [f"{at} {snapshot_line(event['snapshot'])}"]
    if kind == "result":
        return [f"{at} result of apply {event['applyId']} ({event['map']} {event['reduce']}): "
                f"{event['objects']:,} objects, result sha256 {(event.get('resultSha256') or '')[:12]}, "
                f"chain {(event.get('chain') or '')[:12]}"]
    return [f"{at} {kind}"]


def _utc_seconds(epoch: float) -> str:
    """An epoch time in seconds as UTC, to the second."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def provenance_lines(prov: dict[str, Any] | None) -> list[str]:
    """An apply's provenance (dispatch.provenance) as lines: inputs, functions, engine and version, times."""
    if not prov:
        return []
    inputs = prov.get("inputs") or {}
    source = (f"snapshot {inputs['snapshot']}" if inputs.get("snapshot") else
              f"hash chain {inputs.get('chain') or '-'}")
    functions = ", ".join(f"{part} {(prov.get(part) or {}).get('name')}" + (
        f" (source sha256 {prov[part]['sha256'][:12]})" if (prov.get(part) or {}).get("sha256") else "")
        for part in ("map", "reduce"))
    started, ended = prov.get("started") or 0, prov.get("ended")
    span = (f"ran {_utc_seconds(started)} for {ended - started:.2f}s" if ended else
            f"running since {_utc_seconds(started)}")
    first = when(inputs["from"]) if inputs.get("from") else "the start"
    last = when(inputs["to"]) if inputs.get("to") and inputs["to"] != "now" else "now"
    return [f"provenance: {inputs.get('job')} over {source} ({inputs.get('files', 0):,} files, "
            f"{first} .. {last})",
            f"  {functions}; {prov.get('engine')} engine, Nectar {prov.get('nectar')}; {prov.get('objects', 0):,} "
            f"objects; {span}; result sha256 {(prov.get('resultSha256') or '-')[:16]}"]
