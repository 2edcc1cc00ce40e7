"""The collector as a real process on random ports: replay, restart after SIGKILL, SIGTERM, the default source."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from conftest import wait_for
from nectar.testing import ServiceProcess
from nom import Store


@pytest.fixture
def collector(tmp_path: Path):
    service = ServiceProcess("collector", tmp_path / "root").start()
    yield service
    service.kill()


def replay_tweet_ids(*paths: Path) -> list[str]:
    """The tweet ids in twarc2 page files, computed independently of the collector."""
    return [t["id"] for p in paths for line in p.read_bytes().splitlines() for t in orjson.loads(line)["data"]]


def job_request(**overrides) -> dict:
    request = {"jobName": "search for A and/or B.", "collectorObjectsPerFile": 50, "delayInMsBetweenObjects": 0,
               "searchTerms": "biden harris"}
    request.update(overrides)
    return request


def test_replay_stores_exactly_the_tweets_in_files_of_at_most_objects_per_file(collector, tweets_dir, tmp_path):
    paths = [tweets_dir / "brexit.jsonl", tweets_dir / "kpop.jsonl"]
    reply = collector.call("newCollectorJob", **job_request(
        collectorObjectsPerFile=30, searchTerms="Brexit kpop",
        source={"kind": "replay", "path": [str(p) for p in paths]}))
    assert reply["type"] == "data.collector.job" and isinstance(reply["id"], int)
    data = reply["data"]
    assert {"jobId", "jobName", "searchTerms", "hostName", "dispatchPort", "collectorPort", "typeReturned"} <= set(data)
    assert data["typeReturned"] == "data.tweet-brexit-kpop" and data["hostName"] == "127.0.0.1"
    assert data["jobName"] == "search for A and/or B." and data["searchTerms"] == "Brexit kpop"
    assert all(isinstance(data[k], int) and data[k] > 0 for k in ("dispatchPort", "collectorPort"))
    job = data["jobId"]
    wait_for(lambda: collector.call("jobStatus", jobId=job)["state"] == "finished", what="replay to finish")
    store = Store(tmp_path / "root")
    objects = list(store.scan(job))
    assert sorted(o["data"]["id"] for o in objects) == sorted(replay_tweet_ids(*paths))
    assert len(objects) == 200
    assert {o["type"] for o in objects} == {"data.tweet-brexit-kpop"}
    assert all(f.objects <= 30 for f in store.files(job))
    assert all("author" in o["data"] for o in objects)  # includes.users attached to each tweet
    status = collector.call("jobStatus", jobId=job)
    assert (status["stored"], status["seq"], status["objects"]) == (200, 200, 200)


def test_default_source_is_synthetic_and_says_so(collector, tmp_path):
    reply = collector.call("newCollectorJob", **job_request())
    job = reply["data"]["jobId"]
    assert reply["data"]["source"] == "synthetic" and "no X bearer token" in reply["data"]["note"]
    wait_for(lambda: collector.call("jobStatus", jobId=job)["stored"] >= 50, what="synthetic objects")
    status = collector.call("jobStatus", jobId=job)
    assert status["source"] == "synthetic" and "no X bearer token" in status["note"]
    listed = collector.call("listJobs")["jobs"]
    assert [j["jobId"] for j in listed] == [job]
    assert listed[0]["source"] == "synthetic" and listed[0]["state"] == "running"
    assert collector.call("stopCollectorJob", jobId=job)["state"] == "stopped"
    assert collector.call("jobStatus", jobId=job)["state"] == "stopped"


def test_sigterm_flushes_and_exits_zero_within_5s(tmp_path):
    service = ServiceProcess("collector", tmp_path / "root", "--flush-latency", "30").start()
    try:
        reply = service.call("newCollectorJob", **job_request(collectorObjectsPerFile=1000,
                                                              source={"kind": "synthetic", "rate": 400}))
        job = reply["data"]["jobId"]
        time.sleep(0.5)
        started = time.monotonic()
        assert service.terminate(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        service.kill()
    store = Store(tmp_path / "root")
    stored = store.usage(job).objects
    assert stored > 0  # the partly filled array was flushed, though its latency was 30 s
    assert store.read_meta(job, "checkpoint")["seq"] == stored


def test_sigkill_mid_replay_then_restart_stores_every_tweet_once(tmp_path, tweets_dir):
    paths = [tweets_dir / "brexit.jsonl", tweets_dir / "kpop.jsonl", tweets_dir / "2sets.jsonl"]
    root = tmp_path / "root"
    service = ServiceProcess("collector", root).start()
    reply = service.call("newCollectorJob", **job_request(
        collectorObjectsPerFile=7, source={"kind": "replay", "path": [str(p) for p in paths], "rate": 300}))
    job = reply["data"]["jobId"]
    store = Store(root)
    kills = 0
    try:
        for _ in range(3):
            wait_for(lambda kills=kills: store.exists(job) and store.usage(job).objects > 30 * (kills + 1),
                     what="progress")
            endpoint = service.endpoint
            service.kill()
            kills += 1
            service = ServiceProcess("collector", root).start(endpoint=endpoint)
        wait_for(lambda: service.call("jobStatus", jobId=job)["state"] == "finished", timeout=30, what="the end")
        status = service.call("jobStatus", jobId=job)
    finally:
        service.kill()
    stored = Counter(o["data"]["id"] for o in Store(root).scan(job))
    expected = set(replay_tweet_ids(*paths))
    assert len(expected) == 200  # 2sets.jsonl repeats the tweets of brexit.jsonl and kpop.jsonl
    assert sorted(stored) == sorted(expected)
    assert max(stored.values()) == 1, "a tweet was stored twice"
    assert status["seq"] == 200  # sequence numbers carried across the restarts


def test_a_second_collector_on_the_same_endpoint_refuses_to_start(collector, tmp_path):
    with pytest.raises(RuntimeError, match="cannot bind"):
        ServiceProcess("collector", tmp_path / "other").start(endpoint=collector.endpoint, timeout=10)
