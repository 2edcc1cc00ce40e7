"""Issue 20: a watcher (through Dispatch's PUB socket) sees every file a 100,000-object job adds, in order,
with no gap, though it stops reading for 5 s in the middle: Dispatch runs with a tiny queue per subscriber
(--events-hwm 5, and kernel buffers of 4 kB), so the pause makes it miss events, and it heals them from the
store. Latency is measured in bench/watch.py, not here."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import wait_for
from nectar.client import Client
from nectar.testing import ServiceProcess
from nectar.watch import Watcher
from nom.store import Store

OBJECTS, PER_FILE = 100_000, 50


def test_watch_sees_every_file_of_a_job_in_order_through_a_5s_pause(tmp_path: Path) -> None:
    root = tmp_path / "NOM_ROOT"
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "1", "--events-hwm", "5",
                              "--events-sndbuf", "4096").start()
    try:
        reply = collector.call("newCollectorJob", jobName="watched", searchTerms="biden harris",
                               collectorObjectsPerFile=PER_FILE, delayInMsBetweenObjects=0,
                               source={"kind": "synthetic", "rate": 12_000, "seed": 5, "count": OBJECTS})
        job = reply["data"]["jobId"]
        watcher = Watcher(Client(dispatch.endpoint, timeout=10), job, after=0, rcvhwm=5, rcvbuf=4096)
        seen: list[int] = []
        started = time.monotonic()
        paused = False
        while True:
            if not paused and time.monotonic() - started > 2:
                time.sleep(5)  # the subscriber stops reading; the job goes on
                paused = True
            seen += [f["name"] for e in watcher.next(0.2) if e["kind"] == "files" for f in e["files"]]
            stored = collector.call("jobStatus", jobId=job)["objects"]
            if paused and stored >= OBJECTS and len(seen) >= stored // PER_FILE:
                break
            assert time.monotonic() - started < 90, f"saw {len(seen)} files of {stored // PER_FILE}"
        files = [f.name for f in Store(root).files(job)]
        assert len(files) == OBJECTS // PER_FILE
        assert seen == files  # every file, once, in name order: no gap
        assert watcher.gaps >= 1 and watcher.healed > 0, (watcher.gaps, watcher.healed)  # the pause cost events
        print(f"gaps {watcher.gaps}, files read back from the store {watcher.healed} of {len(files)}")
        wait_for(lambda: not watcher.next(0.3), what="quiet")
        watcher.close()
    finally:
        dispatch.kill()
        collector.kill()
