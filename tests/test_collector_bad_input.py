"""Bad requests and bad storage-inlet messages: each named, none fatal, nothing stored changes."""

from __future__ import annotations

import orjson
import pytest
import zmq

from conftest import wait_for
from nectar.testing import ServiceProcess
from nom import Store

GOOD = {"action": "newCollectorJob", "jobName": "j", "collectorObjectsPerFile": 50, "delayInMsBetweenObjects": 0,
        "searchTerms": "biden harris", "source": {"kind": "synthetic", "rate": 200, "count": 120}}


def without(field: str) -> dict:
    return {k: v for k, v in GOOD.items() if k != field}


BAD_REQUESTS = [
    (b"not json", None, "not valid JSON"),
    (b"[1, 2]", None, "must be a JSON object"),
    (b'"ping"', None, "must be a JSON object"),
    (b"{}", "action", "action must be one of"),
    ({"action": "launchMissiles"}, "action", "action must be one of"),
    ({"action": 5}, "action", "action must be one of"),
    (without("jobName"), "jobName", "jobName is required"),
    (without("searchTerms"), "searchTerms", "searchTerms is required"),
    (without("collectorObjectsPerFile"), "collectorObjectsPerFile", "is required"),
    (without("delayInMsBetweenObjects"), "delayInMsBetweenObjects", "is required"),
    ({**GOOD, "jobName": ""}, "jobName", "non-empty string"),
    ({**GOOD, "searchTerms": 42}, "searchTerms", "non-empty string"),
    ({**GOOD, "collectorObjectsPerFile": 0}, "collectorObjectsPerFile", "integer from 1 to 100000, got 0"),
    ({**GOOD, "collectorObjectsPerFile": "50"}, "collectorObjectsPerFile", "got '50'"),
    ({**GOOD, "collectorObjectsPerFile": 2.5}, "collectorObjectsPerFile", "integer from 1"),
    ({**GOOD, "collectorObjectsPerFile": True}, "collectorObjectsPerFile", "integer from 1"),
    ({**GOOD, "delayInMsBetweenObjects": -1}, "delayInMsBetweenObjects", "integer from 0"),
    ({**GOOD, "source": "synthetic"}, "source", "source must be an object"),
    ({**GOOD, "source": {"kind": "ftp"}}, "source.kind", "source.kind must be one of"),
    ({**GOOD, "source": {"kind": "replay", "path": "/no/such/file.jsonl"}}, "source.path", "no such file"),
    ({**GOOD, "source": {"kind": "replay"}}, "source.path", "source.path must be"),
    ({**GOOD, "source": {"kind": "synthetic", "rate": -3}}, "source.rate", "from 0.001 to 10,000,000"),
    ({**GOOD, "source": {"kind": "synthetic", "rate": 1e-300}}, "source.rate", "got 1e-300"),  # would never produce
    ({**GOOD, "source": {"kind": "synthetic", "rate": 1e300}}, "source.rate", "objects per second from 0.001"),
    ({**GOOD, "source": {"kind": "synthetic", "rate": "fast"}}, "source.rate", "source.rate must be a number"),
    ({**GOOD, "source": {"kind": "x"}}, "source.kind", "X_BEARER_TOKEN"),
    ({**GOOD, "source": {"kind": "x", "token": "stolen"}}, "source.token", "must not carry a token"),
    ({**GOOD, "extra": 1}, "extra", "unknown field 'extra'"),
    ({"action": "jobStatus"}, "jobId", "jobId is required"),
    ({"action": "jobStatus", "jobId": "../../etc"}, "jobId", "jobId must be"),
    ({"action": "jobStatus", "jobId": "nope"}, "jobId", "no job 'nope' in the store"),
    ({"action": "stopCollectorJob", "jobId": "x\u0000y"}, "jobId", "jobId must be"),
    ({"action": "setJobMaxSize", "jobId": "nope", "maxSize": 10}, "jobId", "no job"),
]


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad") / "root"
    service = ServiceProcess("collector", root).start()
    reply = service.call("newCollectorJob", **{k: v for k, v in GOOD.items() if k != "action"})
    job = reply["data"]["jobId"]
    wait_for(lambda: service.call("jobStatus", jobId=job)["state"] == "finished", what="the good job")
    yield service, job, Store(root)
    service.kill()


def snapshot(store: Store, job: str) -> dict:
    folder = store.root / job
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name[:-5].isdigit()}


