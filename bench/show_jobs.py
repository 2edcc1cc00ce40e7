"""``nectar show jobs`` over a store of 100 jobs and 100,000 files: how long it takes to answer.

Builds the store (1,000 small files per job), starts a real collector on it, then times the real
``nectar --json show jobs`` command (a new process each time, start-up included): the first answer
(indexes loaded cold by the collector) and the median of five more. Goal: under one second. As a
baseline in the same run, a plain os.listdir + os.stat of every file (what a naive ``show jobs``
would do) is timed on the same tree. The last line is one JSON object with every figure.

A figure behind the store's followers (nom.store.follow), measured on the development VM: listing a folder
of 200k files took a few tenths of a second, so a follower lists its job's folder at most every 30 s, or
less often when listing would take over 1% of its time.

Like every bench, it imports the project as installed (``pip install -e .``) and its helper
(scratch_folder) as a top-level module of bench/, which ``python bench/show_jobs.py`` puts first on
``sys.path``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

from nectar.testing import ServiceProcess
from nom import Store
from scratch_folder import scratch_dir

JOBS, FILES_PER_JOB = 100, 1000


def build(root: Path) -> None:
    store = Store(root, sync="none")
    next_id = 10**18
    for j in range(JOBS):
        job = f"job{j:03d}"
        arrays = []
        for _ in range(FILES_PER_JOB):
            arrays.append([{"id": next_id, "type": "data.tweet-bench", "data": {"text": "x"}}])
            next_id += 1
        store.commit([(job, a) for a in arrays])
        store.write_meta(job, "job", {"job_id": job, "request": {"jobName": f"bench {j}"}, "state": "finished"})


def naive(root: Path) -> float:
    started = time.perf_counter()
    for job in os.listdir(root):
        for name in os.listdir(root / job):
            os.stat(root / job / name)
    return time.perf_counter() - started


def main() -> None:
    base = scratch_dir("nectar-bench-jobs-")
    try:
        build(base / "root")
        collector = ServiceProcess("collector", base / "root").start()
        env = {**os.environ, "NOM_ROOT": str(base / "root"), "NECTAR_COLLECTOR": collector.endpoint,
               "NECTAR_DISPATCH": "tcp://127.0.0.1:9", "XDG_STATE_HOME": str(base / "state")}
        times = []
        try:
            for _ in range(6):
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "nectar.cli", "--json", "show", "jobs"], env=env,
                                      capture_output=True, text=True, timeout=60)
                times.append(time.perf_counter() - started)
                jobs = orjson.loads(done.stdout)["jobs"]
                assert len(jobs) == JOBS and sum(j["files"] for j in jobs) == JOBS * FILES_PER_JOB, done.stderr
        finally:
            collector.terminate()
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import nectar.cli"], env=env, check=True)
        startup = time.perf_counter() - started
        figures = {"jobs": JOBS, "files": JOBS * FILES_PER_JOB, "show_jobs_first_s": round(times[0], 3),
                   "show_jobs_median_s": round(statistics.median(times[1:]), 3),
                   "python_startup_and_import_s": round(startup, 3),
                   "naive_listdir_stat_s": round(naive(base / "root"), 3),
                   "goal_s": 1.0}
        figures["ratio_median_to_goal"] = round(figures["show_jobs_median_s"] / 1.0, 3)
        for key, value in figures.items():
            print(f"{key:30} {value}")
        print(orjson.dumps(figures).decode())
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
