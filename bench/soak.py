"""Soak: a synthetic job at 20,000 objects/s for 10 minutes with a standing reduction.

Real collector and Dispatch processes. Prints each process's RSS growth (goal < 50 MB: the first minute is
warm-up, growth is measured from then to the end), objects produced vs stored vs reduced (goal: equal once
the source has stopped and the reduction caught up), and the standing reduction's p50/p99 delay from an
object's publication until a query counts it. BENCH_SECONDS shortens the run (default 600).
The last line is one JSON object with every figure.

Where Dispatch's memory goes (issue 16, 150-s runs at 20k objects/s, 50 a file, load average 6-9 on 2 cores):
a census of its structures every 5 s found every one bounded (the cache at its 50,000 objects / 31.6 MB of
encoded files, the follower's recent names at ~10k, the accumulator at 5,752 keys, one apply, no engine run);
the job's index grows by ~45 bytes a file (~11 MB over 600 s, as in every process that reads the job). RSS
moved between 60 and 88 MB with the reduction's lag: batches waiting in the SUB socket while Dispatch is
behind, then heap that glibc keeps once they are freed (5-28 MB free in the main arena). So one sample at the
end minus one after warm-up varies from run to run (the same code: 55 and 6 MB one run after the other).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import orjson
import zmq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from nom import Store  # noqa: E402
from scratch import scratch_dir  # noqa: E402
from services import Service, standing_synthetic_job  # noqa: E402

RATE = 20_000


def rss_mb(pid: int) -> float:
    """Resident memory of a process (and none of its children), in MB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def main() -> None:
    seconds = float(os.environ.get("BENCH_SECONDS", 600))
    warmup = min(60.0, seconds / 5)
    base = scratch_dir("nectar-soak-")
    collector = Service("collector", base / "root").start()
    dispatch = Service("dispatch", base / "root", "--workers", "2").start()
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    try:
        job, apply_id = standing_synthetic_job(collector, dispatch, sub, "soak", RATE, "words")
        pids = {"collector": collector.proc.pid, "dispatch": dispatch.proc.pid}
        for n, pid in enumerate(children(dispatch.proc.pid)):
            pids[f"worker{n}"] = pid
        for pid in children(collector.proc.pid):  # its store writer process, where it runs one (--writer)
            pids["collector_writer"] = pid
        started = time.monotonic()
        rss_start: dict[str, float] = {}
        rss_peak: dict[str, float] = {}
        published: list[tuple[int, float]] = []
        counted: list[tuple[float, int]] = []
        last_sample = last_rss = 0.0
        while (now := time.monotonic()) - started < seconds:
            while sub.poll(0):
                header = orjson.loads(sub.recv_multipart()[1])
                published.append((header["seq"] + header["count"], time.monotonic()))
            if now - last_sample >= 0.05:
                status = dispatch.client.call("status", applyId=apply_id, top=1)
                counted.append((time.monotonic(), status["objects"]))
                last_sample = now
            if not rss_start and now - started >= warmup:
                rss_start = {name: rss_mb(pid) for name, pid in pids.items()}
            if now - last_rss >= 1.0:
                for name, pid in pids.items():
                    rss_peak[name] = max(rss_peak.get(name, 0.0), rss_mb(pid))
                last_rss = now
            time.sleep(0.005)
        rss_end = {name: rss_mb(pid) for name, pid in pids.items()}
        collector.call("stopCollectorJob", jobId=job)
        stored = Store(base / "root").usage(job).objects
        produced = collector.call("jobStatus", jobId=job)["stored"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            reduced = dispatch.client.call("status", applyId=apply_id, top=1)["objects"]
            if reduced >= stored:
                break
            time.sleep(0.2)
        delays = []
        j = 0
        for upto, seen in published:
            while j < len(counted) and (counted[j][1] < upto or counted[j][0] < seen):
                j += 1
            if j < len(counted):
                delays.append(counted[j][0] - seen)
        delays.sort()
    finally:
        sub.close()
        for service in (dispatch, collector):
            try:
                service.terminate(timeout=15)
            except Exception:  # noqa: BLE001 - a wedged service must not leave the other running
                service.kill()
        shutil.rmtree(base, ignore_errors=True)
    figures = {
        "seconds": seconds, "rate_objects_per_s": RATE, "produced": produced, "stored": stored, "reduced": reduced,
        "produced_equals_stored_equals_reduced": produced == stored == reduced,
        "achieved_objects_per_s": round(stored / seconds),
        "rss_growth_mb": {k: round(rss_end[k] - rss_start.get(k, rss_end[k]), 1) for k in rss_end},
        "rss_peak_mb": {k: round(v, 1) for k, v in rss_peak.items()},
        "standing_delay_p50_ms": round(1000 * delays[len(delays) // 2], 1) if delays else None,
        "standing_delay_p99_ms": round(1000 * delays[int(len(delays) * 0.99)], 1) if delays else None,
        "goals": {"rss_growth_mb": 50, "equal_counts": True},
    }
    for key, value in figures.items():
        print(f"{key:40} {value}")
    print(orjson.dumps(figures).decode())


if __name__ == "__main__":
    main()
