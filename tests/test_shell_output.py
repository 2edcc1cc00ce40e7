"""Output for people and for scripts, through the real shell: ids never cut at 80 columns, --format tsv/csv,
stats in columns, time keys in time order with bars, --plot, --version."""

from __future__ import annotations

import csv
import io
import re

import pytest

from conftest import TWEETS, wait_for
from shell_helpers import run_json, world_fixture, write_job

world = world_fixture("output")



@pytest.fixture(scope="module")
def job(world) -> str:
    write_job(world.base, "replay.json", searchTerms="brexit referendum european union withdrawal",
              source={"kind": "replay", "path": [str(TWEETS / "brexit.jsonl"), str(TWEETS / "withheld.jsonl")],
                      "rate": None})
    job = run_json(world, "start", "replay.json")["jobId"]
    wait_for(lambda: run_json(world, "show", job)["status"]["state"] == "finished", timeout=30, what="replay")
    run_json(world, "apply", "hashtags", "topk:5", job)  # a result job beside it
    return job


def test_show_jobs_at_80_columns_shows_every_id_whole(world, job) -> None:
    ids = [j["jobId"] for j in run_json(world, "show", "jobs", "--all")["jobs"]]
    assert len(ids) >= 2 and max(len(i) for i in ids) > 30
    narrow = {**world.env, "COLUMNS": "80"}
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "nectar.cli", "show", "jobs", "--all"], cwd=world.base, env=narrow,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert all(len(line) <= 80 for line in done.stdout.splitlines())
    for job_id in ids:
        assert re.search(rf"│ {re.escape(job_id)} +│", done.stdout), job_id


def test_tsv_and_csv_for_scripts(world, job) -> None:
    expected = run_json(world, "apply", "hashtags", "sum", job, "--top", "0")["result"]
    done = world.nectar("--format", "tsv", "apply", "hashtags", "sum", job, "--top", "0")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "key\tvalue"
    assert [line.split("\t") for line in lines[1:]] == [[k, str(v)] for k, v in expected]
    jobs = world.nectar("--format", "csv", "show", "jobs")
    rows = list(csv.DictReader(io.StringIO(jobs.stdout)))
    assert job in {r["jobId"] for r in rows}
    stats = world.nectar("--format", "tsv", "apply", "length", "stats", job).stdout.splitlines()
    assert stats[0].split("\t") == ["key", "count", "sum", "min", "max", "mean", "stddev"]
    assert stats[1].split("\t")[0] == "length"


def test_time_keys_in_time_order_with_bars_and_plot(world, job) -> None:
    hours = run_json(world, "apply", "hour", "sum", job, "--top", "0")["result"]
    assert len(hours) > 2
    text = world.nectar("apply", "hour", "sum", job, "--top", "0").stdout
    shown = re.findall(r"│ (\d{4}-\d\d-\d\dT\d\d:00Z) ", text)
    assert shown == sorted(k for k, _ in hours)  # by time, not by count
    assert "█" in text and any(c in text for c in "▁▂▃▄▅▆▇")  # bars and a sparkline
    days = run_json(world, "apply", "day", "sum", job, "--top", "0")["result"]
    shown_days = re.findall(r"│ (\d{4}-\d\d-\d\d) ", world.nectar("apply", "day", "sum", job, "--top", "0").stdout)
    assert len(days) > 1 and shown_days == sorted(k for k, _ in days)  # the written clock's days, in order
    plain = world.nectar("apply", "hashtags", "topk:5", job).stdout
    plotted = world.nectar("apply", "hashtags", "topk:5", job, "--plot").stdout
    assert "█" not in plain and "█" in plotted


def test_version(world) -> None:
    done = world.nectar("--version")
    assert done.returncode == 0 and re.fullmatch(r"nectar \d+\.\d+\.\d+\S*\n", done.stdout)
