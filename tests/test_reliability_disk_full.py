"""A store on a small filesystem that fills up: the job pauses with a clear error, resumes once space is freed,
and the store is intact with nothing lost. A size-limited tmpfs where the test can mount one, else RLIMIT_FSIZE."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from conftest import wait_for
from nectar.testing import ServiceProcess
from nom.store import is_data_name

TOTAL = 6000


def mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    where = tmp_path / "small"
    mounted = mount_tmpfs(where, "24m")
    yield where, mounted
    if mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_full_disk_pauses_the_job_and_it_resumes_with_nothing_lost(small_disk) -> None:
    where, mounted = small_disk
    if not mounted:
        pytest.skip("cannot mount a tmpfs here; test_file_size_limit_pauses_and_resumes covers the same path")
    root = where / "root"
    collector = ServiceProcess("collector", root, log_dir=where.parent / "logs").start()
    filler = where / "filler"
    try:
        reply = collector.call("newCollectorJob", jobName="full", searchTerms="biden harris",
                               collectorObjectsPerFile=50, delayInMsBetweenObjects=0,
                               source={"kind": "synthetic", "rate": 1500, "count": TOTAL, "seed": 5})
        job = reply["data"]["jobId"]
        wait_for(lambda: collector.call("jobStatus", jobId=job)["stored"] >= 500, what="a first part stored")
        with open(filler, "wb") as fh:  # take every free byte
            try:
                while True:
                    fh.write(b"\0" * 2**20)
                    fh.flush()
            except OSError:
                pass
        status = wait_for(lambda: (lambda s: s if s["state"] == "paused" else None)(
            collector.call("jobStatus", jobId=job)), timeout=30, what="the job to pause")
        assert "store write failed" in status["lastError"]
        assert "No space left" in status["lastError"]
        paused_at = status["stored"]
        assert collector.call("jobStatus", jobId=job)["stored"] == paused_at  # nothing moves while paused
        filler.unlink()
        wait_for(lambda: collector.call("jobStatus", jobId=job)["state"] == "finished", timeout=60,
                 what="the job to resume and finish")
        final = collector.call("jobStatus", jobId=job)
    finally:
        collector.kill()
    assert final["lastError"] is None and final["stored"] == TOTAL
    folder = root / job
    assert not [n for n in os.listdir(folder) if n.startswith(".tmp")], "a partial file was left"
    tweets: Counter = Counter()
    for name in os.listdir(folder):
        if is_data_name(name):
            for obj in orjson.loads((folder / name).read_bytes()):
                tweets[obj["data"]["id"]] += 1
    assert len(tweets) == TOTAL and max(tweets.values()) == 1
    log = (where.parent / "logs" / "collector.log").read_text()
    assert "paused" in log and "resumed" in log


def test_file_size_limit_pauses_and_resumes(tmp_path) -> None:
    """The same with RLIMIT_FSIZE (EFBIG), on an in-process collector driven step by step."""
    from collector.service import Collector

    # the limit is set on this process after start: the writer must be a thread of it to feel the limit
    collector = Collector(tmp_path / "root", control="tcp://127.0.0.1:*", flush_latency=0.05, writer="thread")
    collector.start()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        reply = collector.handle(orjson.dumps({
            "action": "newCollectorJob", "jobName": "efbig", "searchTerms": "biden harris",
            "collectorObjectsPerFile": 50, "delayInMsBetweenObjects": 0,
            "source": {"kind": "synthetic", "rate": 2000, "count": 3000, "seed": 6}}))
        job = reply["data"]["jobId"]
        runner = collector.jobs[job]
        while runner.stats["stored"] < 500:
            collector.step(max_wait=0.01)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, hard))  # every new data file is too large now
        # step until the first file past the limit fails, by the clock: a fast machine steps 2000 times in 20 ms
        deadline = time.monotonic() + 20
        while runner.record.state.value != "paused" and time.monotonic() < deadline:
            collector.step(max_wait=0.005)
        assert runner.record.state.value == "paused" and "File too large" in runner.record.error
        stored = runner.stats["stored"]
        for _ in range(50):
            collector.step(max_wait=0.005)
        assert runner.stats["stored"] == stored  # nothing lands while paused
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        deadline = time.monotonic() + 60
        while runner.record.state.value != "finished" and time.monotonic() < deadline:
            collector.step(max_wait=0.005)
        assert runner.record.state.value == "finished" and runner.record.error is None
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        collector.close()
    folder = tmp_path / "root" / job
    assert not [n for n in os.listdir(folder) if n.startswith(".tmp")]
    tweets: Counter = Counter(obj["data"]["id"] for name in os.listdir(folder) if is_data_name(name)
                              for obj in orjson.loads((folder / name).read_bytes()))
    assert len(tweets) == 3000 and max(tweets.values()) == 1
