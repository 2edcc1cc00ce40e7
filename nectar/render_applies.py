"""Rendering applies (issue 18): times, an apply's clock and span, ``show applies`` and ``show <applyId>``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from nectar.results import ApplyDetail, ApplyList, ApplyResult, FunctionList, JobList
from nectar.sizes import format_size

__all__ = ["empty_range_text", "is_stats", "range_text", "result_table", "show_apply_detail", "show_apply_list",
           "problem_lines", "show_functions", "show_job_list", "span_text", "value_text", "when"]


def when(ns: int | None) -> str:
    """A NOM id as a UTC time."""
    if not ns:
        return "-"
    return datetime.fromtimestamp(ns // 10**9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def span_text(result: ApplyResult) -> str:
    """``written 2021-01-01 00:00:00 .. 2021-12-31 23:59:59``: the clock and the span of a result."""
    start = when(result.from_id) if result.from_id else "start"
    end = "now" if result.to_id == "now" else when(result.to_id) if result.to_id else "end"
    return f"{result.by} {start} .. {end}"


def empty_range_text(result: ApplyResult) -> str:
    """What a range that selected nothing says: the job's oldest and newest times by both clocks."""
    span = result.job_span or {}
    parts = []
    for clock in ("written", "collected"):
        low, high = (span.get(clock) or [None, None])[:2]
        parts.append(f"{clock} {when(low)} .. {when(high)}" if low is not None else f"{clock}: none recorded")
    other = "collected" if result.by == "written" else "written"
    return (f"no objects of {result.job} {span_text(result)} (apply {result.apply_id}); the job holds objects "
            f"{'; '.join(parts)}. Change the dates, or use --by {other} for the other clock.")


def range_text(a: dict[str, Any]) -> str:
    """An apply's clock and span, from a status reply."""
    start = when(a.get("from")) if a.get("from") else "start"
    end = "now" if a.get("to") == "now" else when(a.get("to")) if a.get("to") else "end"
    return f"{a.get('by', 'collected')} {start} .. {end}"