@pytest.mark.parametrize(("request_", "field", "message"), BAD_REQUESTS)
def test_bad_request_gets_a_named_error_and_changes_nothing(collector, request_, field, message) -> None:
    service, job, store = collector
    before = snapshot(store, job)
    jobs_before = store.jobs()
    raw = request_ if isinstance(request_, bytes) else orjson.dumps(request_)
    reply = service.client.send_raw(raw)
    assert message in reply["error"]
    assert reply.get("field") == field
    assert service.call("ping")["pong"] is True
    assert snapshot(store, job) == before and store.jobs() == jobs_before


def test_there_are_at_least_20_bad_requests() -> None:
    assert len(BAD_REQUESTS) >= 20


BAD_INLET = [
    (b"\xff\xfe not json", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (b'{"objects": [{"id": 1, "type": "data.x"}]}', "job must be"),
    (b'{"job": "../etc", "objects": [{"id": 1, "type": "data.x"}]}', "job must be"),
    (b'{"job": "someone-else", "objects": [{"id": 1, "type": "data.x"}]}', "on this port"),
    (b'{"job": "%(job)s.x"}', "objects must be"),
    (b'{"job": "%(job)s.x", "objects": []}', "objects must be"),
    (b'{"job": "%(job)s.x", "objects": [{"type": "data.x"}]}', "has no 'id'"),
    (b'{"job": "%(job)s.x", "objects": [{"id": "7", "type": "data.x"}]}', "must be an integer"),
    (b'{"job": "%(job)s.x", "objects": [{"id": 7, "type": "not a type"}]}', "dotted name"),
    (b'{"job": "%(job)s.x", "objects": [{"id": 7, "type": "data.x"}', "not valid JSON"),
    # the inlet stores results only: never into the job's own folder, never typed as anything but a result of it
    (b'{"job": "%(job)s", "objects": [{"id": 7, "type": "data.%(job)s.sum", "data": {"id": "99999999999999999999"}}]}',
     "must be a derived job"),
    (b'{"job": "%(job)s.x", "objects": [{"id": 7, "type": "data.tweet-biden-harris", "data": {"id": "abc"}}]}',
     "must be a result type"),
    (b'{"job": "%(job)s.x", "objects": [{"id": 7, "type": "data.%(job)s.sum"}, {"id": 8, "type": "data.x"}]}',
     "objects[1].type must be a result type"),
]


def test_bad_inlet_messages_are_rejected_counted_and_logged(collector, tmp_path) -> None:
    service, _, store = collector
    # a live job (a finished one has closed its inlet)
    live = {**{k: v for k, v in GOOD.items() if k != "action"}, "source": {"kind": "synthetic", "rate": 50}}
    job = service.call("newCollectorJob", **live)["data"]["jobId"]
    status = service.call("jobStatus", jobId=job)
    before = snapshot(store, job)
    ctx = zmq.Context.instance()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(f"tcp://127.0.0.1:{status['collectorPort']}")
    try:
        for raw, message in BAD_INLET:
            rejected = service.call("jobStatus", jobId=job)["inlet_rejected"]
            push.send(raw.replace(b"%(job)s", job.encode()))
            wait_for(lambda rejected=rejected: service.call("jobStatus", jobId=job)["inlet_rejected"] == rejected + 1,
                     what=message)
            assert message in service.call("jobStatus", jobId=job)["lastInletError"]
        # a good message after all that is stored under the derived job it names
        push.send(orjson.dumps({"job": f"{job}.words", "objects": [{"id": 1, "type": f"data.{job}.sum", "data": 3}]}))
        wait_for(lambda: store.exists(f"{job}.words") and store.usage(f"{job}.words").objects == 1, what="inlet")
    finally:
        push.close()
    service.call("stopCollectorJob", jobId=job)
    assert {name: raw for name, raw in snapshot(store, job).items() if name in before} == before
    assert all(o["type"] == "data.tweet-biden-harris" for o in store.scan(job))  # only what the source collected
    stored = list(store.scan(f"{job}.words"))
    assert [(o["type"], o["data"]) for o in stored] == [(f"data.{job}.sum", 3)]
    log = (service.log_dir / "collector.log").read_text()
    assert log.count("collectorPort message rejected") >= len(BAD_INLET)
    assert len(BAD_INLET) >= 10
