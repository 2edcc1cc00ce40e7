"""Big-file benchmark: one 500 MB data file of tweet-like objects, ``apply count sum`` against a plain parse.

Issue 16 (defect 7): a worker folding one large file sent no heartbeat, so past DEAD_AFTER the engine
dropped it and folded the file again elsewhere. Goal: the apply takes at most 1.5x the time of a plain
``len(orjson.loads(file))``, and no worker is declared dead or replaced.

Makes its own data: synthetic tweets (the collector's synthetic source, about 600 bytes each) written as
one JSON array file of BENCH_BYTES (default 500 MB) in a fresh store, indexed by the store. Then, in one
run and alternating for BENCH_TURNS turns (default 3; medians are reported):

- baseline: read the file, ``orjson.loads`` it, count the objects (in this process; freeing the parsed
  objects is not timed);
- Nectar: a real Dispatch process (2 workers), timed from the apply request until its status says done.
  One untimed apply first (as any earlier use would have); the page cache is warm for both alike.

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from collector.sources.synthetic import SyntheticSource  # noqa: E402
from nom import Store  # noqa: E402
from scratch import scratch_dir  # noqa: E402
from services import Service  # noqa: E402

JOB = "big"
TYPE = "data.tweet-biden-harris"


def generate(root: Path, target: int) -> tuple[Path, int]:
    """One data file of at least ``target`` bytes; returns its path and how many objects it holds."""
    store = Store(root, sync="none")
    folder = store.job_dir(JOB, create=True)
    source = SyntheticSource("biden harris", seed=1, rate=None, count=None)
    parts: list[bytes] = []
    size = objects = 0
    next_id = 10**18
    while size < target:
        items = source.read(20_000)
        raw = orjson.dumps([{"id": next_id + n, "type": TYPE, "data": it.data} for n, it in enumerate(items)])
        parts.append(raw[1:-1])
        size += len(raw)
        objects += len(items)
        next_id += len(items)
    path = folder / f"{time.time_ns()}.json"
    path.write_bytes(b"[" + b",".join(parts) + b"]")
    store.reconcile(JOB)  # the store indexes the file it finds
    assert [f.objects for f in store.files(JOB)] == [objects]
    return path, objects


def baseline(path: Path) -> tuple[float, int]:
    """Seconds to read, parse and count (freeing the parsed objects afterwards, untimed), and the count."""
    started = time.perf_counter()
    objects = orjson.loads(path.read_bytes())
    count = len(objects)
    elapsed = time.perf_counter() - started
    del objects
    return elapsed, count


def nectar_apply(dispatch: Service) -> tuple[float, dict]:
    """Seconds from the apply request until its status says done, and that status."""
    started = time.perf_counter()
    apply_id = dispatch.call("apply", map="count", reduce="sum", jobId=JOB)["applyId"]
    while (status := dispatch.call("status", applyId=apply_id, top=0))["state"] == "running":
        time.sleep(0.01)
    return time.perf_counter() - started, status


def main() -> None:
    target = int(os.environ.get("BENCH_BYTES", 500 * 10**6))
    turns = int(os.environ.get("BENCH_TURNS", 3))
    base = scratch_dir("nectar-bench-big-file-")
    try:
        made = time.perf_counter()
        path, objects = generate(base / "root", target)
        print(f"generated one file of {path.stat().st_size / 1e6:.0f} MB, {objects} objects, in "
              f"{time.perf_counter() - made:.1f}s", flush=True)
        dispatch = Service("dispatch", base / "root", "--workers", "2").start()
        try:
            dispatch.client.timeout = 300
            while len(dispatch.call("status")["workers"]) < 2:
                time.sleep(0.05)
            pids = sorted(str(w["pid"]) for w in dispatch.call("status")["workers"])
            warm_up, status = nectar_apply(dispatch)
            assert status["state"] == "done", status
            times: dict[str, list[float]] = {"baseline": [], "nectar": []}
            for turn in range(turns):
                elapsed, counted = baseline(path)
                times["baseline"].append(elapsed)
                elapsed, status = nectar_apply(dispatch)
                times["nectar"].append(elapsed)
                assert counted == objects and status["result"] == [[TYPE, objects]], status
                print(f"turn {turn + 1}: baseline {times['baseline'][-1]:.2f}s, nectar {elapsed:.2f}s", flush=True)
            service = dispatch.call("status")
        finally:
            dispatch.terminate(timeout=60)
        b, n = statistics.median(times["baseline"]), statistics.median(times["nectar"])
        figures = {"file_mb": round(path.stat().st_size / 1e6), "objects": objects,
                   "nectar_first_apply_s": round(warm_up, 3), "baseline_parse_and_count_s": round(b, 3),
                   "nectar_apply_s": round(n, 3), "ratio_nectar_over_baseline": round(n / b, 3),
                   "workers_lost": service["workersLost"], "workers_replaced": service["workersReplaced"],
                   "same_worker_pids": sorted(str(w["pid"]) for w in service["workers"]) == pids,
                   "turns": turns, "goals": {"ratio_nectar_over_baseline": 1.5, "workers_lost": 0}}
        for key, value in figures.items():
            print(f"{key:32} {value}")
        print(orjson.dumps(figures).decode())
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
