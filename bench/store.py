"""Store benchmark: crash-safe group-commit appends and scans, against baselines on the same bytes.

Prints, in one run:
- crash-safe append objects/s (ThreadWriter with its defaults: groups of what queued up, at most 256 files, one
  group written while the one before syncs) as a ratio to the same files
  written with no fsync at all (goal >= 0.6) and to one fsync + folder fsync per file (goal >= 5x);
- a scan of one million objects as a ratio to a plain loop of orjson.loads over the same files (goal >= 0.7).

Rounds alternate between the contenders so that a noisy neighbour hurts all of them alike; each ratio is
the median of the ratios within rounds. The cost of creating an empty file is printed before and after: it says
which state the filesystem was in. On the development VM (ext4 without a journal) it moved between 10 and
600 us: such an ext4 skips, when it allocates an inode, every inode freed in the last 60 s (360 s while its
block is dirty), so for minutes after a mass delete (a test run, an earlier bench, a job's retention) creating
a file costs 10-30x more (perf: recently_deleted() in find_inode_bit). A store with retention lives in that
state; a fresh disk does not. Named creates pay it more than the store's unnamed files do
(nom.store.commit.files). The last line is one JSON object with every figure.

Figures behind the store's design, measured on the development VM (moved here from code comments):
- group size (nom.store.commit.stages.MAX_GROUP): a sync cost about 0.4 ms plus 13 us a file, so bigger
  groups are cheaper per file: 2000 files of 14 KB took 62 us a file in groups of 64, 53 in groups of 256
  (39 without any fsync), side by side.
- the index in memory (nom.store.index): about 45 bytes a file as parallel arrays, against about 280 as
  FileInfo objects in a dict; a 10-minute soak indexes ~240k files in every process that reads the job.
- retention's running total and first-live-row hint: walking the 64k rows of a capped job's index once a
  group had cost it a quarter of its rate (1.30x with the hint, median of 6 alternating 5-s turns).

Like every bench, it imports the project as installed (``pip install -e .``) and its helper
(scratch_folder) as a top-level module of bench/, which ``python bench/store.py`` puts first on ``sys.path``.
"""

from __future__ import annotations

import gc
import os
import random
import shutil
import statistics
import time
from pathlib import Path

import orjson

from nom import Store
from nom.store import fsync_dir
from scratch_folder import scratch_dir

PER_FILE = 50
WORDS = "the of and to in a is that for it as was with be by on not he this are or".split()


def make_arrays(files: int, first_id: int) -> list[list[dict]]:
    """``files`` arrays of 50 tweet-like objects of about 300 bytes each."""
    rng = random.Random(7)
    arrays, next_id = [], first_id
    for _ in range(files):
        array = []
        for _ in range(PER_FILE):
            text = " ".join(rng.choice(WORDS) for _ in range(40))
            array.append({"id": next_id, "type": "data.tweet-bench",
                          "data": {"id": str(next_id), "text": text, "lang": "en",
                                   "author_id": str(rng.randrange(10**9))}})
            next_id += 1
        arrays.append(array)
    return arrays


def write_no_fsync(folder: Path, arrays: list[list[dict]]) -> None:
    folder.mkdir()
    for n, array in enumerate(arrays):
        with open(folder / f"{n:019d}.json", "wb") as fh:
            fh.write(orjson.dumps(array))


def write_fsync_each(folder: Path, arrays: list[list[dict]]) -> None:
    folder.mkdir()
    for n, array in enumerate(arrays):
        tmp = folder / f".tmp-{n}"
        with open(tmp, "wb") as fh:
            fh.write(orjson.dumps(array))
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, folder / f"{n:019d}.json")
        fsync_dir(folder)


def write_store(root: Path, arrays: list[list[dict]]) -> None:
    """The path the collector takes: a ThreadWriter as it comes (checking and encoding each array in submit),
    each array durable before its future resolves."""
    writer = Store(root).writer("thread")
    futures = [writer.submit("bench", a) for a in arrays]
    for future in futures:
        future.result()
    writer.close()


