"""Fuzzing the sockets: at least 10,000 malformed, wrong-typed, oversized and truncated messages per socket.
The services stay up and serve a well-formed request correctly afterwards."""

from __future__ import annotations

import json

import orjson
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import wait_for
from nectar.errors import ServiceUnavailable
from nectar.testing import ServiceProcess

MESSAGES = 10_000  # per socket
PER_EXAMPLE = 20  # messages drawn per hypothesis example: its per-example cost is what makes fuzzing slow

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=6), scalars, max_size=3)
COLLECTOR_ACTIONS = ["newCollectorJob", "stopCollectorJob", "listJobs", "jobStatus", "setJobMaxSize", "ping", "x"]
DISPATCH_ACTIONS = ["detach", "apply", "status", "cancel", "listApplies", "showCache", "ping", "attach", "?"]
FIELDS = ["jobName", "searchTerms", "collectorObjectsPerFile", "delayInMsBetweenObjects", "source", "jobId",
          "maxSize", "map", "reduce", "fromDate", "toDate", "engine", "applyId", "top", "job", "skipErrors"]


def dumps(value) -> bytes:
    """JSON as any client might send it (the standard library also writes integers beyond 64 bits)."""
    return json.dumps(value).encode()


def truncations(raw_strategy: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return raw_strategy.flatmap(lambda raw: st.integers(0, max(0, len(raw) - 1)).map(lambda n: raw[:n]))


def requests(actions: list[str]) -> st.SearchStrategy[bytes]:
    typed = st.builds(lambda action, fields: {"action": action, **fields}, st.sampled_from(actions),
                      st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4)).map(dumps)
    return st.one_of(st.binary(max_size=64), json_values.map(dumps), typed, truncations(typed))


def inlet_messages(job: str) -> st.SearchStrategy[bytes]:
    objects = st.lists(st.one_of(scalars, st.fixed_dictionaries(
        {"id": scalars, "type": scalars}, optional={"data": json_values})), max_size=3)
    typed = st.fixed_dictionaries({}, optional={"job": st.one_of(st.just(job), st.just(job + ".x"), scalars),
                                                "objects": objects}).map(dumps)
    return st.one_of(st.binary(max_size=64), typed, truncations(typed))


FUZZ = settings(max_examples=MESSAGES // PER_EXAMPLE, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz") / "root"
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "1").start()
    # a live job: the inlet is fuzzed, and a job that finished has closed its inlet
    reply = collector.call("newCollectorJob", jobName="fuzz", searchTerms="fuzz", collectorObjectsPerFile=10,
                           delayInMsBetweenObjects=0, source={"kind": "synthetic", "rate": 100})
    yield collector, dispatch, reply
    dispatch.kill()
    collector.kill()


class Requester:
    """One REQ socket kept across requests (a fresh one only after a timeout), so 10,000 requests stay quick."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.sock = None
        self.answered = 0

    def ask(self, raw: bytes) -> dict:
        if self.sock is None:
            self.sock = zmq.Context.instance().socket(zmq.REQ)
            self.sock.setsockopt(zmq.LINGER, 0)
            self.sock.connect(self.endpoint)
        self.sock.send(raw)
        if not self.sock.poll(5000):
            self.sock.close()
            self.sock = None
            raise AssertionError(f"no answer to {raw[:80]!r}")
        self.answered += 1
        return orjson.loads(self.sock.recv())

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def fuzz_control(service: ServiceProcess, actions: list[str]) -> int:
    requester = Requester(service.endpoint)

    @FUZZ
    @given(st.lists(requests(actions), min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
    def fuzz(batch: list[bytes]) -> None:
        for raw in batch:
            reply = requester.ask(raw)
            assert isinstance(reply, dict) and reply, raw

    try:
        fuzz()
    finally:
        requester.close()
    return requester.answered


def test_collector_control_survives_10000_bad_requests(services) -> None:
    collector, _, reply = services
    assert fuzz_control(collector, COLLECTOR_ACTIONS) >= MESSAGES
    with pytest.raises(ServiceUnavailable):  # over the size cap: dropped, never answered
        collector.client.send_raw(b'{"action": "ping", "pad": "' + b"x" * (17 * 2**20) + b'"}', timeout=2)
    assert collector.call("ping")["pong"] is True
    assert collector.call("jobStatus", jobId=reply["data"]["jobId"])["jobId"] == reply["data"]["jobId"]


def test_dispatch_control_survives_10000_bad_requests(services) -> None:
    _, dispatch, _ = services
    assert fuzz_control(dispatch, DISPATCH_ACTIONS) >= MESSAGES
    assert dispatch.call("ping")["pong"] is True
    bad_host = dispatch.client.send_raw(orjson.dumps({"action": "attach", "job": {
        "type": "data.collector.job", "data": {"jobId": "x", "hostName": "203.0.113.9", "dispatchPort": 5,
                                               "collectorPort": 6, "typeReturned": "data.x"}}}))
    assert bad_host["field"] == "job.data.hostName"  # no message sends Dispatch to another host


def test_collector_port_survives_10000_bad_messages(services) -> None:
    collector, _, reply = services
    job = reply["data"]["jobId"]
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(f"tcp://127.0.0.1:{reply['data']['collectorPort']}")
    before = collector.call("jobStatus", jobId=job)
    sent = [0]

    @FUZZ
    @given(st.lists(inlet_messages(job), min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
    def fuzz(batch: list[bytes]) -> None:
        for raw in batch:
            push.send(raw)
        sent[0] += len(batch)

    def taken() -> int:
        status = collector.call("jobStatus", jobId=job)
        return status["inlet_rejected"] + status["inlet_stored"] - before["inlet_rejected"] - before["inlet_stored"]

    try:
        fuzz()
        wait_for(lambda: taken() >= sent[0] * 0.9, timeout=60, what="the messages to be taken")
        push.send(orjson.dumps({"job": job + ".ok", "objects": [{"id": 1, "type": f"data.{job}.ok", "data": 1}]}))

        def good_stored() -> bool:
            jobs = [j["jobId"] for j in collector.call("listJobs")["jobs"]]
            return f"{job}.ok" in jobs and collector.call("jobStatus", jobId=f"{job}.ok")["objects"] >= 1

        wait_for(good_stored, timeout=30, what="a good message stored after the fuzz")
    finally:
        push.close()
    assert sent[0] >= MESSAGES
    assert collector.call("ping")["pong"] is True
    assert collector.call("jobStatus", jobId=job)["inlet_rejected"] > before["inlet_rejected"]
