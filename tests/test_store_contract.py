"""The store's contract (see the docstring of nom/store.py), run against every sync mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from nom import GroupWriter, Nom, NomError, Store, StoreError
from nom.watch import Follower


def objs(ids, type_name: str = "data.test") -> list[dict]:
    return [{"id": i, "type": type_name, "data": {"n": i}} for i in ids]


class StoreContract:
    """Every store configuration must pass these."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Store:
        return Store(tmp_path / "root", sync=self.sync)

    sync = "syncfs"

    def test_append_writes_one_array_per_file_with_sortable_names(self, store: Store) -> None:
        first = store.append("job1", objs([1, 2, 3]))
        second = store.append("job1", [Nom(4, "data.test", "x")])
        assert second.name > first.name
        folder = store.root / "job1"
        names = sorted(n for n in os.listdir(folder) if n[:-5].isdigit())
        assert names == [first.filename, second.filename]
        assert orjson.loads((folder / first.filename).read_bytes()) == objs([1, 2, 3])
        assert (first.min_id, first.max_id, first.objects) == (1, 3, 3)
        assert not [n for n in os.listdir(folder) if n.startswith(".tmp")]

    def test_commit_groups_many_arrays_of_many_jobs(self, store: Store) -> None:
        infos = store.commit([("a", objs([1])), ("b", objs([2, 3])), ("a", objs([4]))])
        assert [i.objects for i in infos] == [1, 2, 1]
        assert [o["id"] for o in store.scan("a")] == [1, 4]
        assert [o["id"] for o in store.scan("b")] == [2, 3]

    def test_bad_array_fails_whole_commit_and_leaves_nothing(self, store: Store) -> None:
        store.append("a", objs([1]))
        with pytest.raises(NomError, match=r"arrays\[1\]: objects\[0\] has no 'type'"):
            store.commit([("a", objs([2])), ("a", [{"id": 3}])])
        with pytest.raises(NomError, match="empty"):
            store.append("a", [])
        assert [o["id"] for o in store.scan("a")] == [1]
        assert not [n for n in os.listdir(store.root / "a") if n.startswith(".tmp")]

    def test_scan_range_is_inclusive_and_in_id_order(self, store: Store) -> None:
        store.append("j", objs([10, 11, 12]))
        store.append("j", objs([25, 21, 22]))  # unsorted input
        store.append("j", objs([15, 30]))  # overlaps the file before it
        assert [o["id"] for o in store.scan("j")] == [10, 11, 12, 15, 21, 22, 25, 30]
        assert [o["id"] for o in store.scan("j", 11, 22)] == [11, 12, 15, 21, 22]
        assert [o["id"] for o in store.scan("j", 30, 30)] == [30]
        assert [o["id"] for o in store.scan("j", 31)] == []
        assert [o["id"] for o in store.scan("j", None, 10)] == [10]

    def test_scan_does_not_open_files_out_of_range(self, store: Store) -> None:
        early = store.append("j", objs(range(0, 50)))
        store.append("j", objs(range(100, 150)))
        # spoil the early file without telling the index: a scan that opened it would quarantine it
        (store.root / "j" / early.filename).write_bytes(b"[{broken")
        scan = store.scan("j", 120, 130)
        assert [o["id"] for o in scan] == list(range(120, 131))
        assert [f.min_id for f in scan.files] == [100] and scan.quarantined == []
        assert (store.root / "j" / early.filename).exists()

    def test_index_is_rebuilt_when_lost(self, store: Store) -> None:
        for start in range(0, 500, 50):
            store.append("j", objs(range(start, start + 50)))
        before = store.usage("j")
        (store.root / "j" / "index").unlink()
        fresh = Store(store.root, sync=self.sync)
        assert fresh.usage("j") == before
        assert sum(1 for _ in fresh.scan("j", 100, 199)) == 100

    def test_foreign_file_is_indexed_and_scanned(self, store: Store) -> None:
        store.append("j", objs([1, 2]))
        (store.root / "j" / "5.json").write_bytes(orjson.dumps(objs([7, 5])))
        assert [o["id"] for o in store.scan("j")] == [1, 2, 5, 7]
        assert store.usage("j").objects == 4

    def test_usage(self, store: Store) -> None:
        a = store.append("j", objs([5, 6]))
        b = store.append("j", objs([9]))
        usage = store.usage("j")
        assert (usage.files, usage.objects, usage.bytes) == (2, 3, a.bytes + b.bytes)
        assert (usage.oldest_id, usage.newest_id, usage.quarantined, usage.max_size) == (5, 9, 0, None)

    def test_retention_keeps_the_newest_files_that_fit(self, store: Store) -> None:
        infos = [store.append("j", objs(range(1000 + i * 10, 1010 + i * 10))) for i in range(10)]
        size = infos[0].bytes
        assert {i.bytes for i in infos} == {size}
        deleted = store.set_max_size("j", size * 3 + 1)
        assert [d.name for d in deleted] == [i.name for i in infos[:7]]
        assert [f.name for f in store.files("j")] == [i.name for i in infos[7:]]
        for i in range(10, 20):  # new files push the oldest out, and the cap holds after every append
            store.append("j", objs(range(1000 + i * 10, 1010 + i * 10)))
            assert store.usage("j").bytes <= size * 3 + 1
        assert [o["id"] for o in store.scan("j")] == list(range(1170, 1200))
        assert store.max_size("j") == size * 3 + 1 and store.usage("j").max_size == size * 3 + 1
        with pytest.raises(NomError, match="max_size"):
            store.set_max_size("j", 0)

    def test_store_wide_default_retention(self, tmp_path: Path) -> None:
        store = Store(tmp_path / "r", default_max_size=1000, sync=self.sync)
        for i in range(30):
            store.append("j", objs(range(i * 5, i * 5 + 5)))
        assert 0 < store.usage("j").bytes <= 1000
        store.set_max_size("j", None)
        assert store.max_size("j") == 1000

    @pytest.mark.parametrize(("content", "reason"), [
        (b'[{"id": 1, "type": "data.x"', "truncated or invalid JSON"),
        (b'{"id": 1, "type": "data.x"}', "not a JSON array"),
        (b'[{"type": "data.x"}]', "has no 'id'"),
        (b'[{"id": 3}]', "has no 'type'"),
        (b'[{"id": 3, "type": "no spaces"}]', "type must be a dotted name"),
        (b"[]", "an empty array"),
    ])
    def test_bad_files_are_quarantined_and_reported(self, store: Store, content: bytes, reason: str) -> None:
        store.append("j", objs([1, 2]))
        (store.root / "j" / "42.json").write_bytes(content)
        store.append("j", objs([3]))
        scan = store.scan("j")
        assert [o["id"] for o in scan] == [1, 2, 3]
        assert [q.filename for q in scan.quarantined] == ["42.json"]
        quarantined = store.quarantined("j")
        assert [q.filename for q in quarantined] == ["42.json"] and reason in quarantined[0].reason
        assert (store.root / "j" / "quarantine" / "42.json").read_bytes() == content
        assert store.usage("j").quarantined == 1

    def test_file_spoiled_after_indexing_is_quarantined_by_the_scan(self, store: Store) -> None:
        good = store.append("j", objs([1, 2]))
        bad = store.append("j", objs([3, 4]))
        path = store.root / "j" / bad.filename
        path.write_bytes(path.read_bytes()[:-10])
        scan = store.scan("j")
        assert [o["id"] for o in scan] == [1, 2]
        assert [q.filename for q in scan.quarantined] == [bad.filename]
        assert [f.name for f in store.files("j")] == [good.name]

    @pytest.mark.parametrize("job", ["..", "../escape", "/abs", "a/b", "nul\x00", "x" * 300, ""])
    def test_bad_job_ids_touch_nothing(self, store: Store, job: str, tmp_path: Path) -> None:
        before = sorted(p.name for p in tmp_path.iterdir())
        with pytest.raises(NomError, match="jobId must be"):
            store.append(job, objs([1]))
        with pytest.raises(NomError, match="jobId must be"):
            store.scan(job)
        assert sorted(p.name for p in tmp_path.iterdir()) == before
        assert os.listdir(store.root) == []

    def test_unknown_job_is_a_clear_error(self, store: Store) -> None:
        with pytest.raises(StoreError, match="no job 'nope'"):
            store.usage("nope")

    def test_metadata_beside_the_data(self, store: Store) -> None:
        store.write_meta("j", "job", {"jobName": "x"})
        store.write_meta("j", "checkpoint-a1", {"pos": 3})
        assert store.read_meta("j", "job") == {"jobName": "x"}
        assert store.read_meta("j", "missing", 7) == 7
        assert store.files("j") == []
        for bad in ["123", "../x", "index", ".x", "A"]:
            with pytest.raises(NomError, match="metadata name"):
                store.write_meta("j", bad, 1)

    def test_orphaned_writes_of_dead_writers_are_removed(self, store: Store) -> None:
        store.append("j", objs([1]))
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        orphan = store.root / "j" / f".tmp-{dead.stdout.strip()}-123"
        orphan.write_bytes(b"[{")
        mine = store.root / "j" / f".tmp-{os.getpid()}-124"
        mine.write_bytes(b"[{")
        Store(store.root).usage("j")
        assert not orphan.exists() and mine.exists()

    def test_group_writer_commits_in_groups_and_resolves_when_durable(self, store: Store) -> None:
        writer = GroupWriter(store, max_group=16, max_pending=32)
        futures = [writer.submit("j", objs([i])) for i in range(200)]
        infos = [f.result(timeout=30) for f in futures]
        writer.close()
        assert [i.min_id for i in infos] == list(range(200))
        assert writer.groups < 200
        assert [o["id"] for o in store.scan("j")] == list(range(200))
        with pytest.raises(NomError):
            GroupWriter(store).submit("j", [{"id": "x", "type": "data.a"}])

    def test_follower_returns_each_new_file_once(self, store: Store) -> None:
        store.append("j", objs([1]))
        follower = Follower(store, "j")
        assert [f.min_id for f in follower.poll()] == [1]
        assert follower.poll() == []
        store.append("j", objs([2]))
        assert follower.wait(5.0)
        assert [f.min_id for f in follower.poll()] == [2]
        state = follower.state()
        follower.close()
        # a late file whose name is older than the watermark (another process drew it first) still comes, once
        late = store.root / "j" / f"{state['watermark'] - 1000}.json"
        late.write_bytes(orjson.dumps(objs([3])))
        resumed = Follower(store, "j", state=state, watch=False)
        assert [f.min_id for f in resumed.poll()] == [3]
        assert resumed.poll() == []

    def test_follower_poll_with_a_limit_returns_the_rest_later_and_its_state_counts_only_what_it_returned(
            self, store: Store) -> None:
        for i in range(10):
            store.append("j", objs([i]))
        follower = Follower(store, "j", watch=False)
        assert [f.min_id for f in follower.poll(4)] == [0, 1, 2, 3]
        assert follower.waiting() == 6
        state = follower.state()
        # a late file (named below the newest one learnt, not yet returned) comes in name order, once
        late = store.root / "j" / f"{store.files('j')[5].name - 1}.json"
        late.write_bytes(orjson.dumps(objs([100])))
        store.reconcile("j")
        assert [f.min_id for f in follower.poll(4)] == [4, 100, 5, 6]
        assert [f.min_id for f in follower.poll()] == [7, 8, 9]
        assert follower.poll() == [] and follower.waiting() == 0
        # resumed from the state taken after the first poll: everything not returned then comes, once
        resumed = Follower(store, "j", state=state, watch=False)
        assert sorted(f.min_id for f in resumed.poll(100)) == [4, 5, 6, 7, 8, 9, 100]
        assert resumed.poll() == []