def create_cost_us(folder: Path, files: int = 500) -> float:
    """Microseconds to create one empty file here: the floor under every contender's rate.

    On the development VM (ext4 without a journal) this alone ranged from 10 to 590 us between minutes,
    so it is printed beside the ratios it bounds.
    """
    folder.mkdir()
    start = time.perf_counter()
    for n in range(files):
        os.close(os.open(folder / str(n), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    return round((time.perf_counter() - start) / files * 1e6, 1)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def bench_append(base: Path, files: int, rounds: int) -> dict:
    """Each round writes the same arrays once per contender, one right after the other, starting with a
    different contender each round; a ratio is taken within each round (the disk changes speed by several
    times between minutes here, much less between seconds) and the median over rounds is reported."""
    arrays = make_arrays(files, 10**18)
    gc.freeze()  # the bench's own pool of dicts is not the store's to scan: no contender's GC walks it
    objects = files * PER_FILE
    contenders = (("no_fsync", write_no_fsync), ("fsync_each", write_fsync_each), ("store", write_store))
    times: dict[str, list[float]] = {name: [] for name, _ in contenders}
    create_before = create_cost_us(base / "create-before")
    for r in range(rounds):
        for name, fn in contenders[r % 3:] + contenders[: r % 3]:
            target = base / f"{name}-{r}"
            os.sync()  # start each contender with no dirty pages from the one before
            times[name].append(timed(fn, target, arrays))
            # no deletion until the end: freed inodes make the next round's creates slower (see the docstring)
    rate = {k: objects / statistics.median(v) for k, v in times.items()}
    to_no_fsync = [n / s for n, s in zip(times["no_fsync"], times["store"])]
    to_fsync_each = [f / s for f, s in zip(times["fsync_each"], times["store"])]
    return {
        "create_empty_file_us_before_after": [create_before, create_cost_us(base / "create-after")],
        "append_objects": objects,
        "append_rounds": rounds,
        "append_bytes_per_object": len(orjson.dumps(arrays[0])) // PER_FILE,
        "append_store_objects_per_s": round(rate["store"]),
        "append_no_fsync_objects_per_s": round(rate["no_fsync"]),
        "append_fsync_each_objects_per_s": round(rate["fsync_each"]),
        "append_ratio_to_no_fsync_by_round": [round(x, 2) for x in to_no_fsync],
        "append_ratio_to_fsync_each_by_round": [round(x, 2) for x in to_fsync_each],
        "append_ratio_to_no_fsync": round(statistics.median(to_no_fsync), 3),
        "append_ratio_to_fsync_each": round(statistics.median(to_fsync_each), 2),
    }


def bench_scan(base: Path, objects: int, rounds: int) -> dict:
    root = base / "scan"
    store = Store(root, sync="none")  # building the data set is not what is measured
    for start in range(0, objects // PER_FILE, 1000):
        store.commit([("bench", a) for a in make_arrays(1000, 10**18 + start * PER_FILE)])
    folder = root / "bench"
    names = sorted(n for n in os.listdir(folder) if n[:-5].isdigit())

    def plain() -> int:
        count = 0
        for name in names:
            with open(folder / name, "rb") as fh:
                count += len(orjson.loads(fh.read()))
        return count

    def scan() -> int:
        count = 0
        for _ in Store(root).scan("bench"):
            count += 1
        return count

    assert plain() == scan() == objects
    times: dict[str, list[float]] = {"plain": [], "scan": []}
    for _ in range(rounds):
        times["plain"].append(timed(plain))
        times["scan"].append(timed(scan))
    plain_s, scan_s = statistics.median(times["plain"]), statistics.median(times["scan"])
    return {
        "scan_objects": objects,
        "scan_objects_per_s": round(objects / scan_s),
        "plain_loads_objects_per_s": round(objects / plain_s),
        "scan_ratio_to_plain_loads": round(plain_s / scan_s, 3),
    }


def main() -> None:
    files = int(os.environ.get("BENCH_FILES", 2000))
    scan_objects = int(os.environ.get("BENCH_SCAN_OBJECTS", 1_000_000))
    base = scratch_dir("nectar-bench-store-")
    try:
        figures = bench_append(base, files, rounds=int(os.environ.get("BENCH_ROUNDS", 9)))
        for key, value in figures.items():
            print(f"{key:36} {value}")
        scan = bench_scan(base, scan_objects, rounds=3)
        for key, value in scan.items():
            print(f"{key:36} {value}")
        figures.update(scan)
        figures["goals"] = {"append_ratio_to_no_fsync": 0.6, "append_ratio_to_fsync_each": 5.0,
                            "scan_ratio_to_plain_loads": 0.7}
        print(orjson.dumps(figures).decode())
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
