"""A JobRunner driven step by step: items given as encoded JSON (a template and its arguments) are stored byte
for byte as orjson writes them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import zmq

from collector.batch import Batch, Item
from collector.job import JobRecord
from collector.runner import JobRunner
from collector.sources import Source
from collector.sources.synthetic import SyntheticSource
from conftest import wait_for
from nom import Store, ThreadWriter

PER_FILE = 7


class DictSource(Source):
    """The synthetic source's tweets, decoded: the runner's other path (a dict per item)."""

    def __init__(self, count: int) -> None:
        super().__init__(kind="dicts", rate=None)
        self.items = SyntheticSource("biden harris", seed=3, rate=None, count=count).read_batch(count).items()

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
    writer = ThreadWriter(store)
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
    assert SyntheticSource("biden harris", rate=None).read_batch(1).template is not None  # the path under test
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


class RepeatingSource(Source):
    """The synthetic source's batches, each followed by a batch that repeats half of it and adds new tweets;
    every third batch given as whole-item bytes (template ``%b``) instead of the synthetic template."""

    def __init__(self, count: int, size: int) -> None:
        super().__init__(kind="repeating", rate=None)
        self.synthetic = SyntheticSource("biden harris", seed=5, rate=None, count=count)
        self.size, self.batches, self.previous = size, 0, None

    def read_batch(self, limit: int) -> Batch:
        self.batches += 1
        batch = self.synthetic.read_batch(self.size)
        if self.previous is not None and self.batches % 2 == 0:  # half of the last batch again, then new ones
            half = list(range(len(self.previous) // 2))
            again = self.previous.select(half)
            if again.template != batch.template:  # joined as whole items' bytes
                again, batch = as_bytes(again), as_bytes(batch)
            batch = Batch([*again.keys, *batch.keys], tuple([*a, *b] for a, b in zip(again.columns, batch.columns)),
                          [*again.positions, *batch.positions], batch.template)
        if self.batches % 3 == 0:
            batch = as_bytes(batch)
        self.previous = batch
        self.done = self.synthetic.done
        return batch


def as_bytes(batch: Batch) -> Batch:
    """The batch with each item's JSON as bytes: the template ``%b``."""
    return Batch(list(batch.keys), (batch.data,), list(batch.positions), b"%b")


def test_repeats_are_dropped_and_a_change_of_template_keeps_every_item(tmp_path: Path) -> None:
    count = 200
    stored = [orjson.loads(raw) for raw in run_job(tmp_path, RepeatingSource(count, size=11), "rep")]
    objects = [o for array in stored for o in array]
    tweet_ids = [o["data"]["id"] for o in objects]
    assert len(tweet_ids) == count and len(set(tweet_ids)) == count  # each tweet once, none lost
    assert tweet_ids == sorted(tweet_ids)  # in the source's order
    assert all(len(array) <= PER_FILE for array in stored)
    assert any(len(array) < PER_FILE for array in stored[:-1])  # arrays parted where the template changed
    assert all(raw == orjson.dumps(orjson.loads(raw)) for raw in run_job(tmp_path / "again", RepeatingSource(30, 4),
                                                                         "rep2"))


def test_a_source_that_implements_nothing_cannot_be_made() -> None:
    """One method, read_batch, is what a source gives; without it the class cannot be made (no recursion)."""

    class Nothing(Source):
        pass

    with pytest.raises(TypeError, match="read_batch"):
        Nothing(kind="nothing")