class TestStoreSyncfs(StoreContract):
    sync = "syncfs"


class TestStoreFsync(StoreContract):
    sync = "fsync"


def test_group_writer_fd_is_readable_once_files_are_durable(tmp_path: Path) -> None:
    """An event loop polls the writer's fd beside its sockets: it turns readable when futures resolve."""
    import select

    writer = GroupWriter(Store(tmp_path / "root"))
    try:
        assert select.select([writer.fileno()], [], [], 0)[0] == []
        future = writer.submit("job1", objs([1, 2]))
        assert select.select([writer.fileno()], [], [], 10)[0] == [writer.fileno()]
        assert future.done() and future.result().objects == 2
        writer.clear_signal()
        assert select.select([writer.fileno()], [], [], 0)[0] == []
    finally:
        writer.close()
        writer.close()  # twice is harmless


class TestStoreNamedInFlight(StoreContract):
    """Where the filesystem has no O_TMPFILE (NFS): in-flight files are named .tmp-* and renamed into place."""

    sync = "syncfs"

    @pytest.fixture(autouse=True)
    def _no_unnamed_files(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from nom import inflight

        monkeypatch.setitem(inflight._state, "supported", False)


class TestStorePythonInFlight(StoreContract):
    """Where nom._unnamed was not built (no C compiler at install): the same files, one call at a time."""

    sync = "syncfs"

    @pytest.fixture(autouse=True)
    def _no_c_module(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from nom import inflight

        monkeypatch.setattr(inflight, "_unnamed", None)
