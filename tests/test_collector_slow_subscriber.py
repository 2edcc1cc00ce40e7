"""A subscriber that stops reading costs the collector a bounded queue in bytes, not the job's data rate; once it
reads again it receives or heals from the store every object (the store is the log)."""

from __future__ import annotations

from pathlib import Path

import pytest
import zmq

from conftest import wait_for
from nectar.testing import ServiceProcess, rss_bytes
from nom import Store
from nom.net import decode_batch

RATE, PER_FILE, SECONDS = 20_000, 1000, 15


@pytest.mark.slow
def test_a_subscriber_that_never_reads_costs_a_bounded_queue_and_heals_everything(tmp_path: Path) -> None:
    root = tmp_path / "root"
    service = ServiceProcess("collector", root).start()
    pid = service.proc.pid
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 1)  # hold as little as it can itself: the collector's queue is what is measured
    sub.setsockopt(zmq.RCVBUF, 65536)
    try:
        reply = service.call("newCollectorJob", jobName="slow", searchTerms="biden harris",
                             collectorObjectsPerFile=PER_FILE, delayInMsBetweenObjects=0,
                             source={"kind": "synthetic", "rate": RATE})
        job = reply["data"]["jobId"]
        sub.setsockopt(zmq.SUBSCRIBE, job.encode())
        sub.connect(f"tcp://127.0.0.1:{reply['data']['dispatchPort']}")
        assert sub.poll(20_000), "nothing published"
        batches = [decode_batch(sub.recv_multipart())]
        before = rss_bytes(pid)
        stored = service.call("jobStatus", jobId=job)["stored"]
        # the subscriber now reads nothing while the job stores SECONDS of tweets at RATE
        wait_for(lambda: service.call("jobStatus", jobId=job)["stored"] >= stored + RATE * SECONDS,
                 timeout=SECONDS * 12, what=f"{SECONDS} s of tweets at {RATE}/s")
        grown = rss_bytes(pid, peak=True) - before
        now_seq = service.call("jobStatus", jobId=job)["seq"]
        while batches[-1][1]["seq"] < now_seq:  # it reads again: what was queued for it, up to what is new
            assert sub.poll(30_000), "nothing more published"
            batches.append(decode_batch(sub.recv_multipart()))
        service.call("stopCollectorJob", jobId=job)
        final_seq = service.call("jobStatus", jobId=job)["seq"]
    finally:
        sub.close()
        service.kill()
    assert grown < 64 * 2**20, f"the collector grew {grown / 2**20:.0f} MB for a subscriber that did not read"
    store = Store(root)
    have: set[int] = set()
    expected_seq, last_id = batches[0][1]["seq"], 0
    for _, header, objects in batches:  # each gap in seq is read from the store: exactly what it hid
        if header["seq"] != expected_seq:
            missed = [o["id"] for o in store.scan(job, last_id + 1, header["first_id"] - 1)]
            assert len(missed) == header["seq"] - expected_seq
            have.update(missed)
        have.update(o["id"] for o in objects)
        expected_seq, last_id = header["seq"] + header["count"], header["last_id"]
    tail = [o["id"] for o in store.scan(job, last_id + 1)]
    assert len(tail) == final_seq - expected_seq
    have.update(tail)
    stored_ids = [o["id"] for o in store.scan(job, batches[0][2][0]["id"])]
    assert sorted(have) == stored_ids and len(stored_ids) >= RATE * SECONDS
