"""Safe retention through the real shell: jobMaxSize says what it would delete and asks; scripts need --yes."""

from __future__ import annotations

import json
import sys

import pexpect
import pytest

from conftest import wait_for
from nom.store import is_data_name
from shell_helpers import ShellWorld, write_job


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    world = ShellWorld(tmp_path_factory.mktemp("retention"))
    write_job(world.base, collectorObjectsPerFile=10, source={"kind": "synthetic", "rate": None, "count": 2000,
                                                               "seed": 3})
    yield world
    world.close()


def run(world, *args):
    done = world.nectar("--json", *args)
    return done.returncode, (json.loads(done.stdout) if done.stdout.strip() else None), done.stderr


def data_files(world, job) -> int:
    return sum(1 for p in (world.root / job).iterdir() if is_data_name(p.name))


@pytest.fixture(scope="module")
def job(world) -> str:
    code, started, err = run(world, "start", "job.json")
    assert code == 0, err
    job = started["jobId"]
    wait_for(lambda: run(world, "show", job)[1]["status"]["state"] == "finished", timeout=30, what="2,000 objects")
    return job


def test_a_script_without_yes_refuses_and_deletes_nothing(world, job) -> None:
    before = data_files(world, job)
    assert before == 200
    code, out, err = run(world, "jobMaxSize", "20kB", job)
    assert code != 0 and out is None
    assert "deletes" in err and f"{job}:" in err and "files" in err and "--yes" in err and "nothing was changed" in err
    assert data_files(world, job) == before
    assert run(world, "jobMaxSize", "show", job)[1]["jobs"][0]["maxSize"] is None  # the cap was not set either
    # no job named: capping every live job needs --all
    code, _, err = run(world, "jobMaxSize", "20kB")
    assert code != 0 and "--all" in err
    assert data_files(world, job) == before


def test_yes_deletes_and_the_counts_are_the_files_left(world, job) -> None:
    code, out, err = run(world, "jobMaxSize", "20kB", job, "--yes")
    assert code == 0, err
    row = out["jobs"][0]
    left = data_files(world, job)
    assert 0 < left < 200 and row["deletedFiles"] == 200 - left and row["deletedBytes"] > 0
    assert row["files"] == left and row["bytes"] <= 20_000
    listed = next(j for j in run(world, "show", "jobs")[1]["jobs"] if j["jobId"] == job)
    assert listed["files"] == left  # show jobs counts the files there are, not the files ever written


def test_the_repl_asks_and_no_keeps_everything(world, job) -> None:
    env = {**world.env, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
    child = pexpect.spawn(sys.executable, ["-m", "nectar.cli", "--no-toolbar"], cwd=str(world.base), env=env,
                          encoding="utf-8", codec_errors="replace", timeout=30, dimensions=(50, 160))
    try:
        before = data_files(world, job)
        child.expect_exact("nectar>")
        child.sendline(f"jobMaxSize 5kB {job}")
        child.expect(r"deletes ([\d,]+) files now")
        assert int(child.match.group(1).replace(",", "")) > 0
        child.expect_exact("[y/N]")
        child.sendline("n")
        child.expect_exact("nothing was changed")
        assert data_files(world, job) == before
        child.expect_exact("nectar>")
        child.sendline(f"jobMaxSize 5kB {job}")
        child.expect_exact("[y/N]")
        child.sendline("y")
        child.expect_exact("jobMaxSize")
        child.expect_exact("nectar>")
        wait_for(lambda: data_files(world, job) < before, what="the files deleted")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
