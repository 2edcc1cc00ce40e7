"""Collector benchmark: the synthetic source's sustained stored objects/s, against the store's own append.

A real collector process runs a synthetic job (no rate limit, 50 objects per file) while a subscriber
counts what is published. The store's own append of the same objects (the synthetic source's tweets, in
arrays of 50) runs in this process, in turns with the collector and for as long, through the path
bench/store.py measures: a ThreadWriter with its defaults, which checks and encodes each array in submit,
with as many files in flight as a collector job keeps. A second store contender is given each array's
bytes encoded beforehand, so that it only writes: the stricter figure, printed beside the goal's.
The collector (with its writer process, where it runs one) is held with SIGSTOP while the store appends, then resumed.

Each contender appends to one job folder for the whole run, its warm-up included, as the collector's job
does: creating and naming a file costs more in a folder of 200k files than in a fresh one (on this VM's
ext4, appends to a folder grown to 150-280k files ran at 0.70-0.91 of a fresh folder's rate, alternating
in 5-s turns), so a new folder each turn had handed the store contenders a cheaper disk than the collector's.

This machine's disk changes speed by several times from one minute to the next, and a burst into a
clean page cache is faster than a sustained stream; taking turns of equal length lets every contender see
the same disk in the same way. Nothing is deleted until the end: on this VM's ext4 (no journal) creating
a file costs 10-30x more for up to six minutes after a mass delete (see bench/store.py; the kernel passes
over each inode freed in the last 60-360 s when it picks one for a new file), so deleting one turn's files
would tax the turns after it. BENCH_SECONDS (30 by default) is each contender's measured time, in ROUNDS turns.

Prints stored objects/s, its ratio to the store's own append rate (goal >= 0.8: the median of the
ratios within turns, so that one turn that met a slow disk does not decide it), and the publish rate
the subscriber saw. Beside them, the CPU time (user and system, every thread) each contender spent per
object stored, and the subscriber's: on 2 cores, where the CPU and not the disk is the limit, a turn's
ratio follows the store's CPU per object over the collector's and the subscriber's together. The last
line is one JSON object with every figure.

Figures behind the collector's settings, measured on the development VM with this bench or a micro-benchmark
side by side (moved here from code comments):
- writer "auto" picks threads where the store's C module is built: threads stored 315k objects/s against 271k
  for the process writer, and cost 3.0 against 4.6 us of CPU an object on tmpfs (4 turns of 4 s; the
  process's pipes copied every array four times more).
- gc.set_threshold(50_000, 20, 20): the default (a young collection every 700 allocations) took a fifth of
  the loop: 117k objects/s with it against 140-152k.
- sys.setswitchinterval(0.0005) with the thread writer: 315k objects/s at 0.5 ms against 289k at 5 ms.
- dedup of ascending keys (collector.dedup.AscendingKeys): hashing and remembering every key had been a
  fifth of the synthetic job's loop.
- the synthetic source's bytes templates (collector.batch): making and encoding took 0.39-0.46 us an object
  against 0.63-0.78 with each tweet's bytes made first (micro-benchmark); whole collectors stored 1.125x as
  many objects a second (median of 8 turns of 4 s).

Like every bench, it imports the project as installed (``pip install -e .``) and its helper
(scratch_folder) as a top-level module of bench/, which ``python bench/collector.py`` puts first on
``sys.path``.
"""

from __future__ import annotations

import gc
import importlib
import os
import shutil
import signal
import statistics
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import orjson
import zmq

from nectar.testing import ServiceProcess
from nom import Store
from scratch_folder import scratch_dir

PER_FILE = 50
ROUNDS = 5
WARM_UP = 2.0  # seconds each contender runs before the turns
POOL_OBJECTS = 100_000  # made once; the store's turns append these arrays over and over
BYTES_PER_SECOND = 1_200_000_000  # what a second of every contender leaves on disk here, with room to spare
NAMES = {"objects": "store_append_objects_per_s", "encoded": "store_write_encoded_objects_per_s"}
CPU_NAMES = {"objects": "store_append_cpu_us_per_object", "encoded": "store_write_encoded_cpu_us_per_object"}


