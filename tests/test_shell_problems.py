"""Replay problems shown and smaller things, through the real shell: a relative replay path beside the job
file, skipped pages and a truncated line in show <job>, a job that stored nothing says why, --skip-errors
where every object failed exits non-zero, a key mismatch named as one, the Spark hint."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys

from conftest import TWEETS, wait_for
from shell_helpers import run_json, world_fixture, write_job

world = world_fixture("problems")



def finished(world, job: str) -> bool:
    return run_json(world, "show", job)["status"]["state"] in ("finished", "failed")


def test_a_relative_replay_path_is_beside_the_job_file(world) -> None:
    folder = world.base / "study"
    (folder / "data").mkdir(parents=True)
    shutil.copy(TWEETS / "two_tweets.jsonl", folder / "data" / "two.jsonl")  # a scratch copy, outside the repo
    write_job(folder, "replay.json", source={"kind": "replay", "path": "data/two.jsonl", "rate": None})
    job = run_json(world, "start", "study/replay.json")["jobId"]  # started from the folder above it
    wait_for(lambda: finished(world, job), timeout=30, what="the replay")
    assert run_json(world, "show", job)["status"]["objects"] > 0


def test_show_job_says_what_went_wrong_and_why_nothing_was_stored(world) -> None:
    write_job(world.base, "counts.json", source={"kind": "replay", "path": str(TWEETS / "counts.jsonl"),
                                                 "rate": None})
    job = run_json(world, "start", "counts.json")["jobId"]
    wait_for(lambda: finished(world, job), timeout=30, what="the replay")
    text = " ".join(world.nectar("show", job).stdout.split())
    assert "stored no objects:" in text and "skipped" in text
    write_job(world.base, "stream.json", source={"kind": "replay", "rate": None,
                                                 "path": str(TWEETS / "streaming_output_with_error.jsonl")})
    job = run_json(world, "start", "stream.json")["jobId"]
    wait_for(lambda: finished(world, job), timeout=30, what="the replay")
    text = " ".join(world.nectar("show", job).stdout.split())
    assert "warning:" in text and "truncated" in text


def test_skip_errors_where_every_object_failed_exits_non_zero(world) -> None:
    write_job(world.base, "two.json", source={"kind": "replay", "path": str(TWEETS / "two_tweets.jsonl"),
                                              "rate": None})
    job = run_json(world, "start", "two.json")["jobId"]
    wait_for(lambda: finished(world, job), timeout=30, what="the replay")
    done = world.nectar("apply", "userfuncs.funcs:longest", "sum", job, "--skip-errors")  # a reduce as a map
    assert done.returncode != 0 and "every object failed" in done.stderr
    fine = world.nectar("apply", "count", "sum", job, "--skip-errors")
    assert fine.returncode == 0


def test_a_service_with_other_keys_is_named_as_a_key_mismatch(world, tmp_path) -> None:
    with socket.socket() as listener:  # a service that does not answer this shell (as one with other keys)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        env = {**world.env, "NECTAR_DISPATCH": f"tcp://127.0.0.1:{port}", "XDG_STATE_HOME": str(tmp_path)}
        done = subprocess.run([sys.executable, "-m", "nectar.cli", "show", "cache"], cwd=world.base, env=env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "other keys" in done.stderr and "Address already in use" not in done.stderr


def test_the_spark_hint_works_from_a_clone() -> None:
    from dispatch.engines.spark import INSTALL_HINT

    assert "pip install -e '.[spark]'" in INSTALL_HINT


def test_a_job_that_ends_during_a_session_gets_one_line(world) -> None:
    write_job(world.base, "empty.json", source={"kind": "replay", "path": str(TWEETS / "counts.jsonl"), "rate": None})
    done = world.nectar("-c", "start empty.json; sleep 3; services")
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("job "))
    assert "finished: 0 objects stored" in line and "stored no objects" in line and "skipped" in line
