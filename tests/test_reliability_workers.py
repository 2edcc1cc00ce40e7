"""A local-engine worker SIGKILLed in the middle of an apply: the apply completes with the undisturbed result."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter

import orjson
import pytest

from collector.sources.synthetic import SyntheticSource
from conftest import wait_for
from dispatch.engine import DEAD_AFTER, ApplySpec, LocalEngine
from dispatch.functions import finish
from dispatch.worker import PIECE_BYTES, _pieces
from nom import Store
from services import Service


def make_job(store: Store, objects: int) -> None:
    source = SyntheticSource("biden harris", seed=2, rate=None, count=objects)
    while not source.done:
        items = source.read(50)
        ids = store.new_ids("big", len(items))
        store.append("big", [{"id": i, "type": "data.tweet-x", "data": it.data} for i, it in zip(ids, items)])


def run_to_end(engine: LocalEngine, spec: ApplySpec, files, kill_after: int | None = None):
    run = engine.start(spec, files)
    killed = None
    deadline = time.monotonic() + 120
    while not run.done and not run.error and time.monotonic() < deadline:
        engine.step(0.01)
        if kill_after is not None and killed is None and run.objects >= kill_after:
            victim = engine.procs[0]
            os.kill(victim.pid, signal.SIGKILL)
            killed = victim.pid
    assert run.done, run.error
    return finish(run.acc, run.reducer), run, killed


def test_worker_killed_mid_apply_gives_the_same_result(tmp_path) -> None:
    store = Store(tmp_path / "root")
    make_job(store, 40_000)
    files = store.files("big")
    engine = LocalEngine(str(store.root), 2)
    try:
        assert engine.wait_ready()
        expected, _, _ = run_to_end(engine, ApplySpec("calm", "big", "words", "sum"), files)
        # a slow reduce (per-pair path) so that the kill lands while chunks are in flight
        expected_slow, _, _ = run_to_end(engine, ApplySpec("calm2", "big", "words", "max"), files)
        result, run, killed = run_to_end(engine, ApplySpec("killed", "big", "words", "max"), files, kill_after=1)
        assert killed is not None, "no worker was killed: the test proves nothing"
        assert result == expected_slow
        assert run.objects == 40_000
        assert engine.replaced >= 1  # a new worker took the dead one's place
        again, _, _ = run_to_end(engine, ApplySpec("after", "big", "words", "sum"), files)
        assert again == expected
    finally:
        engine.close()


def test_an_orphaned_worker_on_a_reused_port_is_never_given_work(tmp_path) -> None:
    """A worker whose Dispatch died reconnects to whatever binds the port next; it must not be taken in."""
    import subprocess
    import sys

    store = Store(tmp_path / "root")
    make_job(store, 2_000)
    files = store.files("big")
    engine = LocalEngine(str(store.root), 2)
    stale = subprocess.Popen([sys.executable, "-m", "dispatch.worker", "--connect", engine.endpoint,
                              "--nom-root", str(tmp_path / "elsewhere"), "--token", "an-old-engine"])
    try:
        assert engine.wait_ready()
        time.sleep(1.5)  # the stale worker has said ready and sent a heartbeat by now
        result, run, _ = run_to_end(engine, ApplySpec("with-stale", "big", "count", "sum"), files)
        assert run.objects == 2_000 and result == [["data.tweet-x", 2_000]]
        assert stale.pid not in {w.pid for w in engine.workers.values()}
    finally:
        stale.kill()
        stale.wait(timeout=10)
        engine.close()


def test_workers_exit_when_their_dispatch_is_killed(tmp_path) -> None:
    """SIGKILL the process that owns a LocalEngine: its workers notice and exit, they do not linger."""
    import subprocess
    import sys

    owner = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from dispatch.engine import LocalEngine\n"
         f"engine = LocalEngine({str(tmp_path)!r}, 2); assert engine.wait_ready()\n"
         "print(*[p.pid for p in engine.procs], flush=True); import signal; signal.pause()"],
        stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in owner.stdout.readline().split()]
        assert len(pids) == 2
        owner.kill()
        owner.wait(timeout=10)
        wait_for(lambda: not any(_alive(p) for p in pids), timeout=10, what="the workers to exit after their Dispatch")
    finally:
        owner.kill()
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_a_worker_whose_dispatch_died_before_it_started_exits(tmp_path) -> None:
    """The engine names its pid: a worker that starts after its Dispatch is gone exits at once."""
    import subprocess
    import sys

    worker = subprocess.Popen([sys.executable, "-m", "dispatch.worker", "--connect", "tcp://127.0.0.1:9",
                               "--nom-root", str(tmp_path), "--parent", "999999999"])
    assert worker.wait(timeout=20) == 0


def test_a_worker_folding_one_file_longer_than_dead_after_is_not_dropped(tmp_path, monkeypatch) -> None:
    """Issue 16, defect 7: no heartbeat went out while a worker folded one file, so past DEAD_AFTER the engine
    dropped it and folded the file again elsewhere (and the worker came back with pid None)."""
    calls = tmp_path / "calls"
    monkeypatch.setenv("NECTAR_TEST_CALLS", str(calls))
    root = tmp_path / "root"
    store = Store(root)
    objects = 45  # 0.1 s of work each: one file that takes 4.5 s, past DEAD_AFTER
    assert objects * 0.1 > DEAD_AFTER
    store.append("slow", [{"id": i, "type": "data.n", "data": i} for i in range(1, objects + 1)])
    dispatch = Service("dispatch", root, "--workers", "2").start()
    try:
        wait_for(lambda: len(dispatch.call("status")["workers"]) == 2, what="both workers")
        before = dispatch.call("status")
        started = dispatch.call("apply", map="userfuncs.funcs:slow_count", reduce="sum", jobId="slow")
        wait_for(lambda: dispatch.call("status", applyId=started["applyId"])["state"] != "running", timeout=60,
                 what="the slow apply")
        done = dispatch.call("status", applyId=started["applyId"], top=0)
        after = dispatch.call("status")
    finally:
        dispatch.kill()
    assert done["state"] == "done" and done["result"] == [["n", objects]]
    assert sorted(int(n) for n in calls.read_text().split()) == list(range(1, objects + 1))  # folded once
    assert after["workersLost"] == 0 and after["workersReplaced"] == 0
    assert sorted(w["pid"] for w in after["workers"]) == sorted(w["pid"] for w in before["workers"])
    assert all(w["alive"] for w in after["workers"])


def test_a_large_file_folded_in_pieces_gives_the_whole_file_result(tmp_path) -> None:
    """Files over 2 x PIECE_BYTES are parsed in runs; strings holding '},{' and nested lists of objects with
    integer ids (where a run's first cut often lands, to be moved on) stay whole."""
    store = Store(tmp_path / "root")
    tricky = ['a},{b', 'x},{"id":1,"type":"t"}', '}],[{', '\\"},{\\"']
    objs = [{"id": i, "type": "data.t", "data": {"text": f"{tricky[i % 4]} word{i % 97}", "pad": "p" * (i % 300),
                                                 "nested": [{"id": i}, {"id": i + 1, "k": "},{"}]}}
            for i in range(1, 60_001)]
    info = store.append("pieces", objs)
    assert info.bytes > 2 * PIECE_BYTES
    raw = (store.root / "pieces" / f"{info.name}.json").read_bytes()
    runs = list(_pieces(raw, PIECE_BYTES))
    assert len(runs) > 2 and [o for run in runs for o in run] == objs
    assert all(len(orjson.dumps(run)) < 3 * PIECE_BYTES for run in runs)
    with pytest.raises((ValueError, orjson.JSONDecodeError)):
        list(_pieces(raw[:-1], PIECE_BYTES))
    engine = LocalEngine(str(store.root), 2)
    try:
        assert engine.wait_ready()
        result, run, _ = run_to_end(engine, ApplySpec("big", "pieces", "words", "sum"), store.files("pieces"))
        ranged, _, _ = run_to_end(engine, ApplySpec("range", "pieces", "count", "sum", 100, 50_000),
                                  store.files("pieces"))
    finally:
        engine.close()
    expected = Counter()
    for o in objs:
        expected.update(re.findall(r"\w+", re.sub(r"https?://\S+|@\w+", " ", o["data"]["text"].lower())))
    assert dict(map(tuple, result)) == dict(expected) and run.objects == 60_000
    assert ranged == [["data.t", 50_000 - 100 + 1]]
