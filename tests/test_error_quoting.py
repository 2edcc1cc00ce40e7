"""A bad value of any size is quoted as a bounded prefix: in error replies, in jobStatus and in both services' logs."""

from __future__ import annotations

import orjson
import pytest
import zmq

from conftest import wait_for
from nectar.testing import ServiceProcess
from nom import QUOTE_LIMIT, quote

HUGE = "\u00e9" + "x" * (10 * 2**20)  # a 10 MB field
BOUND = 2000  # bytes an error reply or a log line may take, whatever the value quoted


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    root = tmp_path_factory.mktemp("quote") / "root"
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "1").start()
    yield collector, dispatch
    dispatch.kill()
    collector.kill()


def log_size(service: ServiceProcess) -> int:
    return (service.log_dir / f"{service.module}.log").stat().st_size


GOOD_JOB = {"action": "newCollectorJob", "jobName": "j", "collectorObjectsPerFile": 50, "delayInMsBetweenObjects": 0,
            "searchTerms": "biden harris", "source": {"kind": "synthetic", "rate": 100, "count": 10}}

COLLECTOR_REQUESTS = [
    {"action": HUGE},
    {**GOOD_JOB, "jobName": HUGE},
    {**GOOD_JOB, "searchTerms": [HUGE]},
    {**GOOD_JOB, "collectorObjectsPerFile": HUGE},
    {**GOOD_JOB, "source": {"kind": HUGE}},
    {**GOOD_JOB, "source": {"kind": "synthetic", "rate": HUGE}},
    {**GOOD_JOB, "source": {"kind": "synthetic", HUGE: 1}},
    {**GOOD_JOB, "source": {"kind": "replay", "path": HUGE[:4000]}},
    {**GOOD_JOB, HUGE: 1},
    {"action": "jobStatus", "jobId": HUGE},
    {"action": "setJobMaxSize", "jobId": "nope", "maxSize": HUGE},
]

DISPATCH_REQUESTS = [
    {"action": HUGE},
    {"action": "apply", "jobId": "nope", "map": HUGE, "reduce": "sum"},
    {"action": "apply", "jobId": "nope", "map": "words", "reduce": [HUGE]},
    {"action": "apply", "jobId": "nope", "map": "words", "reduce": "sum", "fromDate": HUGE},
    {"action": "apply", "jobId": "nope", "map": "words", "reduce": "sum", "engine": HUGE},
    {"action": "cancel", "applyId": HUGE},
    {"action": "attach", "job": {"type": "data.collector.job", "data": {
        "jobId": "x", "hostName": HUGE, "dispatchPort": 5, "collectorPort": 6, "typeReturned": "data.x"}}},
]


@pytest.mark.parametrize("which", ["collector", "dispatch"])
def test_error_replies_and_log_lines_quote_a_bounded_prefix(services, which) -> None:
    collector, dispatch = services
    service, requests = (collector, COLLECTOR_REQUESTS) if which == "collector" else (dispatch, DISPATCH_REQUESTS)
    before = log_size(service)
    for request in requests:
        raw = orjson.dumps(request)
        assert len(raw) > 10 * 2**20 or "path" in str(request.get("source"))
        reply = service.client.send_raw(raw, timeout=30)
        assert "error" in reply, reply
        assert len(orjson.dumps(reply)) < BOUND, f"a reply of {len(orjson.dumps(reply)):,} bytes to {str(request)[:80]}"
        assert "xxxx" in reply["error"] or reply.get("field") is not None  # still says what it was
    assert service.call("ping")["pong"] is True
    grown = log_size(service) - before
    assert grown < BOUND * len(requests), f"{grown:,} bytes of log for {len(requests)} bad requests"


def test_a_rejected_inlet_message_is_quoted_bounded_in_status_and_log(services) -> None:
    collector, _ = services
    reply = collector.call("newCollectorJob", **{k: v for k, v in GOOD_JOB.items() if k != "action"})
    job = reply["data"]["jobId"]
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(f"tcp://127.0.0.1:{reply['data']['collectorPort']}")
    before = log_size(collector)
    try:
        push.send(orjson.dumps({"job": f"{job}.x", "objects": [{"id": 1, "type": HUGE}]}))
        wait_for(lambda: collector.call("jobStatus", jobId=job)["inlet_rejected"] == 1, what="the rejection")
    finally:
        push.close()
    status = collector.call("jobStatus", jobId=job)
    assert "type" in status["lastInletError"] and len(status["lastInletError"]) < BOUND
    assert len(orjson.dumps(status)) < 4 * BOUND
    assert log_size(collector) - before < BOUND


def test_quote_keeps_a_prefix_and_says_how_long_the_whole_was() -> None:
    assert quote("abc") == "'abc'" and quote(5) == "5" and quote(None) == "None"
    shown = quote("y" * 10**6)
    assert shown.startswith("'yyy") and "1,000,000 characters" in shown and len(shown) < QUOTE_LIMIT + 60
    shown = quote(b"\x00" * 10**6)
    assert shown.startswith("b'\\x00") and "1,000,000 bytes" in shown and len(shown) < 4 * QUOTE_LIMIT + 60
    for value in ({"k": "v" * 10**6, "l": list(range(10**5))}, [[[["deep" * 10**5]]]], 7 ** 10**5, ("t",) * 10**5):
        assert len(quote(value)) < QUOTE_LIMIT + 60, type(value)
    assert quote("a\x1b[2Jb") == repr("a\x1b[2Jb")  # control characters stay escaped, as repr does