def synthetic_source_class() -> Any:
    """collector.sources.SyntheticSource, from the installed project. Run as ``python bench/collector.py``, this
    very file is first on sys.path under the package's name, so the package is imported with bench/ left out of
    sys.path for that one import (and put back at once)."""
    bench = Path(__file__).resolve().parent
    saved = sys.path[:]
    sys.path[:] = [p for p in saved if Path(p or ".").resolve() != bench]
    try:
        return importlib.import_module("collector.sources").SyntheticSource
    finally:
        sys.path[:] = saved


def make_arrays(objects: int, first_id: int) -> list[list[dict]]:
    """Synthetic tweets as the collector stores them, in arrays of PER_FILE."""
    source = synthetic_source_class()("biden harris", seed=1, rate=None)
    ids = iter(range(first_id, first_id + objects))
    return [[{"id": next(ids), "type": "data.tweet-biden-harris", "data": item.data}
             for item in source.read_batch(PER_FILE).items()] for _ in range(objects // PER_FILE)]


def family(pid: int) -> list[int]:
    """``pid`` and its children (the collector and any writer process of its), to be stopped and resumed together."""
    children = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            children += [int(c) for c in fh.read().split()]
    return [pid, *children]


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds these processes have used (every thread of each)."""
    ticks = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """User and system CPU seconds of this process (the subscriber, or the store's own append)."""
    times = os.times()
    return times.user + times.system


def store_append(root: Path, arrays: list[tuple[list[dict], bytes]], seconds: float, *,
                 encoded: bool) -> tuple[int, float]:
    """Append ``arrays`` durably through a ThreadWriter, round and round, for ``seconds``; objects and time.

    ``encoded``: give the writer each array's bytes as well (it checks the array and writes them),
    else the array alone (it checks and encodes it, as bench/store.py's append does).
    """
    writer = Store(root).writer("thread")  # its defaults, as in bench/store.py
    in_flight: deque = deque()
    objects = n = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        while len(in_flight) < writer.window:  # the window the collector's jobs keep
            array, raw = arrays[n % len(arrays)]
            in_flight.append(writer.submit("bench", array, raw if encoded else None))
            n += 1
        objects += in_flight.popleft().result().objects
    while in_flight:
        objects += in_flight.popleft().result().objects
    elapsed = time.monotonic() - started
    writer.close()
    return objects, elapsed


def receive(sub: zmq.Socket) -> tuple[int, int]:
    """Receive one published batch: its first sequence number and how many objects it holds (its header)."""
    frames = sub.recv_multipart(copy=False)  # the body is not read: no copy of it into a bytes object
    header = orjson.loads(frames[1].bytes)
    return header["seq"], header["count"]


def main() -> None:
    seconds = float(os.environ.get("BENCH_SECONDS", "30"))
    base = scratch_dir("nectar-bench-collector-")
    free, needed = shutil.disk_usage(base).free, int((seconds + WARM_UP) * BYTES_PER_SECOND)
    if free < needed:  # nothing is deleted before the end (see the docstring): fail now, not at ENOSPC
        shutil.rmtree(base)
        sys.exit(f"bench/collector.py: {base} has {free / 1e9:.1f} GB free; {seconds:.0f} s of turns need "
                 f"about {needed / 1e9:.0f} GB (set BENCH_SECONDS lower)")
    service = ServiceProcess("collector", base / "root").start()
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 100_000)
    collector_time = 0.0
    stored = received = 0
    appended = {"objects": 0, "encoded": 0}
    append_time = {"objects": 0.0, "encoded": 0.0}
    turns = []
    try:
        reply = service.call("newCollectorJob", jobName="bench", searchTerms="biden harris",
                             collectorObjectsPerFile=PER_FILE, delayInMsBetweenObjects=0,
                             source={"kind": "synthetic", "rate": None})
        job = reply["data"]["jobId"]
        sub.setsockopt(zmq.SUBSCRIBE, job.encode())
        sub.connect(f"tcp://127.0.0.1:{reply['data']['dispatchPort']}")
        arrays = [(array, orjson.dumps(array)) for array in make_arrays(POOL_OBJECTS, 10**18)]
        gc.freeze()  # this pool is the bench's, not the store's: no collection walks it (as in bench/store.py)
        # Warm-up, WARM_UP seconds each and not measured: the collector's start-up and text pool, and as many
        # seconds of appends for each store contender, so that every contender's folder starts the turns
        # holding files (on a fresh folder the store's first turn had found a cheaper disk than the collector's).
        # The subscriber takes what the warm-up publishes, so that no backlog of it is charged to the first turn.
        warm_until = time.monotonic() + WARM_UP
        while time.monotonic() < warm_until:
            if sub.poll(100):
                receive(sub)
        warming = family(service.proc.pid)
        for pid in warming:
            os.kill(pid, signal.SIGSTOP)
        try:
            while sub.poll(200):  # what the warm-up published before the stop
                receive(sub)
            for way in NAMES:
                store_append(base / f"append-{way}", arrays, WARM_UP, encoded=way == "encoded")
            os.sync()
        finally:
            for pid in warming:
                os.kill(pid, signal.SIGCONT)
        for turn in range(ROUNDS):
            status = service.call("jobStatus", jobId=job)
            before, first_seq, batches = status["stored"], status["seq"], []
            started = time.monotonic()
            collector_cpu, subscriber_cpu = cpu_seconds(family(service.proc.pid)), own_cpu_seconds()
            while time.monotonic() - started < seconds / ROUNDS:
                if sub.poll(100):
                    batches.append(receive(sub))
            status = service.call("jobStatus", jobId=job)
            after, end_seq = status["stored"], status["seq"]
            took = time.monotonic() - started
            stopped = family(service.proc.pid)
            collector_cpu = cpu_seconds(stopped) - collector_cpu
            subscriber_cpu = own_cpu_seconds() - subscriber_cpu
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            this_turn = {"collector_objects_per_s": round((after - before) / took),
                         "collector_cpu_us_per_object": round(collector_cpu / max(1, after - before) * 1e6, 2),
                         "subscriber_cpu_us_per_object": round(subscriber_cpu / max(1, after - before) * 1e6, 2)}
            try:
                while sub.poll(200):  # what was published before the stop
                    batches.append(receive(sub))
                # what the subscriber got of what was published during the turn (seq says which those were)
                received += sum(n for seq, n in batches if first_seq <= seq < end_seq)
                for way in ("objects", "encoded") if turn % 2 == 0 else ("encoded", "objects"):
                    os.sync()  # no dirty pages of the one before left for this one to pay for
                    cpu = own_cpu_seconds()
                    done, spent = store_append(base / f"append-{way}", arrays, took, encoded=way == "encoded")
                    this_turn[CPU_NAMES[way]] = round((own_cpu_seconds() - cpu) / done * 1e6, 2)
                    appended[way] += done
                    append_time[way] += spent
                    this_turn[NAMES[way]] = round(done / spent)
                os.sync()
            finally:
                for pid in stopped:
                    os.kill(pid, signal.SIGCONT)
            turns.append(this_turn)
            stored += after - before
            collector_time += took
        service.call("stopCollectorJob", jobId=job)
    finally:
        sub.close()
        service.terminate()
        shutil.rmtree(base, ignore_errors=True)
    figures = {
        "collector_seconds": round(collector_time, 1), "collector_stored_objects": stored,
        "collector_stored_objects_per_s": round(stored / collector_time),
        "publish_objects_per_s_received_by_subscriber": round(received / collector_time),
        "store_append_objects": appended["objects"],
        **{NAMES[way]: round(appended[way] / append_time[way]) for way in NAMES},
        "turns": turns,
    }
    for way, name in NAMES.items():  # within each turn, then the median over turns (as bench/store.py does)
        ratios = [t["collector_objects_per_s"] / t[name] for t in turns]
        key = "ratio_to_store_append" if way == "objects" else "ratio_to_store_write_encoded"
        figures[f"{key}_by_turn"] = [round(r, 3) for r in ratios]
        figures[key] = round(statistics.median(ratios), 3)
    for name in ("collector_cpu_us_per_object", "subscriber_cpu_us_per_object", *CPU_NAMES.values()):
        figures[f"median_{name}"] = round(statistics.median(t[name] for t in turns), 2)
    figures["goal_ratio_to_store_append"] = 0.8
    for key, value in figures.items():
        print(f"{key:44} {value}")
    print(orjson.dumps(figures).decode())


if __name__ == "__main__":
    main()
