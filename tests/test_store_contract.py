"""The store's contract (see the docstring of nom/store.py), run against every sync mode."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Self

import orjson
import pytest

from nom import GroupWriter, Nom, NomError, Store, StoreError
from nom.watch import Follower


def objs(ids, type_name: str = "data.test") -> list[dict]:
    return [{"id": i, "type": type_name, "data": {"n": i}} for i in ids]


def array(k: int) -> list[dict]:
    """The k-th of equal-sized arrays (7-digit ids), so that a cap in bytes is a cap in files."""
    return objs(range(1_000_000 + 5 * k, 1_000_005 + 5 * k))


def data_names(folder: Path) -> list[int]:
    return sorted(int(n[:-5]) for n in os.listdir(folder) if n.endswith(".json") and n[:-5].isdigit())


class FolderWatch:
    """Lists a folder over and over on a thread and keeps the most data files one listing held. One listing of a
    folder this small is one getdents call, which the kernel serves under the folder's lock: a snapshot that a
    link or an unlink cannot split, so what it counts is what a reader could see at one moment."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.most, self.listings = folder, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, len(data_names(self.folder)))
            self.listings += 1


def capped(store: Store, cap_files: int) -> tuple[list[int], int]:
    """A job "j" holding one file under a cap of ``cap_files`` files of array()'s size; its names and the cap."""
    first = store.append("j", array(0))
    cap = cap_files * first.bytes + first.bytes // 2
    assert store.set_max_size("j", cap) == []
    return [first.name], cap


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

    @pytest.mark.parametrize(("cap_files", "group"), [(1, 2), (1, 9), (3, 4), (3, 60), (30, 31), (30, 69)])
    def test_retention_cap_holds_when_one_commit_is_larger_than_the_cap(self, store: Store, cap_files: int,
                                                                       group: int) -> None:
        written, cap = capped(store, cap_files)
        folder = store.root / "j"
        with FolderWatch(folder) as watch:
            for turn in range(3):
                infos = store.commit([("j", array(1 + turn * group + k)) for k in range(group)])
                assert [i.objects for i in infos] == [5] * group  # every array acknowledged
                written += [i.name for i in infos]
                assert data_names(folder) == written[-cap_files:]  # the newest files, as many as fit
        assert 0 < watch.most <= cap_files and watch.listings > 0
        assert store.usage("j").bytes <= cap and store.usage("j").files == cap_files
        newest = [o["id"] for k in range(1 + 3 * group - cap_files, 1 + 3 * group) for o in array(k)]
        assert [o["id"] for o in store.scan("j")] == newest
        assert store.files("j") == Store(store.root).files("j")  # the index holds no file that was never placed

    @pytest.mark.parametrize("cap_files", [1, 3, 30])
    def test_group_writer_keeps_the_cap_with_groups_larger_than_it(self, store: Store, cap_files: int) -> None:
        _, cap = capped(store, cap_files)
        writer = GroupWriter(store, max_group=256, max_pending=512)
        count = 3 * cap_files + 10
        with FolderWatch(store.root / "j") as watch:
            with store._lock:  # the data stage waits for the store's lock: the arrays queue up into one group
                futures = [writer.submit("j", array(1 + k)) for k in range(count)]
            infos = [f.result(timeout=30) for f in futures]
            writer.close()
        assert writer.groups <= 2  # the first array's group, then one group of all the others
        assert [i.min_id for i in infos] == [array(1 + k)[0]["id"] for k in range(count)]
        assert data_names(store.root / "j") == [i.name for i in infos[-cap_files:]]
        assert 0 < watch.most <= cap_files
        assert store.usage("j").bytes <= cap

    def test_a_cap_below_one_file_keeps_the_newest_file(self, store: Store) -> None:
        store.append("j", array(0))
        newest = store.append("j", array(1))
        assert [d.objects for d in store.set_max_size("j", 10)] == [5]
        assert data_names(store.root / "j") == [newest.name]
        infos = store.commit([("j", array(2)), ("j", array(3))])
        assert data_names(store.root / "j") == [infos[-1].name]

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

    def test_a_data_name_linked_outside_the_store_is_quarantined_never_followed(self, store: Store,
                                                                               tmp_path: Path) -> None:
        store.append("j", objs([1, 2]))
        outside = tmp_path / "outside.json"
        outside.write_bytes(orjson.dumps(objs([5, 6, 7])))
        (store.root / "j" / "42.json").symlink_to(outside)
        scan = store.scan("j")
        assert [o["id"] for o in scan] == [1, 2]
        assert [q.filename for q in scan.quarantined] == ["42.json"] and "symbolic link" in scan.quarantined[0].reason
        assert (store.root / "j" / "quarantine" / "42.json").is_symlink()  # the link was moved, not its target
        assert outside.read_bytes() == orjson.dumps(objs([5, 6, 7]))
        # a file indexed already, then replaced by a link: the read takes the link for what it is
        late = store.append("j", objs([8, 9]))
        (store.root / "j" / late.filename).unlink()
        (store.root / "j" / late.filename).symlink_to(outside)
        report: list = []
        assert store.read_file("j", late, report=report) == [] and "symbolic link" in report[0].reason
        assert [o["id"] for o in store.scan("j")] == [1, 2] and store.usage("j").quarantined == 2

    def test_special_files_under_data_names_are_quarantined_without_waiting(self, store: Store) -> None:
        store.append("j", objs([1]))
        fifo = store.root / "j" / "77.json"
        os.mkfifo(fifo)
        (store.root / "j" / "78.json").mkdir()
        done: list = []
        reader = threading.Thread(target=lambda: done.append(store.scan("j")), daemon=True)
        reader.start()
        reader.join(10)
        try:
            assert done, "the scan waited on a FIFO (with the store's lock held)"
        finally:
            if not done:  # let the stuck reader go: a writer opening the FIFO ends its wait
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        scan = done[0]
        assert [o["id"] for o in scan] == [1]
        reasons = {q.filename: q.reason for q in scan.quarantined}
        assert "a FIFO" in reasons["77.json"] and "a folder" in reasons["78.json"]
        assert sorted(os.listdir(store.root / "j" / "quarantine")) == ["77.json", "78.json", "log"]

    def test_a_job_folder_that_is_a_link_is_refused_and_nothing_outside_changes(self, store: Store,
                                                                                tmp_path: Path) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "5.json").write_bytes(orjson.dumps(objs([5])))
        (outside / "6.json").write_bytes(b"[{broken")  # would be moved into quarantine/ if the link were followed
        before = {p.name: p.read_bytes() for p in outside.iterdir()}
        store.append("real", objs([1]))
        (store.root / "linked").symlink_to(outside, target_is_directory=True)
        assert store.jobs() == ["real"]
        for attempt in (lambda: store.scan("linked"), lambda: store.usage("linked"), lambda: store.exists("linked"),
                        lambda: store.append("linked", objs([9])), lambda: store.set_max_size("linked", 10),
                        lambda: store.write_meta("linked", "job", {}), lambda: store.read_meta("linked", "job"),
                        lambda: store.clock("linked"), lambda: Follower(store, "linked", watch=False).poll()):
            with pytest.raises(NomError, match="is a symbolic link") as caught:
                attempt()
            assert caught.value.field == "jobId"
        assert {p.name: p.read_bytes() for p in outside.iterdir()} == before

    @pytest.mark.parametrize("name", ["index", "clock", "quarantine", "job.json", "quarantine/log"])
    def test_the_stores_own_files_are_never_followed(self, store: Store, tmp_path: Path, name: str) -> None:
        store.append("j", objs([1]))
        store.write_meta("j", "job", {"jobName": "x"})
        (store.root / "j" / "quarantine").mkdir()
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "log").write_bytes(b"")
        (outside / "target").write_bytes(b'{"secret": 1}')
        path = store.root / "j" / name
        if path.is_dir():
            os.rmdir(path)
        else:
            path.unlink(missing_ok=True)
        path.symlink_to(outside if name == "quarantine" else outside / "target")
        before = {p.name: p.read_bytes() for p in outside.iterdir()}
        fresh = Store(store.root, sync=self.sync)
        (store.root / "j" / "9.json").write_bytes(b"[{broken")  # to be quarantined: moved, and the log written
        touch = {"index": lambda: fresh.usage("j"), "clock": lambda: fresh.append("j", objs([2])),
                 "job.json": lambda: fresh.read_meta("j", "job")}.get(name, lambda: fresh.scan("j"))
        with pytest.raises(NomError, match=f"{name} is a symbolic link"):
            touch()
        assert {p.name: p.read_bytes() for p in outside.iterdir()} == before

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
