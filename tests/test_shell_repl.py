"""The real nectar REPL through a pseudo-terminal, against real services."""

from __future__ import annotations

import re
import sys
import time

import pexpect
import pytest

from conftest import wait_for
from shell_helpers import ShellWorld, write_job

PROMPT = "nectar>"  # the space after it is drawn as a cursor move


@pytest.fixture
def world(tmp_path):
    world = ShellWorld(tmp_path)
    write_job(world.base, source={"kind": "synthetic", "rate": 300, "seed": 1})
    yield world
    world.close()


def test_repl_session_end_to_end(world) -> None:
    env = {**world.env, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
    # codec_errors="replace": on ^C the tty discards the output it has queued, which can cut a
    # box-drawing character in half; the test reads text, so a torn character must not crash it.
    child = pexpect.spawn(sys.executable, ["-m", "nectar.cli", "--no-toolbar"], cwd=str(world.base), env=env,
                          encoding="utf-8", codec_errors="replace", timeout=30, dimensions=(50, 160))
    try:
        child.expect_exact(PROMPT)
        child.sendline("start job.json")
        child.expect(r"started job (\S+) ")
        job = child.match.group(1)
        child.expect_exact(PROMPT)
        wait_for(lambda: world.collector.call("jobStatus", jobId=job)["objects"] >= 200, what="objects")

        child.sendline("show jobs")
        child.expect_exact(job[:12])
        child.expect_exact(PROMPT)

        child.sendline(f"apply words sum {job}")
        child.expect(r"words sum over " + re.escape(job))
        child.expect(r"apply [0-9a-f]{6} in")
        child.expect_exact(PROMPT)

        child.sendline(f"apply hashtags sum {job} -1h now")
        child.expect("standing")  # the live view
        first = child.after
        time.sleep(2.5)  # it refreshes every second while objects keep arriving
        child.sendcontrol("c")
        child.expect(r"left apply ([0-9a-f]{6}) standing")
        apply_id = child.match.group(1)
        child.expect_exact(PROMPT)
        assert first
        applies = world.dispatch.call("listApplies")["applies"]
        assert any(a["applyId"] == apply_id and a["state"] == "standing" for a in applies)

        child.sendline(f"disk {job}")
        child.expect("quarantined")
        child.expect_exact(PROMPT)

        child.sendline(f"jobMaxSize 20kB {job}")
        child.expect_exact("Delete them? [y/N]")  # it would delete files: it asks first
        child.sendline("y")
        child.expect("19.5 KiB")
        child.expect_exact(PROMPT)

        child.send(f"cancel {apply_id}\r")
        child.expect("cancelled")
        child.expect_exact(PROMPT)

        child.send("apply words sum " + job[:4] + "\t")  # completes the job id
        child.expect_exact(job)
        child.send("\x15")  # Ctrl-U: clear the line
        child.sendline(f"stop {job}")
        child.expect("is stopped")
        child.expect_exact(PROMPT)

        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert world.collector.call("jobStatus", jobId=job)["state"] == "stopped"
