"""Every command through the real ``nectar`` command line with --json, and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import wait_for
from shell_helpers import ShellWorld, run_json, write_job

# the meta-test (test_shell_registry.py) checks that every registered command appears here
COMMAND_TESTS = {
    "start": "test_start_show_stop", "stop": "test_start_show_stop", "show jobs": "test_start_show_stop",
    "show": "test_start_show_stop", "show cache": "test_show_cache", "apply": "test_apply_batch_and_standing",
    "cancel": "test_apply_batch_and_standing", "stat": "test_stat_and_disk", "disk": "test_stat_and_disk",
    "jobMaxSize": "test_job_max_size", "services": "test_services_config_help",
    "config": "test_services_config_help", "help": "test_services_config_help", "quit": "test_script_and_stdin",
    "sleep": "test_script_and_stdin", "up": "test_up_and_down", "down": "test_up_and_down",
    "keys init": "test_keys_init", "show applies": "test_shell_applies:test_show_applies_and_show_one_apply",
    "search": "test_search", "web": "test_web_verb_serves_until_interrupted",
    "snapshot": "test_snapshots_verify_and_watch", "show snapshots": "test_snapshots_verify_and_watch",
    "snapshot diff": "test_snapshots_verify_and_watch", "snapshot verify": "test_snapshots_verify_and_watch",
    "snapshot drop": "test_snapshots_verify_and_watch", "verify": "test_snapshots_verify_and_watch",
    "watch": "test_snapshots_verify_and_watch",
    "ingest": "test_books:test_ingest_word_count_and_specifier_through_the_shell",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    world = ShellWorld(tmp_path_factory.mktemp("shell"))
    write_job(world.base)
    yield world
    world.close()



@pytest.fixture(scope="module")
def job(world) -> str:
    started = run_json(world, "start", "job.json")
    wait_for(lambda: run_json(world, "disk", started["jobId"])["objects"] >= 100, what="objects")
    return started["jobId"]


def test_start_show_stop(world, job) -> None:
    started = run_json(world, "start", "job.json")
    assert started["job"]["type"] == "data.collector.job" and started["attached"] is True
    jobs = run_json(world, "show", "jobs")["jobs"]
    assert {job, started["jobId"]} <= {j["jobId"] for j in jobs}
    row = next(j for j in jobs if j["jobId"] == job)
    assert row["source"] == "synthetic" and row["state"] == "running" and row["objects"] > 0
    detail = run_json(world, "show", job)
    assert detail["request"]["jobName"] == "shell test"
    assert detail["status"]["typeReturned"] == "data.tweet-biden-harris"
    assert run_json(world, "stop", started["jobId"])["state"] == "stopped"


def test_apply_batch_and_standing(world, job) -> None:
    batch = run_json(world, "apply", "count", "sum", job, "--top", "0")
    assert batch["state"] == "done" and batch["objects"] > 0
    assert batch["result"] == [["data.tweet-biden-harris", batch["objects"]]]
    standing = run_json(world, "apply", "hashtags", "sum", job, "-1h", "now", "--for", "1")
    assert standing["state"] == "standing" and standing["to"] == "now" and standing["result"]
    detail = run_json(world, "show", job)
    assert standing["apply"] in [a["applyId"] for a in detail["standing"]]
    assert run_json(world, "cancel", standing["apply"])["state"] == "cancelled"


def test_show_cache(world, job) -> None:
    cache = run_json(world, "show", "cache")
    assert job in [j["jobId"] for j in cache["jobs"]] and cache["maxObjects"] > 0


def test_stat_and_disk(world, job) -> None:
    stat = run_json(world, "stat", job)
    assert stat["objects"] > 0 and sum(v for _, v in stat["perMinute"]) == stat["objects"]
    assert stat["languages"] and stat["hashtags"] and stat["authors"]
    disk = run_json(world, "disk", "job.json")  # a job file names the job it started
    assert disk["job"] == job or disk["files"] > 0
    disk = run_json(world, "disk", job)
    assert disk["files"] > 0 and disk["objects"] > 0 and disk["quarantined"] == 0


def test_job_max_size(world, job) -> None:
    before = run_json(world, "disk", job)["bytes"]
    cap = max(2000, before // 2)
    changed = run_json(world, "jobMaxSize", str(cap), job, "--yes")["jobs"][0]
    assert changed["maxSize"] == cap and changed["deletedFiles"] > 0 and changed["bytes"] <= cap
    assert run_json(world, "jobMaxSize", "show", job)["jobs"][0]["maxSize"] == cap
    assert run_json(world, "jobMaxSize", "2GiB", job)["jobs"][0]["maxSize"] == 2 * 2**30
    assert run_json(world, "jobMaxSize", "10kB", job, "--yes")["jobs"][0]["maxSize"] == 10_000


def test_services_config_help(world) -> None:
    rows = run_json(world, "services")["services"]
    assert [r["service"] for r in rows] == ["collector", "dispatch"] and all(r["up"] for r in rows)
    config = run_json(world, "config")["config"]
    assert config["collector"] == {"value": world.collector.endpoint, "source": "$NECTAR_COLLECTOR"}
    assert config["workers"]["source"] == "default"
    commands = run_json(world, "help")["commands"]
    assert any(c["usage"].startswith("apply mapFun reduceFun jobId [fromDate [toDate]]") for c in commands)


def test_script_and_stdin(world, job) -> None:
    script = world.base / "s.nectar"
    script.write_text("# a comment\nsleep 0\nshow jobs\nquit\nshow jobs\n")
    done = world.nectar("-f", str(script))
    assert done.returncode == 0 and done.stdout.count("\njobs ") == 1  # quit ended the script (one table title)
    piped = world.nectar("--json", stdin=f"disk {job}\nservices\n")
    documents = [json.loads(line) for line in piped.stdout.splitlines() if line.startswith("{")]
    assert piped.returncode == 0 and documents[0]["job"] == job and "services" in documents[1]
    both = world.nectar("--json", "-c", f"disk {job}; services")
    assert both.returncode == 0 and len(both.stdout.strip().splitlines()) == 2


def test_up_and_down(tmp_path) -> None:
    """up starts both services in the background; down stops them gracefully. Run from a folder holding a
    NOM_ROOT named ./nom and a ./dispatch folder: neither may stand in for Nectar's packages of those names."""
    import os
    import socket

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    (tmp_path / "dispatch").mkdir()
    env = {**os.environ, "NOM_ROOT": "nom", "XDG_STATE_HOME": str(tmp_path / "state"),
           "NECTAR_COLLECTOR": f"tcp://127.0.0.1:{free_port()}", "NECTAR_DISPATCH": f"tcp://127.0.0.1:{free_port()}"}
    import subprocess
    import sys

    def nectar(*args):
        return subprocess.run([sys.executable, "-P", "-m", "nectar.cli", "--json", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    up = nectar("up")
    try:
        assert up.returncode == 0 and "started collector" in json.loads(up.stdout)["message"]
        assert all(r["up"] for r in json.loads(nectar("services").stdout)["services"])
        assert (tmp_path / "state" / "nectar" / "collector.pid").exists()
        assert (tmp_path / "nom").is_dir()  # the store, where NOM_ROOT said
    finally:
        down = nectar("down")
    assert down.returncode == 0 and "stopped collector" in json.loads(down.stdout)["message"]
    assert not any(r["up"] for r in json.loads(nectar("services").stdout)["services"])


@pytest.mark.parametrize(("args", "message"), [
    (("launch",), "unknown command 'launch'"),
    (("apply", "words"), "apply takes 3 to 5 arguments, got 1"),
    (("stop",), "stop takes 1 argument, got 0"),
    (("start", "missing.json"), "missing.json: no such job file"),
    (("start", "broken.json"), "broken.json, line 3, column"),
    (("start", "badfield.json"), "badfield.json, line 3: collectorObjectsPerFile must be an integer from 1"),
    (("disk", "no-such-job"), "no job 'no-such-job'"),
    (("show", "../etc"), "jobId must be"),
    (("jobMaxSize", "ten"), "'ten' is not a size"),
    (("apply", "words", "sum", "JOB", "next week"), "fromDate 'next week' is not a date"),
    (("apply", "nosuch", "sum", "JOB"), "map 'nosuch' is neither a built-in"),
    (("apply", "words", "sum", "JOB", "--bogus", "1"), "unknown option --bogus"),
])
def test_bad_input_prints_one_line_to_stderr_and_fails(world, job, args, message) -> None:
    (world.base / "broken.json").write_text('{\n  "jobName": "x",\n  "collectorObjectsPerFile": ,\n}\n')
    write_job(world.base, "badfield.json", collectorObjectsPerFile=0)
    for json_mode in (True, False):
        done = world.nectar(*(["--json"] if json_mode else []), *[a.replace("JOB", job) for a in args])
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], done.stderr
        assert done.stdout == ""


def test_keys_init(world) -> None:
    import os

    done = run_json(world, "keys", "init")
    folder = Path(done["folder"])
    assert folder == world.base / "config" / "nectar" / "keys"
    assert oct(os.stat(folder / "server.key_secret").st_mode & 0o777) == "0o600"
    assert oct(os.stat(folder / "client.key_secret").st_mode & 0o777) == "0o600"
    assert (folder / "authorized" / "client.key").exists()
    again = world.nectar("keys", "init")
    assert again.returncode == 1 and "already holds keys" in again.stderr


def test_search(world) -> None:
    # a job of its own: test_job_max_size's retention may drop the shared job's files
    write_job(world.base, "search.json", source={"kind": "synthetic", "rate": None, "seed": 3, "count": 300})
    job = run_json(world, "start", "search.json")["jobId"]
    wait_for(lambda: run_json(world, "disk", job)["objects"] >= 300, what="300 objects")
    built = run_json(world, "apply", "words", "index", job, "--top", "3")
    assert built["state"] == "done" and built["keys"] > 0
    term, value = built["result"][0]
    assert value["df"] == len(value["postings"]) and value["cf"] >= value["df"]
    found = run_json(world, "search", job, term, "--limit", "3")
    assert found["total"] == value["df"] and "BM25" in found["ranking"] and 0 < len(found["hits"]) <= 3
    for hit in found["hits"]:
        assert hit["id"] in {p[0] for p in value["postings"]}
        for start, end in hit["highlights"]:  # the offsets mark the term in the snippet
            assert hit["snippet"][start:end].casefold() == term
    shown = world.nectar("search", job, term, "--limit", "1")
    assert shown.returncode == 0 and f"{found['total']:,} hits" in shown.stdout
    bad = world.nectar("search", job, '"unclosed phrase')
    assert bad.returncode != 0 and "not closed" in bad.stderr
    none = world.nectar("search", "no-such-job", term)
    assert none.returncode != 0 and "no-such-job" in none.stderr


def test_snapshots_verify_and_watch(world) -> None:
    """Issue 20 through the shell: snapshot, show snapshots, apply --at with provenance, verify, diff, snapshot
    verify, disk's pinned bytes, watch, snapshot drop."""
    write_job(world.base, "snapjob.json", jobName="snapshot test")
    job = run_json(world, "start", "snapjob.json")["jobId"]
    wait_for(lambda: run_json(world, "disk", job)["files"] >= 3, what="files")
    s1 = run_json(world, "snapshot", job, "--name", "s1")
    assert len(s1["id"]) == 64 and s1["files"] >= 3 and s1["names"] == ["s1"]
    listed = run_json(world, "show", "snapshots", job)
    assert [s["id"] for s in listed["snapshots"]] == [s1["id"]] and listed["pinnedBytes"] == s1["bytes"]
    at = run_json(world, "apply", "count", "sum", job, "--at", "s1")
    assert at["objects"] == s1["objects"] and at["provenance"]["inputs"]["snapshot"] == s1["id"]
    assert at["provenance"]["nectar"] and at["provenance"]["resultSha256"]
    shown = world.nectar("show", at["apply"])
    assert shown.returncode == 0 and s1["id"] in shown.stdout and "provenance" in shown.stdout  # show <applyId>
    checked = run_json(world, "verify", at["apply"])
    assert checked["identical"] is True and checked["snapshot"] == s1["id"] and checked["sourceChanged"] == []
    wait_for(lambda: run_json(world, "disk", job)["files"] > s1["files"], what="more files")
    s2 = run_json(world, "snapshot", job, "--name", "s2")
    assert s2["parent"] == s1["id"] and s2["addedFiles"] > 0
    diff = run_json(world, "snapshot", "diff", "s1", s2["short"])
    assert len(diff["added"]) == s2["addedFiles"] and diff["removed"] == []
    assert run_json(world, "snapshot", "verify", "s1")["ok"] is True
    disk = run_json(world, "disk", job)
    assert disk["pinned"]["bytes"] == s2["bytes"] and {p["id"] for p in disk["pinned"]["by"]} == {s1["id"], s2["id"]}
    watched = world.nectar("--json", "watch", job, "--for", "2")
    assert watched.returncode == 0, watched.stderr
    lines = [json.loads(line) for line in watched.stdout.splitlines()]
    files = [f["name"] for e in lines[:-1] if e.get("kind") == "files" for f in e["files"]]
    assert files and files == sorted(set(files)) and lines[-1]["files"] == len(files)
    dropped = run_json(world, "snapshot", "drop", "s1")
    assert dropped["dropped"] is True and run_json(world, "show", "snapshots", job)["snapshots"][0]["id"] == s2["id"]
    bad = world.nectar("snapshot", "verify", "nosuchsnapshot")
    assert bad.returncode != 0 and "no snapshot 'nosuchsnapshot'" in bad.stderr
    run_json(world, "stop", job)


def test_web_verb_serves_until_interrupted(world) -> None:
    import signal
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "nectar.cli", "web", "--port", "0"], cwd=world.base,
                            env=world.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("nectar-web: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[1]
        with urllib.request.urlopen(url + "api/v1/health", timeout=20) as reply:
            health = json.loads(reply.read())
        assert health["services"]["collector"]["endpoint"] == world.collector.endpoint
        assert health["services"]["dispatch"]["up"] is True
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "web stopped" in out
    finally:
        proc.kill()
    refused = world.nectar("web", "--host", "0.0.0.0")
    assert refused.returncode != 0 and "token" in refused.stderr
