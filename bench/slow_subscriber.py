"""A subscriber that never reads, on a job of 1,000 objects a file at 20,000 objects/s: how much the collector grows.

Two contenders, each a real collector with a real synthetic job and a real SUB socket that connects and then
reads nothing for SECONDS (default 60; ``python bench/slow_subscriber.py 20`` for a shorter run):

- ``bytes``: the collector as it runs by default, its publish queue bounded in bytes (``--publish-bytes``,
  32 MiB a subscriber);
- ``messages``: the same with ``--publish-bytes`` so large that only the count bound (``--publish-hwm``, 2,000
  messages) applies, as before issue 16: the baseline.

Figures per contender: the collector's RSS growth over the pause (now and at its peak), the objects/s the job
stored meanwhile, and, once the subscriber reads again, whether every object was received or healed from the
store (a gap in seq, read back by id range). Goal (issue 16): growth under 100 MB with every object received or
healed. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import orjson
import zmq

from nectar.testing import ServiceProcess, rss_bytes
from nom import Store
from nom.net import decode_batch
from scratch_folder import scratch_dir

RATE, PER_FILE = 20_000, 1000
CONTENDERS = {"bytes": (), "messages": ("--publish-bytes", str(2**50))}


def run(base: Path, args: tuple[str, ...], seconds: float) -> dict[str, object]:
    root = base / "root"
    service = ServiceProcess("collector", root, *args).start()
    pid = service.proc.pid
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 1)  # the subscriber holds as little as it can: the collector's queue is measured
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
        before, stored = rss_bytes(pid), service.call("jobStatus", jobId=job)["stored"]
        started = time.monotonic()
        while time.monotonic() - started < seconds:  # the subscriber reads nothing
            time.sleep(0.5)
        now_rss, peak_rss = rss_bytes(pid), rss_bytes(pid, peak=True)
        status = service.call("jobStatus", jobId=job)
        objects_per_s = (status["stored"] - stored) / (time.monotonic() - started)
        read_from = time.monotonic()
        while batches[-1][1]["seq"] < status["seq"]:  # it reads again, up to what was new when it did
            assert sub.poll(60_000), "nothing more published"
            batches.append(decode_batch(sub.recv_multipart()))
        service.call("stopCollectorJob", jobId=job)
        final_seq = service.call("jobStatus", jobId=job)["seq"]
        caught_up_s = time.monotonic() - read_from
    finally:
        sub.close()
        service.kill()
    store = Store(root)
    have: set[int] = set()
    healed, expected_seq, last_id = 0, batches[0][1]["seq"], 0
    for _, header, objects in batches:
        if header["seq"] != expected_seq:
            missed = [o["id"] for o in store.scan(job, last_id + 1, header["first_id"] - 1)]
            assert len(missed) == header["seq"] - expected_seq, "a gap and the store disagree"
            healed += len(missed)
            have.update(missed)
        have.update(o["id"] for o in objects)
        expected_seq, last_id = header["seq"] + header["count"], header["last_id"]
    tail = [o["id"] for o in store.scan(job, last_id + 1)]
    healed += len(tail)
    have.update(tail)
    stored_ids = [o["id"] for o in store.scan(job, batches[0][2][0]["id"])]
    return {"rss_growth_mb": round((now_rss - before) / 2**20, 1),
            "rss_peak_growth_mb": round((peak_rss - before) / 2**20, 1),
            "objects_per_s": round(objects_per_s), "received_objects": sum(h["count"] for _, h, _ in batches),
            "healed_objects": healed, "read_back_s": round(caught_up_s, 1),
            "every_object_received_or_healed": sorted(have) == stored_ids and final_seq == expected_seq + len(tail)}


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    figures: dict[str, object] = {"seconds": seconds, "rate": RATE, "per_file": PER_FILE, "goal_growth_mb": 100}
    for name, args in CONTENDERS.items():
        base = scratch_dir(f"nectar-bench-slow-{name}-")
        try:
            result = run(base, args, seconds)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        for key, value in result.items():
            figures[f"{name}_{key}"] = value
            print(f"{name:9} {key:34} {value}")
    figures["ratio_growth_bytes_to_messages"] = round(
        float(figures["bytes_rss_peak_growth_mb"]) / max(1.0, float(figures["messages_rss_peak_growth_mb"])), 3)
    print(orjson.dumps(figures).decode())


if __name__ == "__main__":
    main()
