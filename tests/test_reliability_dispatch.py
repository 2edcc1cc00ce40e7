"""Dispatch under live load and bad requests (issue 16): standing reductions started on a live job count every
object, no single request stops Dispatch, and a worker folding a slow file is not declared dead."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest
import zmq

from conftest import wait_for
from nectar.errors import ServiceUnavailable
from nectar.testing import ServiceProcess
from nom import Store
from nom.store import is_data_name


def count_in_files(folder: Path, from_id: int | None) -> int:
    """The stored objects with ids from ``from_id`` on, counted from the data files themselves."""
    total = 0
    for name in os.listdir(folder):
        if is_data_name(name):
            total += sum(1 for o in orjson.loads((folder / name).read_bytes()) if from_id is None or o["id"] >= from_id)
    return total


def test_standing_applies_started_on_a_live_job_count_every_object(tmp_path: Path) -> None:
    """Issue 16, defect 1: the batch part and the follower's consumed set come from one listing of the store."""
    root = tmp_path / "root"
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "2").start()
    try:
        reply = collector.call("newCollectorJob", jobName="live", searchTerms="biden harris",
                               collectorObjectsPerFile=2, delayInMsBetweenObjects=0,
                               source={"kind": "synthetic", "rate": 10_000, "seed": 1})
        job = reply["data"]["jobId"]
        dispatch.call("attach", job=reply)

        def stored() -> int:
            return collector.call("jobStatus", jobId=job)["stored"]

        wait_for(lambda: stored() >= 4_000, timeout=60, what="2,000 files")
        applies: list[tuple[str, int | None]] = []
        for n in range(10):
            # half over the whole job, half from a moment ago (a NOM id as fromDate)
            from_id = None if n % 2 == 0 else time.time_ns() - 1_000_000_000
            request = {"map": "count", "reduce": "sum", "jobId": job, "toDate": "now", "by": "collected"}
            if from_id is not None:
                request["fromDate"] = str(from_id)
            # a loaded Dispatch may take a while to answer: the point is what it counts, not how fast it answers
            applies.append((dispatch.call("apply", timeout=60, **request)["applyId"], from_id))
            before = stored()
            wait_for(lambda: stored() >= before + 500, timeout=30, what="the job to go on")  # noqa: B023
        # every apply started while files landed (500 objects were stored after the last one)
        collector.call("stopCollectorJob", jobId=job)
        wait_for(lambda: collector.call("jobStatus", jobId=job)["state"] != "running", timeout=30, what="the stop")
        expected = {apply_id: count_in_files(root / job, from_id) for apply_id, from_id in applies}

        def counted() -> dict[str, int]:
            return {apply_id: dispatch.call("status", timeout=60, applyId=apply_id)["objects"]
                    for apply_id, _ in applies}

        try:
            wait_for(lambda: counted() == expected, timeout=60, interval=0.2, what="every standing apply to catch up")
        except pytest.fail.Exception:
            now = counted()
            pytest.fail("standing applies short of the files' count: "
                        + ", ".join(f"{a}: {now[a]} of {expected[a]}" for a in expected if now[a] != expected[a]))
        for apply_id, _ in applies:
            status = dispatch.call("status", applyId=apply_id, top=0)
            assert status["state"] == "standing"
            assert status["result"] == [["data.tweet-biden-harris", expected[apply_id]]]
    finally:
        dispatch.kill()
        collector.kill()


@pytest.fixture
def services(tmp_path: Path):
    root = tmp_path / "root"
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "2").start()
    yield collector, dispatch, Store(root)
    dispatch.kill()
    collector.kill()


def still_serving(dispatch: ServiceProcess) -> bool:
    """The process is alive and answers."""
    return dispatch.proc.poll() is None and dispatch.call("ping")["pong"] is True