def value_text(value: Any) -> str:
    """A result value in a cell: numbers with separators, anything else as compact JSON."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def show_apply_list(console: Console, result: ApplyList) -> None:
    """``show applies``: one row an apply; the id and job columns are never cut."""
    table = Table(title="applies", title_justify="left")
    for column in ("apply", "state", "map", "reduce", "job", "range", "objects", "engine", "started"):
        table.add_column(column, justify="right" if column == "objects" else "left", no_wrap=column in ("apply", "job"))
    for a in result.applies:
        started = datetime.fromtimestamp(a.get("created", 0), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(a["applyId"], a["state"], a["map"], a["reduce"], a["job"], range_text(a),
                      f"{a.get('objects', 0):,}", a.get("engine", ""), started)
    console.print(table)
    hidden = result.finished - sum(1 for a in result.applies if a["state"] not in ("running", "standing"))
    if hidden > 0:
        console.print(f"{hidden} older finished applies not shown ('show applies --all')", style="dim")
    if not result.applies:
        console.print("no applies yet: 'apply mapFun reduceFun jobId' starts one")


_SHOWN = {"applyId", "job", "map", "reduce", "from", "to", "by", "state", "objects", "engine", "result", "keys",
          "standing", "created", "files", "total"}


def show_apply_detail(console: Console, result: ApplyDetail) -> None:
    """``show <applyId>``: what it is and was computed over, any other field Dispatch reports, its latest result."""
    a = result.reply
    console.print(f"apply {a['applyId']}: {a['map']} {a['reduce']} over {a['job']}, {range_text(a)}; "
                  f"{a['state']}, {a.get('objects', 0):,} objects from {a.get('files', 0):,} files, "
                  f"{a.get('engine', '')} engine")
    for key, value in a.items():  # whatever else Dispatch reports (provenance, lag, errors), generically
        if key in _SHOWN or value is None or value == {} or value == []:
            continue
        text = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
        console.print(f"  {key}: {text}")
    rows = a.get("result")
    if rows:
        table = Table(title=f"latest result ({a.get('keys', len(rows)):,} keys)", title_justify="left")
        table.add_column("key", no_wrap=True)
        table.add_column("value", justify="right")
        for key, value in rows:
            table.add_row(str(key), value_text(value))
        console.print(table)


def show_functions(console: Console, result: FunctionList) -> None:
    """``help functions``: what each map emits and the functions it makes sense with (Dispatch's catalog)."""
    table = Table(title="functions ('apply MAP REDUCE jobId'; your own: package.module:function)",
                  title_justify="left")
    for column in ("function", "kind", "what it does", "emits", "makes sense with"):
        table.add_column(column, no_wrap=column == "function", overflow="fold")
    for f in result.functions:
        table.add_row(f["name"], f["kind"], f["summary"], f["emits"], ", ".join(f["pairsWith"]))
    console.print(table)
    for f in result.functions:
        if len(result.functions) <= 3 and f.get("example"):
            console.print(f"example: {f['example']}")


def is_stats(rows: list[list[Any]]) -> bool:
    """True when every value is a dict of numbers with the same keys (a ``stats`` result)."""
    first = rows[0][1] if rows else None
    return isinstance(first, dict) and all(isinstance(v, dict) and v.keys() == first.keys() and all(
        isinstance(x, (int, float)) for x in v.values()) for _, v in rows)


TIME_MAPS = ("day", "hour", "minute")  # their keys are times: shown in time order, with bars


def _bar(value: float, peak: float, width: int = 30) -> str:
    if peak <= 0 or value <= 0:
        return ""
    eighths = round(width * 8 * value / peak)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def sparkline(values: list[float]) -> str:
    """Values as a one-line sparkline (▁ to █)."""
    top = max(values, default=0)
    return "".join("▁▂▃▄▅▆▇█"[min(7, int(8 * v / top))] if top > 0 and v > 0 else " " for v in values)


def result_table(result: ApplyResult) -> Table:
    """An apply's rows: key and value (time keys in time order, with bars; bars too with ``--plot``), or for
    ``stats`` one rounded column per figure."""
    table = Table()
    table.add_column("key", overflow="fold")
    rows = result.result
    timed = result.map in TIME_MAPS
    if timed:
        rows = sorted(rows, key=lambda kv: str(kv[0]))
    numeric = rows and all(isinstance(v, (int, float)) and not isinstance(v, bool) for _, v in rows)
    if (timed or result.plot) and numeric:
        peak = max(float(v) for _, v in rows)
        table.add_column("value", justify="right")
        table.add_column("", no_wrap=True)
        for key, value in rows:
            table.add_row(str(key), value_text(value), _bar(float(value), peak))
        if timed and len(rows) > 1:
            table.caption = f"{rows[0][0]} {sparkline([float(v) for _, v in rows])} {rows[-1][0]}"
        return table
    if is_stats(rows):
        names = list(rows[0][1])
        for name in names:
            table.add_column(name, justify="right", no_wrap=True)
        for key, value in rows:
            table.add_row(str(key), *(value_text(round(value[n], 4) if isinstance(value[n], float) else value[n])
                                      for n in names))
        return table
    table.add_column("value", justify="right")
    for key, value in rows:
        shown = value_text(value)
        table.add_row(str(key), shown if len(shown) <= 80 else shown[:79] + "…")
    return table


def show_job_list(console: Console, result: JobList) -> None:
    """``show jobs``."""
    # the job id is what a user types next: never cut. On a narrower screen the name wraps, and the
    # columns that matter least drop (newest, source, rate, then the name)
    rows = [{"job": job["jobId"], "name": job.get("jobName", ""), "source": job.get("source", ""),
             "state": job.get("state", ""), "objects": f"{job.get('objects', 0):,}",
             "files": f"{job.get('files', 0):,}", "bytes": format_size(job.get("bytes")),
             "rate/s": f"{job.get('rate', 0):,.0f}", "newest": when(job.get("newestId"))} for job in result.jobs]
    columns = ["job", "name", "source", "state", "objects", "files", "bytes", "rate/s", "newest"]
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in columns}
    for dropped in ("newest", "source", "rate/s", "name"):
        fixed = sum(widths[c] + 3 for c in columns if c != "name") + 1
        room = console.width - fixed - (3 if "name" in columns else 0)
        if room >= (min(widths["name"], 12) if "name" in columns else 0):
            break
        columns.remove(dropped)
    table = Table(title="jobs", title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in ("objects", "files", "bytes", "rate/s") else "left",
                         no_wrap=column != "name", min_width=None if column == "name" else widths[column],
                         overflow="fold" if column == "name" else "ellipsis")
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    console.print(table)
    if result.hidden:
        console.print(f"{result.hidden} result jobs not shown ('show jobs --all' lists them)", style="dim")


def problem_lines(status: dict[str, Any]) -> list[str]:
    """What went wrong while a job collected (a replay's skipped pages and bad lines, duplicates, warnings), and
    why a finished job stored nothing."""
    lines = []
    skipped, duplicates = status.get("skippedRecords") or 0, status.get("duplicates") or 0
    if skipped:
        lines.append(f"skipped {skipped:,} records of the source (pages that hold no tweets, lines that are not JSON)")
    if duplicates:
        lines.append(f"left out {duplicates:,} duplicates (tweet ids seen already)")
    lines += [f"warning: {w}" for w in status.get("warnings") or []]
    if status.get("state") in ("finished", "stopped", "failed") and not status.get("objects"):
        why = "; ".join(lines) or status.get("lastError") or "its source gave no objects"
        lines.insert(0, f"stored no objects: {why}")
    return lines

