"""Both services driven by the clock a test gives them: step(now) reaches the job runners, the engines and the
standing reductions, so a test moves a service through time without waiting for it."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from collector.service import Collector
from conftest import wait_for
from dispatch.service import Dispatcher
from nom import Store


def request(service, action: str, **fields) -> dict:
    reply = service.handle(orjson.dumps({"action": action, **fields}))
    assert "error" not in reply, reply
    return reply


def test_the_collector_runs_its_jobs_by_the_clock_it_is_given(tmp_path: Path) -> None:
    collector = Collector(tmp_path / "root", control="tcp://127.0.0.1:*", flush_latency=30.0, writer="thread")
    collector.start()
    try:
        reply = request(collector, "newCollectorJob", jobName="clock", searchTerms="biden harris",
                        collectorObjectsPerFile=100_000, delayInMsBetweenObjects=0,
                        source={"kind": "synthetic", "rate": 100})
        runner = collector.jobs[reply["data"]["jobId"]]
        start = time.monotonic()
        for k in range(1, 41):  # 20 s of a 100/s source, by the given clock, in half-second steps
            collector.step(now=start + k / 2, max_wait=0)
        taken = len(runner.buffer_pos)
        assert taken >= 1900 and runner.stats["stored"] == 0  # buffered: the array is far from full
        k = 40
        while not runner.in_flight and k < 80:  # on, until the buffer is submitted as one array
            k += 1
            collector.step(now=start + k / 2, max_wait=0)
        assert k == 61  # the first item was taken at 0.5 s: the array went when the given clock passed 30.5 s
        wait_for(lambda: collector.step(now=start + k / 2, max_wait=0.05) >= 0 and runner.stats["stored"] > taken,
                 what="the flushed array to be stored")
        assert runner.stats["files_written"] == 1 and runner.stats["stored"] >= 2900  # one array: all it took
        assert collector.store.usage(runner.job).files == 1
    finally:
        collector.close()


def test_dispatch_folds_and_emits_by_the_clock_it_is_given(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = Store(root)
    ids = iter(range(1, 10_000))
    store.append("clockjob", [{"id": next(ids), "type": "data.n", "data": n} for n in range(10)])
    dispatcher = Dispatcher(root, control="tcp://127.0.0.1:*", workers=1)
    dispatcher.start()
    try:
        reply = request(dispatcher, "apply", map="count", reduce="sum", jobId="clockjob", toDate="now")
        apply = dispatcher.applies[reply["applyId"]]
        now = time.monotonic() + 1000.0
        wait_for(lambda: dispatcher.step(now=now, max_wait=0.01) is None and apply.state.value == "standing",
                 timeout=30, what="the batch part to finish")
        assert apply.last_emit == now and apply.reduction is not None
        store.append("clockjob", [{"id": next(ids), "type": "data.n", "data": n} for n in range(5)])
        later = now + 2.0  # past EMIT_EVERY, by the given clock
        wait_for(lambda: dispatcher.step(now=later, max_wait=0.01) is None and apply.reduction.objects == 15,
                 what="the new file to be folded")
        assert apply.reduction.last_fold == later
        assert apply.last_emit == later  # the standing result was emitted again, at the given time
    finally:
        dispatcher.close()
