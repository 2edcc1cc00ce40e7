"""The index on Spark equals the index on the local engine (the three shared books, a synthetic tweet job), and a
standing index over a synthetic job, with Dispatch killed with SIGKILL three times, ends equal to a batch index
over the same objects."""

from __future__ import annotations

import random
import time

import pytest

from book_helpers import NAMES, store_book
from collector.sources.synthetic import SyntheticSource
from conftest import wait_for
from dispatch.engines import ApplySpec, LocalEngine
from dispatch.engines.spark import SparkEngine
from dispatch.functions import finish, resolve_reduce
from nectar.testing import ServiceProcess
from nom import Store


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    root = tmp_path_factory.mktemp("index-engines") / "root"
    store = Store(root)
    for name in NAMES:
        store_book(store, "books", name)
    tweets = [item.data for item in SyntheticSource("biden harris", seed=19, rate=None, count=4000)
              .read_batch(4000).items()]
    for start in range(0, len(tweets), 50):
        ids = store.new_ids("tweets", 50)
        store.append("tweets", [{"id": i, "type": "data.tweet-x", "data": t}
                                for i, t in zip(ids, tweets[start:start + 50])])
    local = LocalEngine(str(root), 2)
    assert local.wait_ready()
    spark = SparkEngine(str(root), master="local[2]")
    yield store, local, spark
    # the SparkSession is left running: getOrCreate hands it to test_spark_parity (seconds of start-up saved on a
    # loaded machine), which stops it; the JVM goes with the test process in any case
    local.close()


@pytest.mark.parametrize("job", ["books", "tweets"])
def test_index_on_spark_equals_the_local_engine(engines, job) -> None:
    store, local, spark = engines
    files = store.files(job)
    spec = ApplySpec(f"index-{job}", job, "words", "index")
    run = local.start(spec, files)
    deadline = time.monotonic() + 120
    while not run.done and not run.error and time.monotonic() < deadline:
        local.step(0.01)
    assert run.done, run.error
    local.forget(spec.apply_id)
    expected = finish(run.acc, run.reducer)[:]
    acc, objects = spark.run_on_spark(spec, files)
    got = finish(acc, resolve_reduce("index"))[:]
    assert objects == sum(f.objects for f in files)
    assert len(expected) > 1000 and got == expected
    # every object is a document, and postings are sorted by id
    assert len(run.acc.docs) == objects
    assert all([p[0] for p in v["postings"]] == sorted(p[0] for p in v["postings"]) for _, v in expected[:50])


def test_standing_index_survives_three_sigkills_and_equals_a_batch_index(tmp_path) -> None:
    root = tmp_path / "root"
    rng = random.Random(19)
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "2").start()
    total = 12_000
    try:
        reply = collector.call("newCollectorJob", jobName="standing index", searchTerms="biden harris",
                               collectorObjectsPerFile=50, delayInMsBetweenObjects=0,
                               source={"kind": "synthetic", "rate": 2000, "count": total, "seed": 6})
        job = reply["data"]["jobId"]
        dispatch.call("attach", job=reply)
        standing = dispatch.call("apply", map="words", reduce="index", jobId=job, toDate="now")["applyId"]
        grown = []
        for _ in range(3):
            time.sleep(rng.uniform(0.8, 1.5))
            seen = dispatch.call("status", applyId=standing, top=1)
            grown.append((seen["objects"], seen["keys"]))
            endpoint = dispatch.endpoint
            dispatch.kill()
            dispatch = ServiceProcess("dispatch", root, "--workers", "2").start(endpoint=endpoint)
        wait_for(lambda: collector.call("jobStatus", jobId=job)["state"] == "finished", timeout=60, what="source")
        assert Store(root).usage(job).objects == total
        wait_for(lambda: dispatch.call("status", applyId=standing)["objects"] == total, timeout=60,
                 what="the standing index to catch up")
        now = dispatch.call("status", applyId=standing, top=0)
        searched = dispatch.call("search", jobId=job, query="biden OR harris", limit=5)
        batch_id = dispatch.call("apply", map="words", reduce="index", jobId=job)["applyId"]
        wait_for(lambda: dispatch.call("status", applyId=batch_id)["state"] == "done", timeout=60, what="batch")
        batch = dispatch.call("status", applyId=batch_id, top=0)
    finally:
        dispatch.kill()
        collector.kill()
    assert now["state"] == "standing" and now["objects"] == total and batch["objects"] == total
    # it grew as objects arrived (the vocabulary too, until the synthetic one is all seen)
    assert [o for o, _ in grown] == sorted(o for o, _ in grown) and 0 < grown[0][0] < total
    assert [k for _, k in grown] == sorted(k for _, k in grown) and grown[-1][1] <= now["keys"]
    assert searched["applyId"] == standing and searched["total"] > 0  # the standing index is searchable
    assert now["result"] == batch["result"]
