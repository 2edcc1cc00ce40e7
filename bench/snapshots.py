"""Snapshot benchmark: making a snapshot of a job of 10,000 files (goal <= 200 ms), from its index alone.

A job of BENCH_SNAPSHOT_FILES files (10,000 by default; 50 tweet-like objects each) is written once (sync
"none": only the snapshot is measured). Then, in alternating rounds, three contenders run over the same job:

- ``create``: ``Snapshots.create`` of the whole job (each round drops the snapshot first, so each one is
  made and written afresh: manifest, id, summary, record);
- ``listing`` (the baseline): ``Store.files``, the reconciled listing of the job's files that every apply
  does before it reads anything; creating a snapshot adds the manifest to it;
- ``verify``: ``Snapshots.verify``, which reads and hashes every file: what a snapshot would cost if it
  read its files, printed beside it to show what the index saves.

Beside them, what hashing at write time costs ingest (issue 20: goal within 5%): the CPU of
``hashlib.sha256`` over the encoded arrays of bench/store.py's objects, per object, against the CPU per object
of appending the same arrays through the store's ThreadWriter (hash included), in alternating rounds.

Prints the median milliseconds of each and the ratio create/listing; the last line is one JSON object with
every figure. The machine is shared and loaded: the figures move from run to run, and the rounds alternate
so that a noisy neighbour hurts every contender alike.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time

import orjson

from nom import Store
from nom.store import Snapshots
from scratch_folder import scratch_dir


def build(root, files: int) -> Store:
    """A store whose job ``bench`` holds ``files`` files of 50 objects."""
    store = Store(root, sync="none")
    text = "the of and to in a is that for it as was with be by on not he this are or " * 2
    group = []
    for _ in range(files):
        ids = store.new_ids("bench", 50)
        group.append(("bench", [{"id": i, "type": "data.tweet-bench", "data": {"text": text, "lang": "en"}}
                                for i in ids]))
        if len(group) == 256:
            store.commit(group)
            group = []
    if group:
        store.commit(group)
    return store


def hash_share(base, rounds: int) -> dict:
    """CPU per object of SHA-256 over encoded arrays, and of appending them (which includes it)."""
    import hashlib
    import random

    rng = random.Random(7)
    words = "the of and to in a is that for it as was with be by on not he this are or".split()
    store = Store(base / "HASH_ROOT")
    arrays = []
    for _ in range(1000):
        ids = store.new_ids("h", 50)
        arrays.append([{"id": i, "type": "data.tweet-bench", "data": {
            "id": str(i), "text": " ".join(rng.choice(words) for _ in range(40)), "lang": "en"}} for i in ids])
    raws = [orjson.dumps(a) for a in arrays]
    objects = 50 * len(arrays)
    hash_us, append_us = [], []
    for r in range(rounds):
        t = time.process_time()
        for raw in raws:
            hashlib.sha256(raw).hexdigest()
        hash_us.append((time.process_time() - t) / objects * 1e6)
        writer = store.writer("thread")
        t = time.process_time()
        futures = [writer.submit(f"h{r}", a) for a in arrays]
        for f in futures:
            f.result()
        append_us.append((time.process_time() - t) / objects * 1e6)
        writer.close()
    h, a = statistics.median(hash_us), statistics.median(append_us)
    return {"sha256_cpu_us_per_object": round(h, 3), "append_cpu_us_per_object": round(a, 2),
            "sha256_share_of_append_cpu": round(h / a, 3), "bytes_per_object": len(b"".join(raws)) // objects}


def main() -> None:
    files = int(os.environ.get("BENCH_SNAPSHOT_FILES", 10_000))
    rounds = int(os.environ.get("BENCH_ROUNDS", 7))
    base = scratch_dir("snapshots-")
    try:
        started = time.perf_counter()
        build(base / "NOM_ROOT", files)
        built = time.perf_counter() - started
        store = Store(base / "NOM_ROOT")  # a fresh process's view: the index is read from its file
        snaps = Snapshots(store)
        timings: dict[str, list[float]] = {"create": [], "listing": [], "verify": []}
        for _ in range(rounds):
            t = time.perf_counter()
            listed = store.files("bench")
            timings["listing"].append(time.perf_counter() - t)
            t = time.perf_counter()
            snap = snaps.create("bench", name="bench")
            timings["create"].append(time.perf_counter() - t)
            assert snap.summary["files"] == len(listed) == files
            t = time.perf_counter()
            assert snaps.verify(snap)["ok"]
            timings["verify"].append(time.perf_counter() - t)
            snaps.drop(snap)
        med = {k: statistics.median(v) * 1000 for k, v in timings.items()}
        hashing = hash_share(base, rounds)
        figures = {"files": files, "rounds": rounds, "build_seconds": round(built, 1),
                   "create_ms": round(med["create"], 1), "listing_ms": round(med["listing"], 1),
                   "verify_ms": round(med["verify"], 1),
                   "create_ms_by_round": [round(x * 1000, 1) for x in timings["create"]],
                   "create_ratio_to_listing": round(med["create"] / med["listing"], 2),
                   "verify_ratio_to_create": round(med["verify"] / med["create"], 1),
                   **hashing, "load_average": [round(x, 2) for x in os.getloadavg()],
                   "goals": {"create_ms": 200, "sha256_share_of_append_cpu": 0.05}}
        for key, value in figures.items():
            print(f"{key:28} {value}")
        print(orjson.dumps(figures).decode())
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
