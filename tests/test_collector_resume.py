"""A restarted collector rebuilds a job's dedup memory only from what its source collected, and a job it cannot
resume says so (state failed, lastError), through real collector processes killed with SIGKILL."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
import zmq

from conftest import wait_for
from nectar.testing import ServiceProcess
from nom import Store

TYPE = "data.tweet-biden-harris"
POISONS = ["99999999999999999999", "abc"]  # a key above every synthetic one; a key that is not a number


def synthetic_job(service: ServiceProcess, rate: int = 2000) -> str:
    reply = service.call("newCollectorJob", jobName="resume", searchTerms="biden harris", collectorObjectsPerFile=50,
                         delayInMsBetweenObjects=0, source={"kind": "synthetic", "rate": rate})
    return reply["data"]["jobId"]


def restart(service: ServiceProcess, root: Path) -> ServiceProcess:
    """SIGKILL the collector and start another on the same endpoint and store."""
    endpoint = service.endpoint
    service.kill()
    return ServiceProcess("collector", root).start(endpoint=endpoint)


def goes_on_storing(service: ServiceProcess, store: Store, job: str, more: int = 1000) -> None:
    before = store.usage(job).objects
    wait_for(lambda: service.call("jobStatus", jobId=job)["objects"] >= before + more, timeout=30,
             what=f"{more} more objects stored after the restart")
    status = service.call("jobStatus", jobId=job)
    assert status["state"] == "running" and status["lastError"] is None
    ids = [o["data"]["id"] for o in store.scan(job) if o["data"].get("text") != "not from the source"]
    assert len(ids) == len(set(ids)), "a tweet was stored twice: the dedup memory lost what was stored"


@pytest.mark.parametrize("poison", POISONS)
def test_an_inlet_message_cannot_poison_a_restarted_jobs_dedup_memory(tmp_path: Path, poison: str) -> None:
    root = tmp_path / "root"
    service = ServiceProcess("collector", root).start()
    store = Store(root)
    try:
        job = synthetic_job(service)
        port = service.call("jobStatus", jobId=job)["collectorPort"]
        wait_for(lambda: service.call("jobStatus", jobId=job)["stored"] >= 500, what="a first part stored")
        push = zmq.Context.instance().socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 1000)
        push.connect(f"tcp://127.0.0.1:{port}")
        for kind in (TYPE, "data.x"):  # into the job itself: typed as its tweets, and as something else
            push.send(orjson.dumps({"job": job, "objects": [{"id": 1, "type": kind, "data": {"id": poison}}]}))
        push.close()

        def taken() -> bool:
            status = service.call("jobStatus", jobId=job)
            return status["inlet_stored"] + status["inlet_rejected"] == 2
        wait_for(taken, what="both inlet messages taken")
        wait_for(lambda: service.call("jobStatus", jobId=job)["stored"] >= 1500, what="more stored after them")
        service = restart(service, root)
        goes_on_storing(service, store, job)
    finally:
        service.kill()
    assert all(o["type"] == TYPE and o["data"]["id"] != poison for o in store.scan(job))


def test_items_not_the_sources_own_in_a_jobs_folder_are_not_dedup_keys(tmp_path: Path) -> None:
    """What an older collector let its inlet store in a job's folder does not poison the job when it resumes."""
    root = tmp_path / "root"
    service = ServiceProcess("collector", root).start()
    store = Store(root)
    try:
        job = synthetic_job(service)
        wait_for(lambda: service.call("jobStatus", jobId=job)["stored"] >= 500, what="a first part stored")
        endpoint = service.endpoint
        service.kill()
        store.append(job, [{"id": i, "type": kind, "data": {"id": key, "text": "not from the source"}}
                           for i, (kind, key) in enumerate([(TYPE, POISONS[0]), (TYPE, POISONS[1]),
                                                            ("data.x", POISONS[0])], start=1)])
        service = ServiceProcess("collector", root).start(endpoint=endpoint)
        goes_on_storing(service, store, job)
    finally:
        service.kill()


def test_a_job_that_cannot_resume_says_so_in_its_state(tmp_path: Path, tweets_dir: Path) -> None:
    root = tmp_path / "root"
    replayed = tmp_path / "brexit.jsonl"
    shutil.copy(tweets_dir / "brexit.jsonl", replayed)
    service = ServiceProcess("collector", root).start()
    try:
        reply = service.call("newCollectorJob", jobName="replay", searchTerms="brexit", collectorObjectsPerFile=5,
                             delayInMsBetweenObjects=0, source={"kind": "replay", "path": str(replayed), "rate": 20})
        job = reply["data"]["jobId"]
        wait_for(lambda: service.call("jobStatus", jobId=job)["stored"] >= 5, what="a first file")
        endpoint = service.endpoint
        service.kill()
        replayed.unlink()  # the job's source is gone while the collector is down
        service = ServiceProcess("collector", root).start(endpoint=endpoint)
        status = service.call("jobStatus", jobId=job)
        assert status["state"] == "failed", status
        assert "not resumed" in status["lastError"] and "brexit.jsonl" in status["lastError"]
        listed = next(j for j in service.call("listJobs")["jobs"] if j["jobId"] == job)
        assert listed["state"] == "failed" and listed["lastError"] == status["lastError"]
        assert status["objects"] >= 5  # what it stored stays
        assert service.call("ping")["jobs"] == 0
    finally:
        service.kill()


def test_a_job_whose_source_breaks_while_running_fails_and_says_so(tmp_path: Path, tweets_dir: Path) -> None:
    root = tmp_path / "root"
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    shutil.copy(tweets_dir / "brexit.jsonl", first)
    shutil.copy(tweets_dir / "kpop.jsonl", second)
    service = ServiceProcess("collector", root).start()
    try:
        reply = service.call("newCollectorJob", jobName="replay", searchTerms="brexit", collectorObjectsPerFile=5,
                             delayInMsBetweenObjects=0,
                             source={"kind": "replay", "path": [str(first), str(second)], "rate": 200})
        job = reply["data"]["jobId"]
        second.unlink()  # gone before the job reaches it
        wait_for(lambda: service.call("jobStatus", jobId=job)["state"] != "running", timeout=30, what="the end")
        status = service.call("jobStatus", jobId=job)
        assert status["state"] == "failed" and "second.jsonl" in status["lastError"], status
        assert status["stored"] == 100  # every tweet of the first file
        assert service.call("ping")["pong"] is True and service.proc.poll() is None
    finally:
        service.kill()