@pytest.mark.parametrize(("request_", "field"), [
    ({"action": "apply", "toDate": "9999-12-31"}, "toDate"),  # an id beyond 64 bits in the reply
    ({"action": "apply", "fromDate": "9999-12-31", "toDate": "now"}, "fromDate"),  # left an orphaned run
    ({"action": "attach", "typeReturned": None}, "job.data.typeReturned"),  # raised in step() at the first batch
    ({"action": "attach", "typeReturned": 5}, "job.data.typeReturned"),
])
def test_requests_that_stopped_dispatch_get_named_errors_and_change_nothing(services, request_, field) -> None:
    """Issue 16, defect 2: each of these once made Dispatch exit."""
    collector, dispatch, store = services
    reply = collector.call("newCollectorJob", jobName="bad", searchTerms="biden harris", collectorObjectsPerFile=10,
                           delayInMsBetweenObjects=0, source={"kind": "synthetic", "rate": 2000, "seed": 2})
    job = reply["data"]["jobId"]
    dispatch.call("attach", job=reply)
    wait_for(lambda: collector.call("jobStatus", jobId=job)["stored"] >= 100, what="some objects")
    if request_["action"] == "apply":
        request = {"map": "count", "reduce": "sum", "jobId": job, **request_}
    else:
        data = {**reply["data"], "typeReturned": request_["typeReturned"]}
        request = {"action": "attach", "job": {**reply, "data": data}}
    try:
        answer = dispatch.client.send_raw(orjson.dumps(request), timeout=10)
    except ServiceUnavailable:
        answer = None
    # Dispatch keeps serving while batches go on arriving, and the request changed nothing
    stored = collector.call("jobStatus", jobId=job)["stored"]
    wait_for(lambda: collector.call("jobStatus", jobId=job)["stored"] >= stored + 1000, what="more batches")
    assert dispatch.proc.poll() is None, f"Dispatch exited after {request}"
    assert still_serving(dispatch)
    assert answer is not None and answer.get("field") == field, answer
    assert dispatch.call("listApplies")["applies"] == []
    assert not list((store.root / job).glob("apply-*.json"))
    attached = dispatch.call("status")["attached"]
    assert [(a["jobId"], a["typeReturned"]) for a in attached] == [(job, reply["data"]["typeReturned"])]
    done = dispatch.call("apply", map="count", reduce="sum", jobId=job, toDate="2262-04-11")["applyId"]
    wait_for(lambda: dispatch.call("status", applyId=done)["state"] == "done", what="a good apply")


def test_a_publisher_sending_a_bad_header_does_not_stop_dispatch(tmp_path: Path) -> None:
    """Issue 16, defect 2: a header with "count": "x" raised in step() and Dispatch exited."""
    dispatch = ServiceProcess("dispatch", tmp_path / "root", "--workers", "1").start()
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    try:
        port = pub.bind_to_random_port("tcp://127.0.0.1")
        dispatch.call("attach", job={"id": 1, "type": "data.collector.job", "data": {
            "jobId": "fake", "hostName": "127.0.0.1", "dispatchPort": port, "collectorPort": port,
            "typeReturned": "data.x"}})
        body = orjson.dumps([{"id": 1, "type": "data.x", "data": 1}])

        def attached() -> dict:
            return dispatch.call("status")["attached"][0]

        def send_bad() -> bool:
            head = {"epoch": 1, "seq": 0, "count": "x", "first_id": 1, "last_id": 1, "file": 1}
            pub.send_multipart([b"fake", orjson.dumps(head), body])
            return dispatch.proc.poll() is not None or attached()["malformed"] >= 1

        wait_for(send_bad, what="a bad batch to arrive")
        assert still_serving(dispatch)
        seq = [0]

        def send_good() -> bool:
            head = {"epoch": 1, "seq": seq[0], "count": 1, "first_id": 1, "last_id": 1, "file": 1 + seq[0]}
            pub.send_multipart([b"fake", orjson.dumps(head), body])
            seq[0] += 1
            return attached()["matched"] >= 1

        wait_for(send_good, what="a good batch after the bad ones")
        assert still_serving(dispatch) and attached()["lastError"] is None
    finally:
        pub.close()
        dispatch.kill()


def test_a_standing_apply_whose_map_raises_fails_alone(services) -> None:
    """Issue 16, defect 2: a failure inside one standing apply's step fails that apply, not Dispatch."""
    _, dispatch, store = services
    store.append("numbers", [{"id": i, "type": "data.n", "data": i} for i in range(1, 6)])
    bad = dispatch.call("apply", map="userfuncs.funcs:explode_on_seven", reduce="sum", jobId="numbers",
                        toDate="now")["applyId"]
    good = dispatch.call("apply", map="count", reduce="sum", jobId="numbers", toDate="now")["applyId"]
    wait_for(lambda: dispatch.call("status", applyId=bad)["state"] == "standing", what="the standing apply")
    store.append("numbers", [{"id": i, "type": "data.n", "data": i} for i in range(6, 9)])
    wait_for(lambda: dispatch.proc.poll() is not None or dispatch.call("status", applyId=bad)["state"] == "failed",
             what="the apply to fail")
    assert still_serving(dispatch)
    failed = dispatch.call("status", applyId=bad)
    assert failed["state"] == "failed" and "seven is not allowed" in failed["lastError"]
    assert not (store.root / "numbers" / f"apply-{bad}.json").exists()  # it does not resume as standing
    wait_for(lambda: dispatch.call("status", applyId=good)["objects"] == 8, what="the other apply to go on")
    assert dispatch.call("status", applyId=good)["state"] == "standing"
