"""No user-controlled string reaches the terminal raw: control characters and bidi overrides are shown escaped."""

from __future__ import annotations

import io
import json

from nectar.render import Renderer, SafeConsole
from nectar.results import ApplyResult, JobList, Message
from shell_helpers import ShellWorld, world_fixture, write_job

EVIL = "evil\x1b[2J\x1b]0;pwned\x07\x9b31m\u202egnp.exe\r"
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\r")


world = world_fixture("escapes")


def test_show_jobs_and_show_job_escape_a_job_name(world: ShellWorld) -> None:
    write_job(world.base, "evil.json", jobName=EVIL)
    started = world.nectar("--json", "start", "evil.json")
    assert started.returncode == 0, started.stderr
    job = json.loads(started.stdout)["jobId"]
    for args in (("show", "jobs"), ("show", job)):
        done = world.nectar(*args)
        assert done.returncode == 0, done.stderr
        assert not [c for c in RAW if c in done.stdout], f"{args}: a control character reached the terminal"
        assert "evil\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\u202egnp.exe\\r" in done.stdout.replace("\n", "")
    assert json.loads(world.nectar("--json", "show", "jobs").stdout)["jobs"][0]["jobName"] == EVIL  # data unchanged


def test_every_kind_of_result_and_error_is_escaped(capsys) -> None:
    out = io.StringIO()
    renderer = Renderer(SafeConsole(file=out, width=200, highlight=False, markup=False))
    renderer.render(JobList([{"jobId": "j", "jobName": EVIL, "source": EVIL, "state": EVIL}]))
    renderer.render(ApplyResult(apply_id="a", job=EVIL, map=EVIL, reduce="sum", from_id=None, to_id=None,
                                objects=1, keys=1, engine="local", result=[[EVIL, 1], ["k", {EVIL: EVIL}]],
                                state="done"))
    renderer.render(Message(f"stopped job {EVIL}"))
    renderer.error(f"no job {EVIL}")
    shown = out.getvalue() + capsys.readouterr().err
    assert not [c for c in RAW if c in shown], repr(shown)
    assert shown.count("\\x1b[2J") >= 6
