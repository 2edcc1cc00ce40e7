"""Collector benchmark: the synthetic source's sustained stored objects/s, against the store's own append.

Runs a real collector process with a synthetic job (no rate limit, 50 objects per file) for
BENCH_SECONDS (30 by default) while a subscriber counts what is published, then appends the
same kind of objects straight to a store (Store.commit, groups of 50 files) in this process.
Prints stored objects/s, its ratio to the store's own append rate (goal >= 0.8), and the
publish rate the subscriber saw. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson
import zmq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from collector.sources.synthetic import SyntheticSource  # noqa: E402
from nom import Store  # noqa: E402
from services import Service  # noqa: E402

PER_FILE = 50


def run_collector(base: Path, seconds: float) -> dict:
    service = Service("collector", base / "root").start()
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 100_000)
    try:
        reply = service.call("newCollectorJob", jobName="bench", searchTerms="biden harris",
                             collectorObjectsPerFile=PER_FILE, delayInMsBetweenObjects=0,
                             source={"kind": "synthetic", "rate": None})
        job = reply["data"]["jobId"]
        sub.setsockopt(zmq.SUBSCRIBE, job.encode())
        sub.connect(f"tcp://127.0.0.1:{reply['data']['dispatchPort']}")
        time.sleep(2.0)  # warm-up: the first seconds include start-up and the text pool
        start_status = service.call("jobStatus", jobId=job)
        started = time.monotonic()
        received = 0
        while time.monotonic() - started < seconds:
            if sub.poll(100):
                received += orjson.loads(sub.recv_multipart()[1])["count"]  # the header is enough to count
        elapsed = time.monotonic() - started
        end_status = service.call("jobStatus", jobId=job)
        service.call("stopCollectorJob", jobId=job)
    finally:
        sub.close()
        service.terminate()
    stored = end_status["stored"] - start_status["stored"]
    return {"collector_seconds": round(elapsed, 1), "collector_stored_objects": stored,
            "collector_stored_objects_per_s": round(stored / elapsed),
            "publish_objects_per_s_received_by_subscriber": round(received / elapsed)}


def run_store_append(base: Path, objects: int) -> dict:
    source = SyntheticSource("biden harris", rate=None)
    store = Store(base / "append")
    ids = iter(range(10**18, 10**18 + objects))
    arrays = []
    for _ in range(objects // PER_FILE):
        arrays.append([{"id": next(ids), "type": "data.tweet-biden-harris", "data": item.data}
                       for item in source.read(PER_FILE)])
    os.sync()
    started = time.monotonic()
    for n in range(0, len(arrays), 50):
        store.commit([("bench", a) for a in arrays[n:n + 50]])
    elapsed = time.monotonic() - started
    return {"store_append_objects": objects, "store_append_objects_per_s": round(objects / elapsed)}


def main() -> None:
    seconds = float(os.environ.get("BENCH_SECONDS", 30))
    base = Path(tempfile.mkdtemp(prefix="nectar-bench-collector-"))
    try:
        figures = run_collector(base, seconds)
        figures.update(run_store_append(base, 200_000))
        figures["ratio_to_store_append"] = round(
            figures["collector_stored_objects_per_s"] / figures["store_append_objects_per_s"], 3)
        figures["goal_ratio_to_store_append"] = 0.8
        for key, value in figures.items():
            print(f"{key:36} {value}")
        print(orjson.dumps(figures).decode())
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
