"""Engines benchmark: ``apply words sum`` over the same one million objects on the local engine and on Spark.

Generates the data set of bench/apply.py (1M tweet-like objects, 15 Zipf words each, 50 per file), then
in one run: the local engine (2 worker processes) and Spark local[2] through PySpark, both running Nectar's
own functions on the same file list. Spark is timed with its session start-up (the first apply in a fresh
JVM) and without it (the median of later applies); the local engine likewise (worker start-up included once).
Also at 100k and 300k objects, to see where (if anywhere) Spark overtakes. The last line is one JSON object.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time

import orjson

from dispatch.engines import ApplySpec, LocalEngine
from dispatch.engines.spark import SparkEngine
from nom import Store
from scratch_folder import scratch_dir
from words_dataset import generate


def local_apply(engine: LocalEngine, files, n: int) -> float:
    started = time.perf_counter()
    run = engine.start(ApplySpec(f"l{n}", "bench", "words", "sum"), files)
    while not run.done and not run.error:
        engine.step(0.01)
    assert run.done, run.error
    engine.forget(f"l{n}")
    return time.perf_counter() - started


def spark_apply(engine: SparkEngine, files, n: int) -> float:
    started = time.perf_counter()
    engine.run_on_spark(ApplySpec(f"s{n}", "bench", "words", "sum"), files)
    return time.perf_counter() - started


def main() -> None:
    objects = int(os.environ.get("BENCH_OBJECTS", 1_000_000))
    base = scratch_dir("nectar-bench-engines-")
    try:
        generate(base / "root", objects)
        files = Store(base / "root").files("bench")
        started = time.perf_counter()
        local = LocalEngine(str(base / "root"), 2)
        local.wait_ready()
        local_startup = time.perf_counter() - started
        started = time.perf_counter()
        spark = SparkEngine(str(base / "root"), master="local[2]")
        spark.session  # noqa: B018 - starts the session
        spark_session = time.perf_counter() - started
        figures: dict = {"objects": objects, "local_startup_s": round(local_startup, 2),
                         "spark_session_startup_s": round(spark_session, 2)}
        first = spark_apply(spark, files, 0)
        figures["spark_first_apply_s"] = round(first, 2)
        figures["spark_with_startup_s"] = round(first + spark_session, 2)
        for size in sorted({objects // 10, objects * 3 // 10, objects}):
            part = files[: max(1, size // 50)]
            local_times = [local_apply(local, part, i) for i in range(3)]
            spark_times = [spark_apply(spark, part, i + 1) for i in range(3)]
            lo, sp = statistics.median(local_times), statistics.median(spark_times)
            figures[f"local_{size}_s"] = round(lo, 3)
            figures[f"spark_{size}_s"] = round(sp, 3)
            figures[f"spark_over_local_{size}"] = round(sp / lo, 2)
        figures["ratio_spark_to_local_warm"] = figures[f"spark_over_local_{objects}"]
        figures["ratio_spark_with_startup_to_local"] = round(
            (first + spark_session) / (figures[f"local_{objects}_s"] + local_startup), 2)
        figures["goal_local_beats_spark_by"] = 2.0
        spark.close()
        local.close()
        for key, value in figures.items():
            print(f"{key:36} {value}")
        print(orjson.dumps(figures).decode())
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
