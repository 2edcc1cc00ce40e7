"""Issue 20, the store side: a SHA-256 per file recorded at write time (old files hashed once on first need),
snapshots whose id is the SHA-256 of a canonical manifest (the same on another store and after a restart),
verify naming a changed or vanished file, manifests that round-trip, and retention that respects pins."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import orjson
import pytest

from nom import NomError
from nom.store import Snapshot, Snapshots, Store, canonical, manifest_id


def fill(store: Store, job: str, files: int, per: int = 5) -> None:
    for _ in range(files):
        store.append(job, [{"id": i, "type": "data.tweet", "data": {"text": "a b c " * 10}}
                           for i in store.new_ids(job, per)])


def test_each_file_is_hashed_when_written(store: Store) -> None:
    fill(store, "j1", 3)
    for info in store.files("j1"):
        raw = (store.job_dir("j1") / info.filename).read_bytes()
        assert info.sha256 == hashlib.sha256(raw).hexdigest()
    assert all(i.sha256 for i in Store(store.root).files("j1"))  # the index file carries them


def test_a_file_from_before_hashes_is_hashed_once_then_kept(store: Store) -> None:
    fill(store, "j1", 2)
    index_path = store.job_dir("j1") / "index"
    lines = index_path.read_bytes().splitlines()
    index_path.write_bytes(b"".join(b" ".join(line.split()[:7]) + b"\n" for line in lines))  # an old index
    old = Store(store.root)
    infos = old.files("j1")
    assert [i.sha256 for i in infos] == ["", ""]
    digest = old.file_sha256("j1", infos[0])
    assert digest == hashlib.sha256((store.job_dir("j1") / infos[0].filename).read_bytes()).hexdigest()
    assert Store(store.root).files("j1")[0].sha256 == digest  # recorded: never read for it again


def test_same_files_same_id_on_another_store_and_after_a_restart(tmp_path: Path) -> None:
    a = Store(tmp_path / "a")
    fill(a, "j1", 4)
    first = Snapshots(a).create("j1", name="before")
    shutil.copytree(a.job_dir("j1"), tmp_path / "b" / "j1", ignore=shutil.ignore_patterns("snapshots"))
    b = Store(tmp_path / "b")
    assert Snapshots(b).create("j1").id == first.id  # another machine, the same files
    again = Snapshots(Store(tmp_path / "a")).get("before")  # a restart: read back, and made again
    assert again.id == first.id
    fill(a, "j1", 1)
    second = Snapshots(Store(tmp_path / "a")).create("j1")
    assert second.id != first.id and second.manifest["parent"] == first.id
    assert second.summary["addedFiles"] == 1 and second.summary["files"] == 5
    diff = Snapshots.diff(first, second)
    assert [i["name"] for i in diff["added"]] == [second.manifest["files"][-1]["name"]] and diff["removed"] == []


def test_a_range_freezes_only_the_files_that_hold_it(store: Store) -> None:
    fill(store, "j1", 4)
    infos = store.files("j1")
    snap = Snapshots(store).create("j1", infos[1].min_id, infos[2].max_id)
    assert [i["name"] for i in snap.manifest["files"]] == [infos[1].filename, infos[2].filename]
    assert (snap.manifest["from"], snap.manifest["to"]) == (infos[1].min_id, infos[2].max_id)


def test_one_changed_byte_is_named_by_verify(store: Store) -> None:
    fill(store, "j1", 3)
    snaps = Snapshots(store)
    snap = snaps.create("j1")
    assert snaps.verify(snap)["ok"]
    victim = store.job_dir("j1") / snap.manifest["files"][1]["name"]
    raw = bytearray(victim.read_bytes())
    raw[raw.index(b"a b c")] = ord("z")
    victim.write_bytes(bytes(raw))
    report = snaps.verify(snap)
    assert not report["ok"] and [c["name"] for c in report["changed"]] == [victim.name]
    os.unlink(victim)
    report = snaps.verify(snap)
    assert [v["name"] for v in report["vanished"]] == [victim.name] and report["changed"] == []


def test_a_quarantined_file_is_named_with_its_reason(store: Store) -> None:
    fill(store, "j1", 2)
    snaps = Snapshots(store)
    snap = snaps.create("j1")
    name = snap.manifest["files"][0]["name"]
    store.quarantine("j1", int(name[:-5]), "a disk error")
    report = snaps.verify(snap)
    assert report["vanished"] == [{"name": name, "reason": "quarantined: a disk error"}]
    assert snaps.missing(snap) == [name]


def test_a_manifest_round_trips_and_a_bad_one_names_its_field(store: Store) -> None:
    fill(store, "j1", 3)
    snap = Snapshots(store).create("j1", name="n1")
    stored = (store.job_dir("j1") / "snapshots" / f"{snap.id}.json").read_bytes()
    back = Snapshot.from_record(orjson.loads(stored))
    assert back == snap and canonical(back.manifest) == canonical(snap.manifest)
    assert manifest_id(orjson.loads(canonical(snap.manifest))) == snap.id == hashlib.sha256(
        canonical(snap.manifest)).hexdigest()
    record = orjson.loads(stored)
    record["manifest"]["files"][0]["sha256"] = "nothex"
    with pytest.raises(NomError) as err:
        Snapshot.from_record(record)
    assert err.value.field == "files[0].sha256"
    record = orjson.loads(stored)
    record["manifest"]["files"][0]["size"] += 1
    with pytest.raises(NomError) as err:
        Snapshot.from_record(record)
    assert err.value.field == "id"


def test_retention_keeps_pinned_files_counts_them_and_frees_them_on_drop(store: Store) -> None:
    fill(store, "j1", 6)
    snaps = Snapshots(store)
    pinned = store.files("j1")[:3]
    snap = snaps.create("j1", pinned[0].min_id, pinned[-1].max_id, name="keep")
    size = sum(i.bytes for i in store.files("j1"))
    store.set_max_size("j1", size // 10)  # far below the job's size
    left = store.files("j1")
    assert [i.name for i in left[:3]] == [i.name for i in pinned]  # every pinned file stays
    assert len(left) == 4  # the unpinned old ones went; the newest file always stays
    fill(store, "j1", 3)  # new groups: the cap counts the pins, so each new group leaves only the newest
    left = store.files("j1")
    assert [i.name for i in left[:3]] == [i.name for i in pinned] and len(left) == 4
    report = snaps.pinned_bytes("j1")
    assert report["pinnedBytes"] == sum(i.bytes for i in pinned)
    assert report["snapshots"][0]["names"] == ["keep"] and report["snapshots"][0]["files"] == 3
    deleted = snaps.drop(snap)
    assert {i.name for i in deleted} == {i.name for i in pinned}
    assert len(store.files("j1")) == 1 and snaps.pinned_bytes("j1")["pinnedBytes"] == 0


def test_a_forced_retention_marks_the_snapshot_evicted(store: Store) -> None:
    fill(store, "j1", 4)
    snaps = Snapshots(store)
    snap = snaps.create("j1")
    store.write_meta("j1", "retention", {"max_size": 1})
    assert store.enforce_retention("j1") == []  # all pinned
    gone = store.enforce_retention("j1", force=True)
    assert len(gone) == 3
    marked = snaps.get(snap.short)
    assert sorted(marked.evicted) == sorted(i.filename for i in gone)
    assert len(snaps.missing(marked)) == 3
    assert all(v["reason"] == "evicted by a forced retention" for v in snaps.verify(marked)["vanished"])


def test_apply_input_snapshots_pin_nothing(store: Store) -> None:
    fill(store, "j1", 4)
    snaps = Snapshots(store)
    snap = snaps.create("j1", kept=False)
    assert snaps.list("j1") == [] and snaps.get(snap.short).id == snap.id
    store.set_max_size("j1", 1)
    assert len(store.files("j1")) == 1 and len(snaps.missing(snap)) == 3


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_both_writers_record_the_hash_of_what_they_wrote(store: Store, kind: str) -> None:
    writer = store.writer(kind)
    try:
        infos = [writer.submit("j1", [{"id": i, "type": "data.tweet", "data": {"n": i}}
                                      for i in store.new_ids("j1", 4)]).result(timeout=30) for _ in range(3)]
    finally:
        writer.close()
    for info in infos:
        assert info.sha256 == hashlib.sha256((store.job_dir("j1") / info.filename).read_bytes()).hexdigest()
    assert [i.sha256 for i in Store(store.root).files("j1")] == [i.sha256 for i in infos]
