"""The Writer contract (nom/store/commit/writer.py), run against both writers: ThreadWriter and ProcessWriter."""

from __future__ import annotations

import errno
import select
from pathlib import Path

import orjson
import pytest

from nom import Encoded, NomError, Store, StoreError, ThreadWriter, Writer
from nom.store.commit.process import ProcessWriter


def objs(ids) -> list[dict]:
    return [{"id": i, "type": "data.test", "data": {"n": i}} for i in ids]


class WriterContract:
    """Every writer must pass these."""

    def make(self, root: Path, **options) -> Writer:
        raise NotImplementedError

    @pytest.fixture
    def writer(self, tmp_path: Path):
        writer = self.make(tmp_path / "root")
        yield writer
        writer.close()

    def test_arrays_land_durably_and_the_fd_wakes(self, tmp_path: Path, writer: Writer) -> None:
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

    def test_a_bad_array_fails_in_submit_and_sends_nothing(self, writer: Writer) -> None:
        with pytest.raises(NomError, match="type"):
            writer.submit("j", [{"id": 1, "type": "Not A Type"}])
        with pytest.raises(NomError, match="job"):
            writer.submit("../etc", objs([1]))
        with pytest.raises(NomError):
            writer.submit("j", [{"id": "x", "type": "data.a"}])
        assert writer.pending() == 0

    def test_a_store_error_comes_back_with_its_errno(self, tmp_path: Path, writer: Writer) -> None:
        (tmp_path / "root" / "j").write_text("a file where the job folder should be")
        future = writer.submit("j", objs([1, 2]))
        with pytest.raises(StoreError) as caught:
            future.result(timeout=10)
        assert caught.value.errno == errno.EEXIST and "File exists" in str(caught.value)  # the error, intact
        assert writer.submit("k", objs([3])).result(timeout=10).objects == 1  # the writer goes on

    def test_arrays_are_committed_in_groups_in_order(self, tmp_path: Path) -> None:
        writer = self.make(tmp_path / "root", max_pending=32)
        try:
            futures = [writer.submit("j", objs([i])) for i in range(200)]
            infos = [f.result(timeout=30) for f in futures]
        finally:
            writer.close()
        assert [i.min_id for i in infos] == list(range(200))
        assert writer.groups < 200
        assert [o["id"] for o in Store(tmp_path / "root").scan("j")] == list(range(200))

    def test_flush_waits_for_everything_submitted(self, writer: Writer) -> None:
        futures = [writer.submit("j", objs([i])) for i in range(50)]
        assert writer.flush(timeout=30)
        assert writer.pending() == 0 and all(f.done() and f.exception() is None for f in futures)

    def test_close_commits_what_was_submitted_and_then_refuses(self, tmp_path: Path) -> None:
        writer = self.make(tmp_path / "root")
        futures = [writer.submit("j", objs([i])) for i in range(20)]
        writer.close()
        assert all(f.result(timeout=0).objects == 1 for f in futures)
        with pytest.raises(RuntimeError, match="closed"):
            writer.submit("j", objs([99]))
        writer.close()  # twice is harmless
        assert [o["id"] for o in Store(tmp_path / "root").scan("j")] == list(range(20))

    def test_the_window_is_two_groups(self, writer: Writer) -> None:
        assert writer.window == 2 * writer.max_group > 0


class TestThreadWriter(WriterContract):
    def make(self, root: Path, **options) -> Writer:
        return ThreadWriter(Store(root), **options)


class TestProcessWriter(WriterContract):
    def make(self, root: Path, **options) -> Writer:
        return ProcessWriter(root, **options)


@pytest.mark.parametrize(("kind", "expected"), [("thread", ThreadWriter), ("process", ProcessWriter)])
def test_the_store_opens_either_writer(tmp_path: Path, kind: str, expected: type) -> None:
    writer = Store(tmp_path / "root").writer(kind)
    try:
        assert type(writer) is expected and writer.kind == kind
        assert writer.submit("j", objs([1])).result(timeout=10).objects == 1
    finally:
        writer.close()
    with pytest.raises(ValueError, match="writer must be"):
        Store(tmp_path / "root").writer("fork")
