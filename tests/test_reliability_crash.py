"""Kill -9 at random moments: the collector during a 100,000-object job, and a writer while retention deletes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import zmq

from conftest import wait_for
from nectar.testing import ServiceProcess
from nom import Store
from nom.net import decode_batch
from nom.store import is_data_name
from test_store_crash import read_lines

TOTAL = 100_000


def test_collector_sigkilled_20_times_loses_nothing_acknowledged(tmp_path: Path) -> None:
    root = tmp_path / "root"
    rng = random.Random(77)
    service = ServiceProcess("collector", root).start()
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 0)  # keep everything: each object received is one the store acknowledged
    acknowledged: set[str] = set()

    def drain() -> None:
        while sub.poll(0):
            _, _, objects = decode_batch(sub.recv_multipart())
            acknowledged.update(o["data"]["id"] for o in objects)

    try:
        reply = service.call("newCollectorJob", jobName="kill", searchTerms="biden harris", collectorObjectsPerFile=50,
                             delayInMsBetweenObjects=0,
                             source={"kind": "synthetic", "rate": 8000, "count": TOTAL, "seed": 9})
        job = reply["data"]["jobId"]
        sub.setsockopt(zmq.SUBSCRIBE, job.encode())
        sub.connect(f"tcp://127.0.0.1:{reply['data']['dispatchPort']}")
        kills = 0
        while kills < 20:
            end = time.monotonic() + rng.uniform(0.2, 0.6)
            while time.monotonic() < end:
                drain()
                sub.poll(10)
            if service.call("jobStatus", jobId=job)["state"] == "finished":
                break
            endpoint = service.endpoint
            service.kill()
            kills += 1
            drain()
            service = ServiceProcess("collector", root).start(endpoint=endpoint)
        wait_for(lambda: drain() or service.call("jobStatus", jobId=job)["state"] == "finished", timeout=120,
                 what="the job to finish")
        drain()
    finally:
        sub.close()
        service.kill()
    assert kills >= 20, f"the job finished after only {kills} kills: slow the source down"
    folder = root / job
    stored: Counter = Counter()
    for name in os.listdir(folder):
        if is_data_name(name):
            for obj in orjson.loads((folder / name).read_bytes()):  # every file whole and parseable
                stored[obj["data"]["id"]] += 1
    assert max(stored.values()) == 1, "a tweet was stored twice"
    assert acknowledged <= set(stored), "an acknowledged object is missing"
    assert len(stored) == TOTAL
    assert Store(root).usage(job).objects == TOTAL


RETENTION_CHILD = r"""
import sys
from nom import Store
store = Store(sys.argv[1])
n = int(sys.argv[2])
while True:
    ids = store.new_ids("capped", 10)
    info = store.append("capped", [{"id": i, "type": "data.r", "data": {"n": n, "pad": "x" * 200}} for i in ids])
    print(info.name, info.bytes, flush=True)
    n += 1
"""


def test_writer_sigkilled_100_times_while_retention_deletes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = Store(root)
    store.job_dir("capped", create=True)
    cap = 30_000
    store.set_max_size("capped", cap)
    rng = random.Random(3)
    written: list[int] = []
    largest = 0
    for kill in range(100):
        proc = subprocess.Popen([sys.executable, "-c", RETENTION_CHILD, str(root), str(kill * 100_000)],
                                stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent)
        try:
            lines = read_acks_lines(proc, rng.uniform(0.05, 0.3))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        for name, size in lines:
            written.append(name)
            largest = max(largest, size)
        folder = root / "capped"
        present = sorted(int(n[:-5]) for n in os.listdir(folder) if is_data_name(n))
        sizes = {}
        for name in present:
            raw = (folder / f"{name}.json").read_bytes()
            assert isinstance(orjson.loads(raw), list)  # whole
            sizes[name] = len(raw)
        assert sum(sizes.values()) <= cap + largest, "over the cap by more than one file"
        acked_present = [n for n in written if n in sizes]
        if acked_present:  # only the oldest were deleted: every acknowledged file newer than one kept is kept
            oldest_kept = min(acked_present)
            assert all(n in sizes for n in written if n > oldest_kept), "a newer file was deleted"
    assert len(written) > 300 and largest > 0


def read_acks_lines(proc: subprocess.Popen, seconds: float) -> list[tuple[int, int]]:
    """(name, bytes) of the files the child reported stored."""
    # at least one file per run, however slowly a loaded machine starts Python: each kill lands mid-work
    return [tuple(map(int, line.split())) for line in read_lines(proc, seconds, at_least=1)]
