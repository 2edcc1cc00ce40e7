"""A job that stops or finishes gives back its descriptors, ports and memory, and is still listed from its record;
a start that fails (too few descriptors, a full disk) gets an error, changes nothing, and the collector serves on."""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest

from conftest import wait_for
from nectar.errors import ServiceError
from nectar.testing import ServiceProcess, held_fds, listening_ports, open_fds, rss_bytes
from test_reliability_disk_full import mount_tmpfs

JOB = {"jobName": "cycle", "searchTerms": "biden harris", "collectorObjectsPerFile": 50, "delayInMsBetweenObjects": 0,
       "source": {"kind": "synthetic", "rate": 20_000}}


def resources(service: ServiceProcess) -> tuple[int, list[int], int]:
    pid = service.proc.pid
    return open_fds(pid), listening_ports(pid), rss_bytes(pid)


def settled(service: ServiceProcess) -> tuple[int, list[int], int]:
    """``resources`` once the control connections of the calls just made are closed (the collector closes each
    a moment after its client does), so that counts taken at two times compare."""
    readings: list[tuple[int, list[int], int]] = []

    def steady() -> bool:
        readings.append(resources(service))
        return len(readings) >= 5 and len({(r[0], tuple(r[1])) for r in readings[-5:]}) == 1

    wait_for(steady, interval=0.05, what="the descriptor count to settle")
    return readings[-1]


def cycle(service: ServiceProcess) -> str:
    """Start a job, let it store a file, stop it."""
    job = service.call("newCollectorJob", **JOB)["data"]["jobId"]
    wait_for(lambda: service.call("jobStatus", jobId=job)["stored"] >= 50, what="a first file")
    assert service.call("stopCollectorJob", jobId=job)["state"] == "stopped"
    return job


@pytest.mark.slow
def test_200_start_stop_cycles_give_back_descriptors_ports_and_memory(tmp_path: Path) -> None:
    service = ServiceProcess("collector", tmp_path / "root").start()
    try:
        for _ in range(5):  # the first jobs fill caches that are bounded (the synthetic pool, array formats)
            cycle(service)
        fds, ports, rss = settled(service)
        jobs = [cycle(service) for _ in range(200)]
        after_fds, after_ports, after_rss = settled(service)
        assert after_fds == fds, f"{after_fds - fds} descriptors more after 200 cycles"
        assert after_ports == ports, f"still listening on {sorted(set(after_ports) - set(ports))[:10]}..."
        assert after_rss - rss < 20 * 2**20, f"RSS grew by {(after_rss - rss) / 2**20:.1f} MB over 200 cycles"
        listed = {j["jobId"]: j for j in service.call("listJobs")["jobs"]}
        for job in jobs:  # a stopped job is still listed, with its state and what it did, from its record
            row = listed[job]
            assert row["state"] == "stopped" and row["stored"] == row["objects"] == row["seq"] >= 50, row
            assert row["jobName"] == "cycle" and row["source"] == "synthetic" and row["rate"] == 0.0
        status = service.call("jobStatus", jobId=jobs[-1])
        assert status["typeReturned"] == "data.tweet-biden-harris" and status["files"] >= 1
        assert status["request"]["source"] == JOB["source"]
        assert service.call("ping")["jobs"] == 0
    finally:
        service.kill()


def test_a_finished_job_gives_back_its_descriptors_and_ports(tmp_path: Path) -> None:
    service = ServiceProcess("collector", tmp_path / "root").start()
    try:
        fds, ports, _ = settled(service)
        reply = service.call("newCollectorJob", **{**JOB, "source": {"kind": "synthetic", "rate": None,
                                                                       "count": 5000}})
        job = reply["data"]["jobId"]
        assert reply["data"]["dispatchPort"] in listening_ports(service.proc.pid)
        wait_for(lambda: service.call("jobStatus", jobId=job)["state"] == "finished", what="the job to finish")
        assert settled(service)[:2] == (fds, ports), "the finished job kept descriptors or ports"
        status = service.call("jobStatus", jobId=job)
        assert status["stored"] == status["objects"] == status["seq"] == 5000 and status["lastError"] is None
        assert service.call("stopCollectorJob", jobId=job)["state"] == "finished"  # nothing to stop, nothing changes
    finally:
        service.kill()


