"""A JobRunner driven step by step: items given as encoded JSON are stored byte for byte as orjson writes them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import zmq

from collector.job import JobRecord
from collector.runner import JobRunner
from collector.sources import Batch, Item, Source
from collector.sources.synthetic import SyntheticSource
from conftest import wait_for
from nom import GroupWriter, Store

PER_FILE = 7


class DictSource(Source):
    """The synthetic source's tweets, decoded: the runner's other path (a dict per item)."""

    def __init__(self, count: int) -> None:
        super().__init__(kind="dicts", rate=None)
        self.items = SyntheticSource("biden harris", seed=3, rate=None, count=count).read(count)

    def read_batch(self, limit: int) -> Batch:
        taken, self.items = self.items[:limit], self.items[limit:]
        self.done = not self.items
        return Batch.of([Item(item.key, orjson.loads(orjson.dumps(item.data)), item.pos) for item in taken])


def run_job(root: Path, source: Source, job: str) -> list[bytes]:
    """Run a job to its end with ``step()``; the raw bytes of its files, oldest first."""
    store = Store(root)
    store.job_dir(job, create=True)
    request = {"collectorObjectsPerFile": PER_FILE, "delayInMsBetweenObjects": 0, "jobName": job}
    record = JobRecord(job_id=job, request=request, reply={"data": {"typeReturned": "data.tweet-biden-harris"}})
    writer = GroupWriter(store)
    runner = JobRunner(record, source, store, writer, zmq.Context.instance())
    try:
        wait_for(lambda: runner.step() >= 0 and record.state.value == "finished", what="the job to finish")
    finally:
        runner.close()
        writer.close()
    return [(root / job / f"{info.name}.json").read_bytes() for info in store.files(job)]


@pytest.mark.parametrize("count", [1, PER_FILE, 100])
def test_encoded_items_are_stored_as_orjson_writes_them(tmp_path: Path, count: int) -> None:
    from_bytes = run_job(tmp_path / "a", SyntheticSource("biden harris", seed=3, rate=None, count=count), "enc")
    from_dicts = run_job(tmp_path / "b", DictSource(count), "dicts")
    assert type(SyntheticSource("biden harris", rate=None).read_batch(1).data[0]) is bytes  # the path under test
    assert [len(orjson.loads(raw)) for raw in from_bytes] == [len(orjson.loads(raw)) for raw in from_dicts]
    assert sum(len(orjson.loads(raw)) for raw in from_bytes) == count
    for raw, other in zip(from_bytes, from_dicts):
        objects = orjson.loads(raw)
        assert raw == orjson.dumps(objects)  # byte for byte what orjson writes for these objects
        assert [o["type"] for o in objects] == ["data.tweet-biden-harris"] * len(objects)
        strip = [{**o["data"], "created_at": None} for o in objects]  # the one field that is "now"
        assert strip == [{**o["data"], "created_at": None} for o in orjson.loads(other)]
        ids = [o["id"] for o in objects]
        assert ids == sorted(set(ids))
