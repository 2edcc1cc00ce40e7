"""ProcessWriter: group commit in a child process, with GroupWriter's contract, and its failure paths."""

from __future__ import annotations

import errno
import os
import select
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from concurrent.futures import wait
from pathlib import Path

import orjson
import pytest
from conftest import wait_for
from test_store_contract import FolderWatch, array, capped, data_names

from nom import Encoded, NomError, Store, StoreError
from nom.writer_process import ProcessWriter, _stored_already

REPO = Path(__file__).resolve().parent.parent


def objs(ids) -> list[dict]:
    return [{"id": i, "type": "data.test", "data": {"n": i}} for i in ids]


@pytest.fixture
def writer(tmp_path: Path):
    writer = ProcessWriter(tmp_path / "root")
    yield writer
    writer.close()


def test_arrays_land_durably_and_the_fd_wakes(tmp_path: Path, writer: ProcessWriter) -> None:
    store = Store(tmp_path / "root")
    ids = [store.new_ids("j", 50) for _ in range(40)]
    futures = [writer.submit("j", objs(r)) for r in ids[:20]]
    futures += [writer.submit("j", Encoded(orjson.dumps(objs(r)), r[0], r[-1], 50)) for r in ids[20:]]
    assert select.select([writer.fileno()], [], [], 10)[0] == [writer.fileno()]
    infos = [f.result(timeout=10) for f in futures]
    assert [(i.min_id, i.max_id, i.objects) for i in infos] == [(r[0], r[-1], 50) for r in ids]
    assert [o["id"] for o in Store(tmp_path / "root").scan("j")] == [i for r in ids for i in r]
    writer.clear_signal()
    assert select.select([writer.fileno()], [], [], 0)[0] == []
    assert writer.pending() == 0 and writer.flush(timeout=1)


def test_a_bad_array_fails_in_submit_and_sends_nothing(writer: ProcessWriter) -> None:
    with pytest.raises(NomError, match="type"):
        writer.submit("j", [{"id": 1, "type": "Not A Type"}])
    with pytest.raises(NomError, match="job"):
        writer.submit("../etc", objs([1]))
    assert writer.pending() == 0


@pytest.mark.parametrize("cap_files", [1, 3, 30])
def test_retention_cap_holds_with_groups_larger_than_it(tmp_path: Path, cap_files: int) -> None:
    """The child waits for the job's clock lock while the test holds it: the arrays queue up in its socket and come
    in groups larger than the cap; the job never holds more than the cap and keeps the newest files."""
    import fcntl

    store = Store(tmp_path / "root")
    _, cap = capped(store, cap_files)
    writer = ProcessWriter(tmp_path / "root", max_pending=4000)
    count = 5 * cap_files + 10
    try:
        with FolderWatch(store.root / "j") as watch:
            clock = os.open(store.root / "j" / "clock", os.O_RDWR)
            try:
                fcntl.flock(clock, fcntl.LOCK_EX)  # the child's first id lease waits for this
                futures = [writer.submit("j", array(1 + k)) for k in range(count)]
            finally:
                fcntl.flock(clock, fcntl.LOCK_UN)
                os.close(clock)
            infos = [f.result(timeout=30) for f in futures]
        assert writer.groups < count / (cap_files + 1)  # so some group held more arrays than the cap holds files
        assert [i.min_id for i in infos] == [array(1 + k)[0]["id"] for k in range(count)]
        assert data_names(store.root / "j") == [i.name for i in infos[-cap_files:]]
        assert 0 < watch.most <= cap_files
        assert store.usage("j").bytes <= cap and store.files("j") == Store(store.root).files("j")
    finally:
        writer.close()


def test_a_store_error_comes_back_with_its_errno(tmp_path: Path, writer: ProcessWriter) -> None:
    (tmp_path / "root" / "j").write_text("a file where the job folder should be")
    future = writer.submit("j", objs([1, 2]))
    with pytest.raises(StoreError) as caught:
        future.result(timeout=10)
    assert caught.value.errno == errno.EEXIST and "File exists" in str(caught.value)  # the child's error, intact
    assert writer.submit("k", objs([3])).result(timeout=10).objects == 1  # the writer goes on


def test_a_killed_writer_fails_what_it_held_and_retries_store_each_object_once(tmp_path: Path) -> None:
    writer = ProcessWriter(tmp_path / "root", max_pending=4000)
    store = Store(tmp_path / "root")
    try:
        arrays = {r[0]: objs(r) for r in (store.new_ids("j", 50) for _ in range(3000))}
        futures = {first: writer.submit("j", array) for first, array in arrays.items()}
        wait_for(lambda: sum(f.done() for f in futures.values()) >= 50, timeout=30, what="some arrays to land")
        first_child = writer.pid
        os.kill(first_child, signal.SIGKILL)
        wait(futures.values(), timeout=30)
        failed = [first for first, f in futures.items() if f.exception() is not None]
        assert failed, "the kill came too late to catch any array in flight"
        assert all("writer process exited" in str(futures[first].exception()) for first in failed)
        assert writer.pid != first_child and writer.restarts == 1
        retried = [writer.submit("j", arrays[first]) for first in failed]
        assert all(f.result(timeout=30).objects == 50 for f in retried)
    finally:
        writer.close()
    counts = Counter(o["id"] for o in Store(tmp_path / "root").scan("j"))
    assert len(counts) == 3000 * 50 and set(counts.values()) == {1}


def test_a_retry_of_an_array_stored_already_is_answered_with_its_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "root")
    ids = store.new_ids("j", 50)
    stored = store.append("j", objs(ids))  # as a writer that died before answering would have left it
    array = Encoded(orjson.dumps(objs(ids)), ids[0], ids[-1], 50)
    assert _stored_already(Store(tmp_path / "root"), "j", array) == stored
    fresh = store.new_ids("j", 50)  # never stored: the retry is written like any array
    assert _stored_already(Store(tmp_path / "root"), "j", Encoded(orjson.dumps(objs(fresh)), fresh[0], fresh[-1], 50)) is None


def test_the_writer_process_dies_with_its_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from nom.writer_process import ProcessWriter
        writer = ProcessWriter({str(tmp_path / "root")!r})
        print(writer.pid, flush=True)
        sys.stdin.read()  # stays until killed (or its stdin closes)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.kill()
        parent.wait(10)
        wait_for(lambda: not _alive(child), timeout=10, what="the orphaned writer process to exit")
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")
