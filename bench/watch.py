"""Watch benchmark: from a file's commit to its event on Dispatch's PUB socket (goal: p99 <= 500 ms).

A real collector runs a synthetic job (BENCH_RATE objects/s, 5,000 by default, 50 a file) for BENCH_SECONDS
(15 by default) with a real Dispatch; this process watches the job through ``nectar.watch.Watcher`` and,
side by side in the same loop, polls the job's index itself every 10 ms (the baseline: the soonest anyone
reading the store learns of a file). A file's latency is the time it was handed out minus its name, the
ns its writer drew when the commit began (before its bytes were written, synced and linked), so it is an
upper bound of commit-to-event. Prints p50/p95/p99/max of both and the p99 ratio; the last line is one JSON
object with every figure. The machine is shared and loaded: the load average is printed too.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time

import orjson

from nectar.client import Client
from nectar.testing import ServiceProcess
from nectar.watch import Watcher
from nom.store import Store
from scratch_folder import scratch_dir


def quantiles(values: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of ``values`` in ms."""
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 1),
            "mean": round(statistics.fmean(ordered), 1)}


def main() -> None:
    rate = int(os.environ.get("BENCH_RATE", 5000))
    seconds = float(os.environ.get("BENCH_SECONDS", 15))
    base = scratch_dir("watch-")
    root = base / "NOM_ROOT"
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "1").start()
    try:
        reply = collector.call("newCollectorJob", jobName="watch bench", searchTerms="biden harris",
                               collectorObjectsPerFile=50, delayInMsBetweenObjects=0,
                               source={"kind": "synthetic", "rate": rate, "seed": 9,
                                       "count": int(rate * seconds)})
        job = reply["data"]["jobId"]
        watcher = Watcher(Client(dispatch.endpoint, timeout=10), job, after=0)
        store = Store(root)
        cursor = store.new_files(job, None)[1]
        seen_direct: dict[int, float] = {}
        event_ms: list[float] = []
        direct_ms: list[float] = []
        healed = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds + 30:
            fresh, cursor = store.new_files(job, cursor)
            now = time.time_ns()
            for info in fresh:
                if info.name not in seen_direct:
                    seen_direct[info.name] = now
                    direct_ms.append((now - info.name) / 1e6)
            for event in watcher.next(0.01):
                now = time.time_ns()
                for f in event.get("files", []):
                    if event.get("healed"):
                        healed += 1  # read back at start or after a gap: not a latency of the socket
                    else:
                        event_ms.append((now - f["name"]) / 1e6)
            done = collector.call("jobStatus", jobId=job)["objects"] >= int(rate * seconds)
            if done and len(event_ms) + healed >= len(store.files(job, reconcile=False)):
                break
        ev, di = quantiles(event_ms), quantiles(direct_ms)
        figures = {"rate": rate, "seconds": seconds, "files": len(event_ms) + healed, "files_healed": healed,
                   "gaps": watcher.gaps, "event_ms": ev, "index_poll_ms": di,
                   "p99_ratio_to_index_poll": round(ev["p99"] / di["p99"], 2) if di["p99"] else None,
                   "load_average": [round(x, 2) for x in os.getloadavg()], "goals": {"event_p99_ms": 500}}
        for key, value in figures.items():
            print(f"{key:26} {value}")
        print(orjson.dumps(figures).decode())
        watcher.close()
    finally:
        dispatch.kill()
        collector.kill()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
