"""The store's limits through the real services: retention under a live collector (both writers), the file count
the shell shows after retention, and links and FIFOs in the store met by a running collector and Dispatch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest

from conftest import wait_for
from nom.index import is_data_name
from services import REPO, Service


def data_files(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if is_data_name(n))


class BytesWatch:
    """Lists a job folder over and over on a thread and keeps the most bytes of data files one listing held (one
    listing is one getdents call, atomic against links and unlinks; a file deleted before its lstat is not
    counted, so the figure can only be low, never high)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.most, self.listings = folder, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for name in data_files(self.folder):
                try:
                    total += os.lstat(self.folder / name).st_size
                except FileNotFoundError:
                    continue
            self.most = max(self.most, total)
            self.listings += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def synthetic(collector: Service, **source) -> dict:
    return collector.call("newCollectorJob", jobName="store limits", searchTerms="biden harris",
                          collectorObjectsPerFile=10, delayInMsBetweenObjects=0,
                          source={"kind": "synthetic", **source}, **source.pop("request", {}))


def finished(collector: Service, job: str) -> dict:
    return wait_for(lambda: (s := collector.call("jobStatus", jobId=job))["state"] == "finished" and s,
                    timeout=120, what=f"job {job} to finish")


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_a_capped_job_never_holds_more_than_its_cap_and_shows_the_files_it_holds(tmp_path: Path,
                                                                                 writer: str) -> None:
    """Defect 9 as it showed: a job writing thousands of small files a second commits groups of many files, each
    larger than a 3-file cap. Issue 18: after retention, ``show jobs`` counted every file ever written."""
    root = tmp_path / "root"
    collector = Service("collector", root, "--writer", writer).start()
    try:
        probe = synthetic(collector, rate=20000, count=200)["data"]["jobId"]
        finished(collector, probe)
        size = max(os.path.getsize(root / probe / n) for n in data_files(root / probe))
        cap = 3 * size + size // 2
        reply = collector.call("newCollectorJob", jobName="capped", searchTerms="biden harris",
                               collectorObjectsPerFile=10, delayInMsBetweenObjects=0, jobMaxSize=cap,
                               source={"kind": "synthetic", "rate": 20000, "count": 40000})
        job = reply["data"]["jobId"]
        watch = BytesWatch(root / job)
        try:
            status = finished(collector, job)
        finally:
            watch.stop()
        assert status["stored"] == 40000 and status["files_written"] >= 4000
        assert watch.listings > 10 and 0 < watch.most <= cap, (watch.most, cap)
        on_disk = data_files(root / job)
        assert len(on_disk) >= 2 and sum(os.path.getsize(root / job / n) for n in on_disk) <= cap
        # the newest files are the ones kept: the last objects the source made are all there
        kept = [o for n in on_disk for o in orjson.loads((root / job / n).read_bytes())]
        assert kept[-1]["data"]["id"] == str(1_600_000_000_000_000_000 + 39999)
        # the counts shown are the files the job holds, not the files it ever wrote (issue 18: 58 where 8 existed)
        assert status["files"] == len(on_disk) and status["objects"] == len(kept)
        row = next(j for j in collector.call("listJobs")["jobs"] if j["jobId"] == job)
        assert (row["files"], row["objects"]) == (len(on_disk), len(kept))
        env = {**os.environ, "NOM_ROOT": str(root), "NECTAR_COLLECTOR": collector.endpoint,
               "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
        shown = subprocess.run([sys.executable, "-m", "nectar.cli", "--json", "show", "jobs"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=60, check=True)
        row = next(j for j in json.loads(shown.stdout)["jobs"] if j["jobId"] == job)
        assert (row["files"], row["objects"]) == (len(on_disk), len(kept))
    finally:
        collector.kill()
