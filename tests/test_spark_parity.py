"""The Spark engine (PySpark, local[2]) gives the local engine's result, for every built-in map x reduce pair,
over a job replayed from ../shared/data/tweets and over a synthetic job; and for a user function."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from collector.sources.replay import ReplaySource
from collector.sources.synthetic import SyntheticSource
from dispatch.engines import ApplySpec, LocalEngine
from dispatch.engines.spark import SparkEngine
from dispatch.functions import finish, resolve_reduce
from nom import Store

MAPS = ["words", "hashtags", "mentions", "urls", "domains", "lang", "authors", "count", "hour", "minute", "length",
        "field:data.lang", "value:data.public_metrics.retweet_count", "day"]
REDUCES = ["sum", "count", "min", "max", "mean", "stats", "topk:5", "distinct", "postings"]


def store_tweets(store: Store, job: str, tweets: list[dict]) -> None:
    for start in range(0, len(tweets), 50):
        part = tweets[start:start + 50]
        ids = store.new_ids(job, len(part))
        store.append(job, [{"id": i, "type": "data.tweet-parity", "data": t} for i, t in zip(ids, part)])


@pytest.fixture(scope="module")
def engines(tmp_path_factory, tweets_dir_module):
    root = tmp_path_factory.mktemp("parity") / "root"
    store = Store(root)
    replay = ReplaySource([tweets_dir_module / n for n in ("brexit.jsonl", "kpop.jsonl", "withheld.jsonl",
                                                           "flat.jsonl")])
    tweets = []
    while not replay.done:
        tweets += [item.data for item in replay.read_batch(500).items()]
    store_tweets(store, "replayed", tweets)
    synthetic = SyntheticSource("biden harris", seed=11, rate=None, count=3000)
    store_tweets(store, "synthetic", [item.data for item in synthetic.read_batch(3000).items()])
    local = LocalEngine(str(root), 2)
    assert local.wait_ready()
    spark = SparkEngine(str(root), master="local[2]")
    spark.session  # noqa: B018 - start it once for the module
    yield store, local, spark
    spark.close()
    local.close()


@pytest.fixture(scope="module")
def tweets_dir_module() -> Path:
    from conftest import TWEETS

    assert TWEETS.is_dir()
    return TWEETS


def local_result(local: LocalEngine, spec: ApplySpec, files) -> list:
    run = local.start(spec, files)
    deadline = time.monotonic() + 60
    while not run.done and not run.error and time.monotonic() < deadline:
        local.step(0.01)
    assert run.done, run.error
    local.forget(spec.apply_id)
    return finish(run.acc, run.reducer)


def spark_result(spark: SparkEngine, spec: ApplySpec, files) -> list:
    acc, _ = spark.run_on_spark(spec, files)
    return finish(acc, resolve_reduce(spec.reduce))


@pytest.mark.parametrize("job", ["replayed", "synthetic"])
def test_every_builtin_pair_gives_the_same_result_on_both_engines(engines, job) -> None:
    store, local, spark = engines
    files = store.files(job)
    mismatches = []
    for map_name in MAPS:
        for reduce_name in REDUCES:
            spec = ApplySpec(f"{job}-{map_name}-{reduce_name}", job, map_name, reduce_name)
            expected = local_result(local, spec, files)
            got = spark_result(spark, spec, files)
            if got != expected or not expected:
                mismatches.append(f"{map_name} x {reduce_name}: {len(got)} vs {len(expected)} rows")
    assert not mismatches, "\n".join(mismatches)


def test_a_range_and_a_user_function_on_spark(engines) -> None:
    store, local, spark = engines
    ids = [o["id"] for o in store.scan("replayed")]
    spec = ApplySpec("range", "replayed", "userfuncs.funcs:first_letter", "sum", ids[30], ids[170])
    files = store.files("replayed", ids[30], ids[170])
    expected = local_result(local, spec, files)
    assert spark_result(spark, spec, files) == expected
    assert sum(v for _, v in expected) == 141
    acc, objects = spark.run_on_spark(spec, files)
    assert objects == 141


def test_a_specifier_filters_alike_on_both_engines(engines) -> None:
    """--specifier wraps the map on the executors as in the local workers: the same kept keys, the same values."""
    store, local, spark = engines
    files = store.files("synthetic")
    for map_name, reduce_name, specifier in (("hashtags", "sum", "biden*"), ("words", "topk:3", "harris,biden,b*"),
                                             ("lang", "count", "EN,fr")):
        whole = dict(local_result(local, ApplySpec(f"all-{map_name}", "synthetic", map_name, "sum"), files))
        spec = ApplySpec(f"spec-{map_name}", "synthetic", map_name, reduce_name, specifier=specifier)
        expected = local_result(local, spec, files)
        assert expected and spark_result(spark, spec, files) == expected
        words = {w.lower().rstrip("*") for w in specifier.split(",")}
        kept = {k: v for k, v in whole.items() if k in words or any(k.startswith(w) for w in words
                                                                      if w + "*" in specifier.lower())}
        assert dict(expected) == (kept if reduce_name != "topk:3" else dict(sorted(
            kept.items(), key=lambda kv: (-kv[1], kv[0]))[:3]))
