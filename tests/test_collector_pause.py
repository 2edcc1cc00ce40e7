"""A collector paused with SIGSTOP reports the rate it really stored at, and goes on from where it was without
catching up the time it lost."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from conftest import wait_for
from nectar.testing import ServiceProcess

RATE = 2000
PAUSE = 4.0


def test_the_rate_reported_after_a_pause_is_not_inflated(tmp_path: Path) -> None:
    service = ServiceProcess("collector", tmp_path / "root").start()
    try:
        started = time.monotonic()
        job = service.call("newCollectorJob", jobName="pause", searchTerms="biden harris",
                           collectorObjectsPerFile=100, delayInMsBetweenObjects=0,
                           source={"kind": "synthetic", "rate": RATE})["data"]["jobId"]
        wait_for(lambda: service.call("jobStatus", jobId=job)["stored"] >= RATE, what="a second of tweets")
        os.kill(service.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(PAUSE)  # the pause under test, not a wait for something
        finally:
            os.kill(service.proc.pid, signal.SIGCONT)
        status = service.call("jobStatus", jobId=job)
        wall = time.monotonic() - started
        # every second so far counts, the paused ones too: the rate is at most what was stored over the wall clock
        assert status["rate"] <= 1.1 * status["stored"] / (wall - 0.5), (status["rate"], status["stored"], wall)
        assert status["rate"] < 0.7 * RATE, f"{status['rate']}/s reported; the job stored at {RATE}/s for a " \
                                            f"second or so of the {wall:.1f} s since it started"
        stored = status["stored"]
        wait_for(lambda: service.call("jobStatus", jobId=job)["stored"] >= stored + RATE, what="the job to go on")
    finally:
        service.kill()
