"""Temp files (nom.store.commit.files): written unnamed where the filesystem allows, named only once durable."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from nom import Store
from nom.store import FileInfo, GroupCommit
from nom.store.commit import files

REPO = Path(__file__).resolve().parent.parent


def objs(ids) -> list[dict]:
    return [{"id": i, "type": "data.test", "data": {"n": i}} for i in ids]


def test_a_written_file_has_no_name_until_it_is_linked(tmp_path: Path) -> None:
    store = Store(tmp_path / "root")
    steps = GroupCommit(store)
    written = steps.write([("j", objs([1, 2])), ("j", objs([3]))])
    assert all(item.fd >= 0 and not item.tmp for item in written), "this filesystem offers O_TMPFILE"
    assert [n for n in os.listdir(store.root / "j") if n != "clock"] == []  # nothing visible, not even a .tmp-
    steps.sync_data()
    steps.link(written)
    steps.sync_names(written)
    steps.record(written)
    assert [o["id"] for o in store.scan("j")] == [1, 2, 3]
    assert all(item.fd == -1 for item in written)


def test_abandoned_unnamed_files_vanish_and_release_their_fds(tmp_path: Path) -> None:
    store = Store(tmp_path / "root")
    store.append("j", objs([100]))  # the first write opens /proc/self/fd, for good
    before = len(os.listdir("/proc/self/fd"))
    steps = GroupCommit(store)
    written = steps.write([("j", objs([i])) for i in range(1, 21)])
    assert len(os.listdir("/proc/self/fd")) == before + 20
    steps.abandon(written)
    steps.abandon(written)  # twice is harmless
    assert len(os.listdir("/proc/self/fd")) == before
    assert files._state["open"] == 0
    assert [n for n in os.listdir(store.root / "j") if n.endswith(".json")] == [f"{store.files('j')[0].name}.json"]


def test_past_the_cap_of_open_unnamed_files_named_ones_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    monkeypatch.setattr(files, "MAX_UNNAMED", 3)
    store = Store(tmp_path / "root")
    infos = store.commit([("j", objs([i])) for i in range(1, 8)])
    assert [i.min_id for i in infos] == list(range(1, 8))
    assert [o["id"] for o in store.scan("j")] == list(range(1, 8))
    assert not [n for n in os.listdir(store.root / "j") if n.startswith(".tmp")]
    assert files._state["open"] == 0


def test_a_forked_child_links_its_own_files(tmp_path: Path) -> None:
    """/proc/self/fd, opened before a fork, names the parent's fds: the child must open its own."""
    store = Store(tmp_path / "root")
    store.append("j", objs([1]))  # opens /proc/self/fd in this process
    pid = os.fork()
    if pid == 0:  # the child: write and exit without running pytest's teardown
        try:
            Store(tmp_path / "root").append("j", objs([2, 3]))
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [o["id"] for o in Store(tmp_path / "root").scan("j")] == [1, 2, 3]


def test_a_writer_killed_between_write_and_link_leaves_nothing(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from nom import Store
        from nom.store import GroupCommit
        store = Store({str(tmp_path / "root")!r})
        store.append("j", [{{"id": 1, "type": "data.test", "data": 1}}])
        steps = GroupCommit(store)
        steps.write([("j", [{{"id": i, "type": "data.test", "data": i}}]) for i in range(2, 52)])
        steps.sync_data()
        print("prepared", flush=True)
        sys.stdin.read()
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "prepared"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
    folder = tmp_path / "root" / "j"
    data = [n for n in os.listdir(folder) if n.endswith(".json") or n.startswith(".tmp")]
    assert len(data) == 1 and orjson.loads((folder / data[0]).read_bytes())[0]["id"] == 1
    assert [o["id"] for o in Store(tmp_path / "root").scan("j")] == [1]


def test_a_failed_write_leaves_no_file_in_either_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails part-way (here the file-size limit, EFBIG) leaves no file, named or not."""
    folder = tmp_path / "j"
    folder.mkdir()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    for supported in (True, False):
        monkeypatch.setitem(files._state, "supported", supported)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, hard))
        try:
            with pytest.raises(OSError, match="too large"):
                files.write_temp_file("j", str(folder), FileInfo(123, 1, 1, 1, 1000), b"x" * 1000, datasync=False)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        assert os.listdir(folder) == []
    assert files._state["open"] == 0


def test_the_c_module_is_built_here() -> None:
    """pip install builds nom.store.commit._unnamed where a C compiler is (as here and in CI); without it, the
    Python path."""
    assert files._unnamed is not None


@pytest.fixture(params=["c", "python"])
def group_folder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty job folder, with groups written through the C module or (without it) in Python."""
    if request.param == "python":
        monkeypatch.setattr(files, "_unnamed", None)
    folder = tmp_path / "j"
    folder.mkdir()
    return folder


def test_a_group_that_fails_part_way_leaves_nothing(group_folder: Path) -> None:
    folder = group_folder
    entries = [("j", str(folder), FileInfo(100 + n, n, n, 1, size), b"x" * size)
               for n, size in enumerate([50, 60, 5000, 70])]  # the third is past the limit below
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))
    try:
        with pytest.raises(OSError, match="too large") as caught:
            files.write_group(entries, datasync=False)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert caught.value.errno == 27  # EFBIG
    assert os.listdir(folder) == [] and files._state["open"] == 0


def test_linking_over_an_existing_name_fails_and_keeps_the_rest(group_folder: Path) -> None:
    folder = group_folder
    items = files.write_group([("j", str(folder), FileInfo(100 + n, n, n, 1, 3), b"[%d]" % n)
                                  for n in range(3)], datasync=False)
    (folder / "101.json").write_bytes(b"taken")
    with pytest.raises(FileExistsError):
        files.link_group(items)
    assert (folder / "100.json").read_bytes() == b"[0]"  # linked before the failure
    assert (folder / "101.json").read_bytes() == b"taken"  # never overwritten
    for item in items:
        item.discard()
    assert sorted(os.listdir(folder)) == ["100.json", "101.json"] and files._state["open"] == 0
