"""Apply benchmark: ``apply words sum`` over one million tweet-like objects, against two hand-written baselines.

Generates 1,000,000 objects (about 15 words each from a Zipf vocabulary, 50 per file) in a fresh
store, then, in one run and on the same files:

- (a) one process: orjson.loads per file, Counter.update(regex.findall(text.lower())) per object;
- (b) multiprocessing.Pool(2) over two halves of the files, one regex pass over each file's joined text;
- Nectar: a real Dispatch process (2 workers), timed from the apply request until its result is read back.
  Dispatch is a long-running service: one untimed apply first loads the job's index into it (as any earlier
  use would have); the page cache is warm for all three alike (the baselines read the files first).

Speed-up = baseline wall time / Nectar's. Then a standing reduction: its fold rate over the same files
(goal >= 100k objects/s) and, with a real collector publishing 10k objects/s, the p50/p99 delay from an
object's publication until a query of the standing result counts it (goal p99 <= 250 ms).
The last line is one JSON object with every figure.

Like every bench, it imports the project as installed (``pip install -e .``) and its helpers
(scratch_folder, words_dataset) as top-level modules of bench/, which ``python bench/apply.py`` puts first
on ``sys.path``.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

import orjson
import zmq

from dispatch.engines import ApplySpec
from dispatch.standing import StandingReduction
from nectar.testing import ServiceProcess, standing_synthetic_job
from nom import Store
from scratch_folder import scratch_dir
from words_dataset import generate

WORD = re.compile(r"\w+")


def baseline_a(paths: list[str]) -> Counter:
    counts: Counter = Counter()
    for path in paths:
        with open(path, "rb") as fh:
            for obj in orjson.loads(fh.read()):
                counts.update(WORD.findall(obj["data"]["text"].lower()))
    return counts


def _half(paths: list[str]) -> Counter:
    counts: Counter = Counter()
    for path in paths:
        with open(path, "rb") as fh:
            objs = orjson.loads(fh.read())
        counts.update(WORD.findall("\n".join(o["data"]["text"] for o in objs).lower()))
    return counts


def baseline_b(paths: list[str]) -> Counter:
    mid = len(paths) // 2
    with Pool(2) as pool:
        left, right = pool.map(_half, [paths[:mid], paths[mid:]])
    return left + right


def nectar_apply(dispatch: ServiceProcess) -> tuple[float, dict]:
    started = time.perf_counter()
    apply_id = dispatch.call("apply", map="words", reduce="sum", jobId="bench")["applyId"]
    while True:  # polled as the shell does (each poll is a new connection: every 20 ms, not every 5)
        status = dispatch.client.call("status", applyId=apply_id, top=0)
        if status["state"] != "running":
            break
        time.sleep(0.02)
    return time.perf_counter() - started, status


def fold_rate(root: Path) -> float:
    """A standing ``words sum``'s fold rate over the job ``bench`` of ``root``, in objects/s."""
    return fold_rates(root)[0]


def fold_rates(root: Path) -> tuple[float, float]:
    """``fold_rate``, and the objects folded per second of CPU the folding thread got: on a shared machine the
    second says what the fold itself cost, whatever else was scheduled beside it."""
    store = Store(root)
    reduction = StandingReduction(store, ApplySpec("bench", "bench", "words", "sum"), None, watch=False)
    started, cpu_started = time.perf_counter(), time.thread_time()
    folded = 0
    while step := reduction.step():  # a step folds a bounded slice: step until every file is folded
        folded += step
    elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
    reduction.close()
    return folded / elapsed, folded / cpu


def standing_delay(base: Path, rate: int, seconds: float) -> dict:
    root = base / "live"
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "2").start()
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    try:
        job, apply_id = standing_synthetic_job(collector, dispatch, sub, "delay", rate, "count")
        time.sleep(1.0)
        published: list[tuple[int, float]] = []  # (objects published up to and including the batch, when seen)
        counted: list[tuple[float, int]] = []  # (when queried, objects the standing result counted)
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            while sub.poll(0):
                header = orjson.loads(sub.recv_multipart()[1])
                published.append((header["seq"] + header["count"], time.monotonic()))
            status = dispatch.client.call("status", applyId=apply_id, top=1)
            counted.append((time.monotonic(), status["objects"]))
            time.sleep(0.002)
        delays = []
        for upto, seen in published:
            first = next((t for t, n in counted if n >= upto and t >= seen), None)
            if first is not None:
                delays.append(first - seen)
        collector.call("stopCollectorJob", jobId=job)
    finally:
        sub.close()
        dispatch.terminate()
        collector.terminate()
    delays.sort()
    return {"standing_rate_objects_per_s": rate, "standing_batches_measured": len(delays),
            "standing_delay_p50_ms": round(1000 * delays[len(delays) // 2], 1),
            "standing_delay_p99_ms": round(1000 * delays[int(len(delays) * 0.99)], 1)}


def main() -> None:
    objects = int(os.environ.get("BENCH_OBJECTS", 1_000_000))
    base = scratch_dir("nectar-bench-apply-")
    try:
        paths = generate(base / "root", objects)
        print(f"generated {objects} objects in {len(paths)} files", flush=True)
        dispatch = ServiceProcess("dispatch", base / "root", "--workers", "2").start()
        try:
            dispatch.client.timeout = 120
            times: dict[str, list[float]] = {"a": [], "b": [], "nectar": []}
            warm_up, _ = nectar_apply(dispatch)
            for _ in range(3):
                for name, fn in (("a", baseline_a), ("b", baseline_b)):
                    started = time.perf_counter()
                    expected = fn(paths)
                    times[name].append(time.perf_counter() - started)
                elapsed, status = nectar_apply(dispatch)
                times["nectar"].append(elapsed)
                assert dict(map(tuple, status["result"])) == expected, "Nectar's result differs from the baseline"
        finally:
            dispatch.terminate()
        a, b, n = (statistics.median(times[k]) for k in ("a", "b", "nectar"))
        figures = {"objects": objects, "files": len(paths), "nectar_first_apply_in_a_new_dispatch_s": round(warm_up, 3),
                   "baseline_a_s": round(a, 3), "baseline_b_s": round(b, 3),
                   "nectar_apply_s": round(n, 3), "speedup_over_a": round(a / n, 2), "speedup_over_b": round(b / n, 2),
                   "standing_fold_objects_per_s": round(fold_rate(base / "root"))}
        figures.update(standing_delay(base, 10_000, float(os.environ.get("BENCH_DELAY_SECONDS", 10))))
        figures["goals"] = {"speedup_over_a": 2.5, "speedup_over_b": 1.2, "standing_fold_objects_per_s": 100_000,
                            "standing_delay_p99_ms": 250}
        for key, value in figures.items():
            print(f"{key:32} {value}")
        print(orjson.dumps(figures).decode())
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
