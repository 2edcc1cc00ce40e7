"""A subscriber that falls behind tells from sequence numbers exactly what it missed, and reads it from the store."""

from __future__ import annotations

from pathlib import Path

import zmq

from conftest import wait_for
from nectar.testing import ServiceProcess
from nom import Store
from nom.net import decode_batch

TOTAL = 50_000


def test_paused_subscriber_heals_every_gap_from_the_store(tmp_path: Path) -> None:
    root = tmp_path / "root"
    service = ServiceProcess("collector", root, "--publish-hwm", "20").start()
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 20)
    try:
        reply = service.call("newCollectorJob", jobName="fast", searchTerms="biden harris",
                             collectorObjectsPerFile=50, delayInMsBetweenObjects=0,
                             source={"kind": "synthetic", "rate": None, "count": TOTAL})
        job, port = reply["data"]["jobId"], reply["data"]["dispatchPort"]
        sub.setsockopt(zmq.SUBSCRIBE, job.encode())
        sub.connect(f"tcp://127.0.0.1:{port}")
        assert sub.poll(10_000), "nothing published"
        first = decode_batch(sub.recv_multipart())
        # the subscriber now pauses while the rest of the job is published
        wait_for(lambda: service.call("jobStatus", jobId=job)["state"] == "finished", timeout=60, what="the job")
        final_seq = service.call("jobStatus", jobId=job)["seq"]
        batches = [first]
        while sub.poll(300):
            batches.append(decode_batch(sub.recv_multipart()))
    finally:
        sub.close()
        service.kill()

    store = Store(root)
    received: dict[int, dict] = {}
    healed: dict[int, dict] = {}
    expected_seq, last_id, gaps = 0, 0, 0
    for _, header, objects in batches:
        if header["seq"] != expected_seq:  # a gap: exactly these objects were missed
            missed = header["seq"] - expected_seq
            from_store = list(store.scan(job, last_id + 1, header["first_id"] - 1))
            assert len(from_store) == missed, "the gap's size and the store disagree"
            healed.update((o["id"], o) for o in from_store)
            gaps += 1
        received.update((o["id"], o) for o in objects)
        expected_seq, last_id = header["seq"] + header["count"], header["last_id"]
    if expected_seq != final_seq:  # the tail was dropped too
        tail = list(store.scan(job, last_id + 1))
        assert len(tail) == final_seq - expected_seq
        healed.update((o["id"], o) for o in tail)
        gaps += 1
    assert final_seq == TOTAL
    assert gaps >= 1 and len(received) < TOTAL, "the subscriber did not fall behind; the test proves nothing"
    assert not set(received) & set(healed)
    everything = {**received, **healed}
    assert sorted(everything) == [o["id"] for o in store.scan(job)]
    assert len(everything) == TOTAL
