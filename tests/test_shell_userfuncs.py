"""User functions as the README shows them, pasted as written: functions_path, nectar up, apply with them,
an edited module reloaded, and an import error that says where Dispatch looked."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson

from conftest import TWEETS, wait_for

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_example() -> tuple[str, str, list[str]]:
    """The README's python module, toml lines and shell lines, as written."""
    text = (REPO / "README.md").read_text()
    block = text[text.index("<!-- user-functions example"): text.index("<!-- /user-functions example -->")]
    python, toml, shell = re.findall(r"```(?:python|toml|bash)\n(.*?)```", block, re.S)
    return python, toml, [line.split("#")[0].strip() for line in shell.splitlines() if line.strip()]


def test_the_readme_user_function_example_runs_as_written(tmp_path) -> None:
    python, toml, shell = readme_example()
    module_path = tmp_path / python.splitlines()[0].lstrip("# ").strip()  # "functions/myfuncs.py"
    module_path.parent.mkdir(parents=True)
    module_path.write_text(python)
    (tmp_path / "nectar.toml").write_text(toml)
    env = {**os.environ, "NOM_ROOT": str(tmp_path / "root"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "COLUMNS": "160",
           "NECTAR_COLLECTOR": f"tcp://127.0.0.1:{free_port()}", "NECTAR_DISPATCH": f"tcp://127.0.0.1:{free_port()}"}
    env.pop("PYTHONPATH", None)
    env.pop("NECTAR_FUNCTIONS_PATH", None)

    def nectar(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nectar.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=90)

    tweets = [t for line in (TWEETS / "brexit.jsonl").read_bytes().splitlines() for t in orjson.loads(line)["data"]]
    counts = [t["public_metrics"]["retweet_count"] for t in tweets]
    try:
        for line in shell[:1]:  # "nectar down; nectar up", as pasted
            done = nectar("-c", line.replace("nectar ", ""))
            assert done.returncode == 0, done.stderr
        (tmp_path / "job.json").write_text(json.dumps({
            "jobName": "user functions", "collectorObjectsPerFile": 25, "delayInMsBetweenObjects": 0,
            "searchTerms": "brexit", "source": {"kind": "replay", "path": str(TWEETS / "brexit.jsonl"), "rate": None}}))
        job = json.loads(nectar("--json", "start", "job.json").stdout)["jobId"]
        wait_for(lambda: json.loads(nectar("--json", "show", job).stdout)["status"]["state"] == "finished",
                 timeout=30, what="the replay")
        results = []
        for line in shell[1:]:
            args = line.replace("JOBID", job).split()[1:]
            done = nectar("--json", *args)
            assert done.returncode == 0, done.stderr
            results.append(json.loads(done.stdout)["result"])
        assert results[0] == [["retweets", max(counts)]]
        assert results[1] == [["retweets", round(sum(1 for c in counts if c > 0) / len(counts), 3)]]
        # edited on disk: the next apply uses the new code, with no restart
        time.sleep(0.05)
        module_path.write_text(python.replace("return max(a, b)", "return min(a, b)"))
        os.utime(module_path, (time.time() + 2, time.time() + 2))  # a new mtime even within the same tick
        edited = json.loads(nectar("--json", "apply", "myfuncs:retweets", "myfuncs:biggest", job).stdout)
        assert edited["result"] == [["retweets", min(counts)]]
        missing = nectar("apply", "nosuchmodule:fn", "sum", job)
        assert missing.returncode != 0
        assert "cannot import module 'nosuchmodule'" in missing.stderr and "functions_path" in missing.stderr
        assert str(module_path.parent) in missing.stderr  # where it looked
    finally:
        nectar("down")
