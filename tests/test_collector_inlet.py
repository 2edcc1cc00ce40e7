"""The storage inlet stores results in arrays of the job's size, with bounded memory, whatever peers push."""

from __future__ import annotations

from pathlib import Path

import orjson
import zmq

from conftest import wait_for
from nectar.testing import ServiceProcess, rss_bytes
from nom import Store


def start(service: ServiceProcess, per_file: int = 50) -> tuple[str, int]:
    reply = service.call("newCollectorJob", jobName="inlet", searchTerms="biden harris",
                         collectorObjectsPerFile=per_file, delayInMsBetweenObjects=0,
                         source={"kind": "synthetic", "rate": 2000})
    return reply["data"]["jobId"], reply["data"]["collectorPort"]


def pusher(port: int) -> zmq.Socket:
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(f"tcp://127.0.0.1:{port}")
    return push


def test_an_inlet_array_is_stored_in_files_of_the_jobs_size(tmp_path: Path) -> None:
    root = tmp_path / "root"
    service = ServiceProcess("collector", root).start()
    try:
        job, port = start(service)
        objects = [{"id": n, "type": f"data.{job}.count", "data": {"key": f"k{n}", "value": n}} for n in range(100_000)]
        push = pusher(port)
        push.send(orjson.dumps({"job": f"{job}.count", "objects": objects}))
        wait_for(lambda: service.call("jobStatus", jobId=job)["inlet_stored"] == 100_000, timeout=60,
                 what="the array stored")
        push.close()
        store = Store(root)
        wait_for(lambda: store.exists(f"{job}.count") and store.usage(f"{job}.count").objects == 100_000,
                 what="every object durable")
        files = store.files(f"{job}.count")
        assert len(files) == 2000 and all(f.objects == 50 for f in files)  # not one file of 100,000
        stored = list(store.scan(f"{job}.count"))
        assert [o["data"]["value"] for o in stored] == list(range(100_000))  # in order, none twice, none lost
        assert {o["type"] for o in stored} == {f"data.{job}.count"}
        assert len({o["id"] for o in stored}) == 100_000
    finally:
        service.kill()


def test_big_inlet_pushes_are_stored_within_bounded_memory(tmp_path: Path) -> None:
    root = tmp_path / "root"
    service = ServiceProcess("collector", root).start()
    pid = service.proc.pid
    try:
        job, port = start(service)
        wait_for(lambda: service.call("jobStatus", jobId=job)["stored"] >= 200, what="the job collecting")
        before = rss_bytes(pid)
        value = "x" * 10_000
        message = orjson.dumps({"job": f"{job}.big", "objects": [
            {"id": n, "type": f"data.{job}.big", "data": {"n": n, "pad": value}} for n in range(800)]})
        assert len(message) > 8 * 10**6
        push = pusher(port)
        for _ in range(30):  # 240 MB in all
            push.send(message, copy=False)
        wait_for(lambda: service.call("jobStatus", jobId=job)["inlet_stored"] == 30 * 800, timeout=120,
                 what="every push stored")
        push.close()
        grown = rss_bytes(pid, peak=True) - before
        assert grown < 150 * 2**20, f"the collector's RSS peaked {grown / 2**20:.0f} MB above where it was"
        status = service.call("jobStatus", jobId=job)
        assert status["state"] == "running" and status["inlet_rejected"] == 0
        store = Store(root)
        wait_for(lambda: store.usage(f"{job}.big").objects == 24_000, what="every object durable")
        assert all(f.objects == 50 for f in store.files(f"{job}.big"))
    finally:
        service.kill()
