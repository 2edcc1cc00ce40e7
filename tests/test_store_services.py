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
from services import REPO, Service

from nectar.client import ServiceError, ServiceUnavailable
from nom.index import is_data_name


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


def synthetic(collector: Service, per_file: int = 10, **source) -> dict:
    return collector.call("newCollectorJob", jobName="store limits", searchTerms="biden harris",
                          collectorObjectsPerFile=per_file, delayInMsBetweenObjects=0,
                          source={"kind": "synthetic", **source})


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


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` and its bytes (None for a folder): to show nothing there changed."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_a_fifo_in_a_live_jobs_folder_never_freezes_the_collector(tmp_path: Path, writer: str) -> None:
    """A FIFO named like a data file used to block the collector's loop (listJobs reads unindexed files) for good."""
    root = tmp_path / "root"
    collector = Service("collector", root, "--writer", writer).start()
    try:
        job = synthetic(collector, rate=2000)["data"]["jobId"]
        wait_for(lambda: collector.call("jobStatus", jobId=job)["stored"] >= 500, what="objects stored")
        os.mkfifo(root / job / "123.json")
        try:
            jobs = collector.call("listJobs", timeout=10)["jobs"]  # reads the folder: finds the FIFO
        except ServiceUnavailable as exc:
            pytest.fail(f"the collector froze on a FIFO in a job folder: {exc}")
        stored = next(j for j in jobs if j["jobId"] == job)["stored"]
        assert collector.call("ping", timeout=5)["pong"] is True
        wait_for(lambda: collector.call("jobStatus", jobId=job)["stored"] >= stored + 500, what="the job goes on")
        status = collector.call("jobStatus", jobId=job)
        assert status["state"] == "running" and status["quarantined"] == 1
        assert os.path.exists(root / job / "quarantine" / "123.json") and not os.path.exists(root / job / "123.json")
        log = (root / job / "quarantine" / "log").read_bytes()
        assert b"a FIFO, not a regular file" in log
    finally:
        collector.kill()


def test_links_in_the_store_are_never_followed_by_the_collector_or_dispatch(tmp_path: Path) -> None:
    """A data file linked outside NOM_ROOT was indexed and reduced, and a job folder linked outside got index, clock
    and quarantine/ written there and its files moved. Now: links are quarantined (data names) or refused (job
    folders), and nothing outside NOM_ROOT is read, written or moved."""
    root = tmp_path / "root"
    collector = Service("collector", root).start()
    dispatch = Service("dispatch", root, "--workers", "2").start()
    try:
        job = synthetic(collector, per_file=50, rate=20000, count=2000)["data"]["jobId"]
        finished(collector, job)
        names = data_files(root / job)
        assert len(names) == 40
        outside = tmp_path / "outside"
        outside.mkdir()
        foreign = [{"id": 10 + k, "type": "data.tweet-biden-harris", "data": {"id": str(k)}} for k in range(100)]
        (outside / "foreign.json").write_bytes(orjson.dumps(foreign))
        (root / job / "5.json").symlink_to(outside / "foreign.json")  # never indexed: found by a listing
        replaced = root / job / names[7]  # indexed already, then replaced by a link to a copy of itself
        (outside / "copy.json").write_bytes(replaced.read_bytes())
        replaced.unlink()
        replaced.symlink_to(outside / "copy.json")
        (outside / "jobfolder").mkdir()
        for name in names[:3]:
            (outside / "jobfolder" / name).write_bytes((root / job / names[0]).read_bytes())
        (outside / "jobfolder" / "9.json").write_bytes(b"[{broken")  # a scan would quarantine (move) it
        (root / "linkedjob").symlink_to(outside / "jobfolder", target_is_directory=True)
        before = tree(outside)

        started = dispatch.call("apply", map="count", reduce="sum", jobId=job)
        wait_for(lambda: dispatch.call("status", applyId=started["applyId"])["state"] != "running", what="apply")
        result = dispatch.call("status", applyId=started["applyId"], top=0)
        assert result["state"] == "done" and result["objects"] == 1950, result  # not 2000 + 100 (nor 2000)
        assert sorted(os.listdir(root / job / "quarantine")) == sorted(["5.json", names[7], "log"])
        assert collector.call("jobStatus", jobId=job)["quarantined"] == 2

        assert "linkedjob" not in {j["jobId"] for j in collector.call("listJobs")["jobs"]}
        for service, action, fields in ((collector, "jobStatus", {}), (collector, "setJobMaxSize", {"maxSize": 10}),
                                        (dispatch, "apply", {"map": "count", "reduce": "sum"})):
            with pytest.raises(ServiceError, match="linkedjob.*is a symbolic link") as caught:
                service.call(action, jobId="linkedjob", **fields)
            assert caught.value.field == "jobId"
        assert tree(outside) == before
        assert collector.call("ping")["pong"] and dispatch.call("ping")["pong"]
    finally:
        dispatch.kill()
        collector.kill()