def low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))


def test_a_start_short_of_descriptors_is_refused_and_the_collector_serves_on(tmp_path: Path) -> None:
    root = tmp_path / "root"
    service = ServiceProcess("collector", root, preexec_fn=low_fd_limit).start()
    try:
        pid = service.proc.pid
        started = []

        def lasting() -> tuple[list[str], list[int], dict[str, int]]:
            # (the running jobs' writes open files for a moment: what lasts is compared, not every descriptor)
            return sorted(os.listdir(root)), listening_ports(pid), held_fds(pid)
        while True:  # start jobs until the collector has too few descriptors left for another
            before = lasting()
            try:
                started.append(service.call("newCollectorJob", **{**JOB, "source": {"kind": "synthetic",
                                                                                    "rate": 500}}))
            except ServiceError as exc:
                refusal = exc
                break
            assert len(started) < 30, "never refused: the limit did not apply"
        assert "file descriptors" in str(refusal) and "ulimit -n" in str(refusal)
        folders, ports, held = lasting()
        assert (folders, ports, held) == before, "the refused start left something behind"
        assert len(folders) == len(started) and len(ports) == 1 + 2 * len(started)
        assert held["clock"] == len(started)
        jobs = [r["data"]["jobId"] for r in started]
        # the collector serves on: every job keeps storing, and stopping one makes room for a new one
        stored = {j: service.call("jobStatus", jobId=j)["stored"] for j in jobs}
        wait_for(lambda: all(service.call("jobStatus", jobId=j)["stored"] > stored[j] for j in jobs),
                 timeout=30, what="every job to go on storing")
        for job in jobs[:2]:  # two, so that the room they make is more than the running jobs' writes take a moment
            service.call("stopCollectorJob", jobId=job)

        def start() -> str | None:
            try:
                return service.call("newCollectorJob", **JOB)["data"]["jobId"]
            except ServiceError as exc:  # refused (it changes nothing): a write held a descriptor just then
                assert "file descriptors" in str(exc)
                return None
        again = wait_for(start, what="a start once jobs were stopped")
        wait_for(lambda: service.call("jobStatus", jobId=again)["stored"] > 0, what="the new job to store")
        assert service.proc.poll() is None and service.call("ping")["pong"] is True
    finally:
        service.kill()
    assert "Too many open files" not in service.proc.stderr.read().decode()


@pytest.fixture
def small_disk(tmp_path):
    where = tmp_path / "small"
    assert mount_tmpfs(where, "8m"), "cannot mount a tmpfs"
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_start_that_fails_half_way_on_a_full_disk_changes_nothing(small_disk: Path) -> None:
    root = small_disk / "root"
    service = ServiceProcess("collector", root, log_dir=small_disk.parent / "logs").start()
    try:
        live = service.call("newCollectorJob", **{**JOB, "source": {"kind": "synthetic", "rate": 200}})["data"]
        wait_for(lambda: service.call("jobStatus", jobId=live["jobId"])["stored"] > 0, what="a first file")
        with open(small_disk / "filler", "wb") as fh:  # take every free byte
            try:
                while True:
                    fh.write(b"\0" * 2**16)
                    fh.flush()
            except OSError:
                pass
        pid = service.proc.pid
        folders, ports, held = sorted(os.listdir(root)), listening_ports(pid), held_fds(pid)
        with pytest.raises(ServiceError, match="No space left|not started"):
            service.call("newCollectorJob", **JOB)
        assert sorted(os.listdir(root)) == folders, "the failed start left a job folder"
        # (ZeroMQ closes a socket's listener on its own thread, a moment after close())
        wait_for(lambda: (listening_ports(pid), held_fds(pid)) == (ports, held), timeout=5,
                 what="the failed start's sockets and files closed")
        assert [j["jobId"] for j in service.call("listJobs")["jobs"]] == [live["jobId"]]
        (small_disk / "filler").unlink()
        again = service.call("newCollectorJob", **JOB)["data"]["jobId"]
        wait_for(lambda: service.call("jobStatus", jobId=again)["stored"] > 0, what="a start once there is room")
    finally:
        service.kill()
