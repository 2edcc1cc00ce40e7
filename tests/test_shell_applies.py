"""Applies through the real shell: Ctrl-C cancels a finite apply for real, show applies, show <applyId>, and
'did you mean' for commands, functions and options."""

from __future__ import annotations

import signal
import sys
import time

import pexpect
import pytest

from conftest import wait_for
from nectar.client import Client
from nom import Store
from shell_helpers import run_json, world_fixture

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()


world = world_fixture("applies")


@pytest.fixture(scope="module")
def big(world) -> str:
    """A job of one million objects, written straight into the store (collecting them would take minutes)."""
    store, job = Store(world.root), "million"
    text = " ".join(WORDS)
    ids = iter(range(1_700_000_000_000_000_000, 1_700_000_000_000_000_000 + 1_000_000))
    for _ in range(100):
        store.commit([(job, [{"id": next(ids), "type": "data.tweet-x", "data": {"text": text}}
                             for _ in range(1000)]) for _ in range(10)])
    return job



def result_files(world) -> list[str]:
    """Every stored result object's apply id."""
    store = Store(world.root)
    return [o["data"]["apply"] for job in store.jobs() if job.startswith("million.") for o in store.scan(job)]


def test_ctrl_c_cancels_a_million_object_apply_and_stores_nothing(world, big) -> None:
    env = {**world.env, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
    child = pexpect.spawn(sys.executable, ["-m", "nectar.cli", "--no-toolbar"], cwd=str(world.base), env=env,
                          encoding="utf-8", codec_errors="replace", timeout=60, dimensions=(50, 160))
    try:
        child.expect_exact("nectar>")
        child.sendline(f"apply words sum {big}")
        child.expect(r"apply ([0-9a-f]{6}) \(Ctrl-C cancels\)")  # the id shows while it runs
        apply_id = child.match.group(1)
        child.sendcontrol("c")
        child.expect(rf"apply {apply_id} cancelled: nothing was stored")
        child.expect_exact("nectar>")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    listed = {a["applyId"]: a for a in run_json(world, "show", "applies")["applies"]}
    assert listed[apply_id]["state"] == "cancelled"
    assert listed[apply_id]["objects"] < 1_000_000
    time.sleep(1.0)  # a result that was going to be stored would be by now
    assert apply_id not in result_files(world)


def test_show_applies_and_show_one_apply(world, big) -> None:
    done = run_json(world, "apply", "count", "sum", big, "--top", "5")
    apply_id = done["apply"]
    listed = run_json(world, "show", "applies")["applies"]
    row = next(a for a in listed if a["applyId"] == apply_id)
    assert (row["map"], row["reduce"], row["state"], row["job"]) == ("count", "sum", "done", big)
    one = run_json(world, "show", apply_id)
    assert one["applyId"] == apply_id and one["result"] == [["data.tweet-x", 1_000_000]] and one["by"] == "written"
    text = world.nectar("show", apply_id)
    assert text.returncode == 0 and f"apply {apply_id}: count sum over {big}" in text.stdout
    assert "data.tweet-x" in text.stdout and "1,000,000" in text.stdout
    table = world.nectar("show", "applies")
    assert apply_id in table.stdout and "count" in table.stdout


def test_a_script_interrupted_cancels_its_apply(world, big) -> None:
    dispatch = Client(world.dispatch.endpoint)
    known = {a["applyId"] for a in dispatch.call("listApplies")["applies"]}
    proc = pexpect.spawn(sys.executable, ["-m", "nectar.cli", "apply", "words", "sum", big], cwd=str(world.base),
                         env=world.env, encoding="utf-8", timeout=60)

    def running() -> list[str]:
        return [a["applyId"] for a in dispatch.call("listApplies")["applies"]
                if a["applyId"] not in known and a["state"] == "running" and a["objects"] > 0]

    started = wait_for(running, timeout=30, interval=0.05, what="the apply folding")  # then interrupt it at once
    proc.kill(signal.SIGINT)
    proc.expect(pexpect.EOF)
    proc.close()
    assert proc.exitstatus != 0 and "cancelled: nothing was stored" in proc.before
    states = {a["applyId"]: a["state"] for a in run_json(world, "show", "applies")["applies"]}
    assert all(states[a] == "cancelled" for a in started)


@pytest.mark.parametrize(("args", "hint"), [
    (("strat", "job.json"), "did you mean"),
    (("apply", "word", "sum", "million"), "did you mean 'words'"),
    (("apply", "words", "summ", "million"), "did you mean 'sum'"),
    (("apply", "words", "sum", "million", "--tpo", "3"), "did you mean --top"),
])
def test_did_you_mean(world, big, args, hint) -> None:
    done = world.nectar(*args)
    assert done.returncode != 0 and hint in done.stderr
    for name in ("listApplies", "listJobs", "jobStatus"):
        assert name not in done.stderr


def test_messages_name_shell_commands_not_protocol_actions(world) -> None:
    done = world.nectar("show", "abcdef")
    assert done.returncode != 0 and "listJobs" not in done.stderr and "listApplies" not in done.stderr
    usage = world.nectar("show")
    assert usage.returncode != 0 and "show jobs" in usage.stderr and "show cache" in usage.stderr
    assert "show applies" in usage.stderr
