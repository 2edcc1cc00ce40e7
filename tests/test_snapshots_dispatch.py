"""Issue 20 through real services: apply --at while the job collects equals the batch apply made at the
snapshot's moment; verify says identical on the local engine (and names a user function whose source
changed); a standing reduction's hash chain after a Dispatch SIGKILL and restart equals a fresh one's; and
a watcher heals from the store what it missed, handing out every file once, in order."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest

from conftest import wait_for
from dispatch.provenance import CHAIN_START, extend_chain
from nectar.client import Client
from nectar.testing import ServiceProcess
from nectar.watch import Watcher
from nom.store import Store


def wait_done(dispatch: ServiceProcess, apply_id: str, timeout: float = 60) -> dict:
    return wait_for(lambda: (r := dispatch.call("status", applyId=apply_id, top=0))["state"] in ("done", "failed")
                    and r, timeout=timeout, what=f"apply {apply_id}")


@pytest.fixture
def services(tmp_path: Path):
    root = tmp_path / "NOM_ROOT"
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "1").start()
    yield root, collector, dispatch
    for service in (dispatch, collector):
        service.kill()


def synthetic(collector: ServiceProcess, dispatch: ServiceProcess, rate: int, count: int | None = None) -> str:
    source = {"kind": "synthetic", "rate": rate, "seed": 3, **({"count": count} if count else {})}
    reply = collector.call("newCollectorJob", jobName="snapshots", searchTerms="biden harris",
                           collectorObjectsPerFile=50, delayInMsBetweenObjects=0, source=source)
    dispatch.call("attach", job=reply)
    return reply["data"]["jobId"]


def test_at_while_collecting_equals_the_batch_at_the_snapshot_and_verify_is_identical(services) -> None:
    root, collector, dispatch = services
    job = synthetic(collector, dispatch, rate=2000)
    store = Store(root)
    wait_for(lambda: len(store.files(job)) >= 5, what="files")
    batch = wait_done(dispatch, dispatch.call("apply", map="words", reduce="sum", jobId=job)["applyId"])
    snap = batch["provenance"]["inputs"]["snapshot"]
    assert batch["state"] == "done" and len(snap) == 64 and batch["provenance"]["resultSha256"]
    files_then = batch["provenance"]["inputs"]["files"]
    wait_for(lambda: len(store.files(job)) >= files_then + 5, what="more files")  # the job goes on
    at = wait_done(dispatch, dispatch.call("apply", map="words", reduce="sum", jobId=job, at=snap[:10])["applyId"])
    assert at["objects"] == batch["objects"] and sorted(at["result"]) == sorted(batch["result"])
    assert at["provenance"]["resultSha256"] == batch["provenance"]["resultSha256"]
    assert at["provenance"]["inputs"]["snapshot"] == snap
    prov = batch["provenance"]
    assert prov["map"] == {"name": "words", "sha256": None} and prov["engine"] == "local" and prov["nectar"]
    assert prov["ended"] >= prov["started"] and prov["objects"] == batch["objects"]
    rerun = dispatch.call("verifyApply", applyId=batch["applyId"])
    verified = wait_done(dispatch, rerun["applyId"])
    assert verified["verification"]["identical"] is True and verified["verification"]["sourceChanged"] == []
    # the stored result objects carry the provenance too
    stored = wait_for(lambda: [o for o in Store(root).scan(f"{job}.words.sum")
                               if o["data"]["apply"] == batch["applyId"]],
                      what="stored results")
    assert stored[0]["data"]["provenance"]["inputs"]["snapshot"] == snap
    with pytest.raises(Exception, match="give no fromDate or toDate"):
        dispatch.call("apply", map="words", reduce="sum", jobId=job, at=snap, fromDate="-1h")
    collector.call("stopCollectorJob", jobId=job)
    dispatch.terminate()  # a new Dispatch knows the apply only from the record kept beside the job
    dispatch.start()
    after = wait_done(dispatch, dispatch.call("verifyApply", applyId=batch["applyId"])["applyId"])
    assert after["verification"]["identical"] is True and after["verification"]["of"] == batch["applyId"]


def test_verify_names_a_user_function_whose_source_changed(tmp_path: Path, monkeypatch) -> None:
    funcs = tmp_path / "userland"
    funcs.mkdir()
    module = funcs / "snapfuncs_changing.py"
    module.write_text("def first(obj):\n    return [(obj['data']['text'][:1], 1)]\n")
    monkeypatch.setenv("PYTHONPATH", f"{funcs}:{__import__('os').environ.get('PYTHONPATH', '')}")
    root = tmp_path / "NOM_ROOT"
    store = Store(root)
    for n in range(4):
        store.append("j1", [{"id": i, "type": "data.tweet", "data": {"text": f"{'abc'[n % 3]} {i}"}}
                            for i in store.new_ids("j1", 20)])
    dispatch = ServiceProcess("dispatch", root, "--workers", "1").start()
    try:
        first = wait_done(dispatch, dispatch.call("apply", map="snapfuncs_changing:first", reduce="sum",
                                                  jobId="j1")["applyId"])
        assert first["state"] == "done", first
        recorded = first["provenance"]["map"]["sha256"]
        assert recorded and first["provenance"]["reduce"]["sha256"] is None
        same = wait_done(dispatch, dispatch.call("verifyApply", applyId=first["applyId"])["applyId"])
        assert same["verification"]["identical"] and same["verification"]["sourceChanged"] == []
        module.write_text("def first(obj):\n    return [(obj['data']['text'][:1].upper(), 1)]  # changed\n")
        changed = wait_done(dispatch, dispatch.call("verifyApply", applyId=first["applyId"])["applyId"])
        source = changed["verification"]["sourceChanged"]
        assert [c["function"] for c in source] == ["map"] and source[0]["recorded"] == recorded
        assert source[0]["now"] not in (None, recorded)
    finally:
        dispatch.kill()


def test_standing_chain_after_sigkill_and_restart_equals_a_fresh_one(services) -> None:
    root, collector, dispatch = services
    job = synthetic(collector, dispatch, rate=3000, count=9000)
    standing = dispatch.call("apply", map="count", reduce="sum", jobId=job, toDate="now")["applyId"]
    wait_for(lambda: dispatch.call("status", applyId=standing)["objects"] >= 2000, what="folding")
    time.sleep(0.7)  # a checkpoint or two
    dispatch.kill()
    dispatch = ServiceProcess("dispatch", root, "--workers", "1").start()
    try:
        wait_for(lambda: collector.call("jobStatus", jobId=job)["objects"] >= 9000, timeout=60, what="the job")
        done = wait_for(lambda: (r := dispatch.call("status", applyId=standing))["objects"] >= 9000 and r,
                        timeout=30, what="the standing reduction")
        assert done["objects"] == 9000
        fresh_id = dispatch.call("apply", map="count", reduce="sum", jobId=job, toDate="now")["applyId"]
        fresh = wait_for(lambda: (r := dispatch.call("status", applyId=fresh_id))["objects"] >= 9000 and r,
                         timeout=30, what="the fresh reduction")
        restarted_chain = dispatch.call("status", applyId=standing)["provenance"]["inputs"]["chain"]
        assert restarted_chain == fresh["provenance"]["inputs"]["chain"]
        assert restarted_chain == extend_chain(CHAIN_START, Store(root).files(job))  # over every file, in order
    finally:
        dispatch.kill()


def test_a_watcher_reads_back_what_it_missed_and_hands_out_each_file_once(services) -> None:
    root, collector, dispatch = services
    store = Store(root)
    for _ in range(30):
        store.append("w1", [{"id": i, "type": "data.tweet", "data": {"n": i}} for i in store.new_ids("w1", 5)])
    client = Client(dispatch.endpoint, timeout=10)
    watcher = Watcher(client, "w1", after=0)  # from the job's first file: the 30 are read back from the store
    seen = [f["name"] for e in watcher.next(1.0) for f in e["files"]]
    assert seen == [f.name for f in store.files("w1")] and watcher.healed == 30
    for _ in range(5):
        store.append("w1", [{"id": i, "type": "data.tweet", "data": {"n": i}} for i in store.new_ids("w1", 5)])
    deadline = time.monotonic() + 10
    while len(seen) < 35 and time.monotonic() < deadline:
        events = watcher.next(0.5)
        assert all(e["kind"] == "files" and not e.get("healed") for e in events)  # announced, not read back
        seen += [f["name"] for e in events for f in e["files"]]
    assert seen == [f.name for f in store.files("w1")] and len(seen) == 35
    snap = dispatch.call("snapshot", jobId="w1", name="w")
    events = wait_for(lambda: watcher.next(0.5), what="the snapshot event")
    assert events[0]["kind"] == "snapshot" and events[0]["snapshot"]["id"] == snap["id"]
    watcher.close()


def test_retention_keeps_pinned_files_while_collecting_until_the_snapshot_is_dropped(services) -> None:
    root, collector, dispatch = services
    job = synthetic(collector, dispatch, rate=2000)
    store = Store(root)
    wait_for(lambda: len(store.files(job)) >= 15, what="files")
    snap = dispatch.call("snapshot", jobId=job, name="pin")
    reply = collector.call("setJobMaxSize", jobId=job, maxSize=snap["bytes"] // 3)  # far below the job's size
    assert reply["pinnedFiles"] == snap["files"]
    newest = set()
    wait_for(lambda: newest.add(store.files(job)[-1].name) or len(newest) >= 6, what="new files come and go")
    listing = dispatch.call("listSnapshots", jobId=job)
    assert listing["pinnedBytes"] == snap["bytes"] and listing["pinnedBy"][0]["files"] == snap["files"]
    record = orjson.loads((root / job / "snapshots" / f"{snap['id']}.json").read_bytes())
    held = {i["name"] for i in record["manifest"]["files"]}
    on_disk = set(os.listdir(root / job))
    assert held <= on_disk and dispatch.call("snapshotVerify", snapshot="pin")["ok"] is True  # every pinned file
    assert {f"{n}.json" for n in newest} - on_disk  # while unpinned ones came and went: the cap counts the pins
    dropped = dispatch.call("snapshotDrop", snapshot="pin")
    assert dropped["dropped"] is True and dispatch.call("listSnapshots", jobId=job)["pinnedBytes"] == 0
    # now the cap is enforced: the files the snapshot held (older than what fits) are deleted
    wait_for(lambda: not held & set(os.listdir(root / job)), what="the released files deleted")
    again = dispatch.call("snapshot", jobId=job, name="again")
    collector.call("setJobMaxSize", jobId=job, maxSize=1, force=True)  # forced: pinned files go too
    gone = dispatch.call("snapshotVerify", snapshot="again")
    assert gone["vanished"] and all(v["reason"] == "evicted by a forced retention" for v in gone["vanished"])
    with pytest.raises(Exception, match=r"not reproducible: \d+ files evicted"):
        dispatch.call("apply", map="count", reduce="sum", jobId=job, at=again["id"])
    collector.call("stopCollectorJob", jobId=job)
