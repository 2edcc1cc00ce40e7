"""The store under real processes: SIGKILL at random moments, and two writers on one job."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson

from nom import Store
from nom.store import is_data_name

BATCH = 20

# The child appends numbered batches and prints a batch's number only after its append returned.
CHILD = r"""
import sys
from nom import ThreadWriter, Store
root, batch, grouped = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
store = Store(root)
writer = ThreadWriter(store, max_group=8) if grouped else None

def batch_objects(number):
    ids = store.new_ids("crash", BATCH_SIZE)
    return [{"id": i, "type": "data.crash", "data": {"batch": number, "k": k}} for k, i in enumerate(ids)]

while True:
    if writer:  # four batches in flight at once, committed as groups
        futures = [(batch + n, writer.submit("crash", batch_objects(batch + n))) for n in range(4)]
        for number, future in futures:
            future.result()
            print(number, flush=True)
        batch += 4
    else:
        store.append("crash", batch_objects(batch))
        print(batch, flush=True)
        batch += 1
""".replace("BATCH_SIZE", str(BATCH))


def read_lines(proc: subprocess.Popen, seconds: float, *, at_least: int = 0) -> list[bytes]:
    """The lines a child printed within ``seconds`` (longer, up to 20 s, until it printed ``at_least``)."""
    lines: list[bytes] = []
    deadline = time.monotonic() + seconds
    patience = time.monotonic() + 20
    buf = b""
    fd = proc.stdout.fileno()
    while (left := (deadline if len(lines) >= at_least else patience) - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.split(b"\n")
            lines.extend(line for line in done if line)
    return lines


def read_acks(proc: subprocess.Popen, seconds: float) -> list[int]:
    """Batch numbers the child acknowledged within ``seconds``."""
    return [int(line) for line in read_lines(proc, seconds)]


def check_store(root: Path, acked: set[int]) -> Counter:
    """Every data file whole and parseable; every acknowledged batch present exactly once."""
    folder = root / "crash"
    per_batch: Counter = Counter()
    if not folder.is_dir():  # killed before its first write (a slow start on a busy machine): nothing to lose
        assert not acked, "batches acknowledged, and no job folder"
        return per_batch
    ids: list[int] = []
    for name in os.listdir(folder):
        if is_data_name(name):
            objects = orjson.loads((folder / name).read_bytes())  # raises on a partial file
            assert isinstance(objects, list) and len(objects) == BATCH, name
            for obj in objects:
                per_batch[obj["data"]["batch"]] += 1
                ids.append(obj["id"])
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert all(count == BATCH for count in per_batch.values()), "a batch stored partly or twice"
    missing = acked - set(per_batch)
    assert not missing, f"acknowledged batches lost: {sorted(missing)[:5]}"
    scanned = [o["id"] for o in Store(root).scan("crash")]
    assert scanned == sorted(ids)
    return per_batch


def test_sigkill_at_random_moments_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(20261123)
    root = tmp_path / "root"
    acked: set[int] = set()
    kills = 0
    for run in range(50):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(run * 1_000_000), str(run % 2)],
                                stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent)
        try:
            acks = read_acks(proc, rng.uniform(0.1, 0.4))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            kills += 1
        acked.update(acks)
        check_store(root, acked)
    assert kills == 50
    assert len(acked) > 200, f"too few batches were acknowledged to mean anything: {len(acked)}"


WRITER = r"""
import sys
from nom import Store
store = Store(sys.argv[1])
for n in range(200):
    ids = store.new_ids("both", 50)
    store.append("both", [{"id": i, "type": "data.w", "data": [sys.argv[2], n]} for i in ids])
"""


def test_two_processes_append_to_one_job(tmp_path: Path) -> None:
    root = tmp_path / "root"
    Store(root).job_dir("both", create=True)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(root), tag]) for tag in ("a", "b")]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    store = Store(root)
    objects = list(store.scan("both"))
    ids = [o["id"] for o in objects]
    assert len(objects) == 20_000 and len(set(ids)) == 20_000 and ids == sorted(ids)
    assert Counter(o["data"][0] for o in objects) == {"a": 10_000, "b": 10_000}
    assert len(store.files("both")) == 400  # no file overwrote another
    assert store.usage("both").objects == 20_000
