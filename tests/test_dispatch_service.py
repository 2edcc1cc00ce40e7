"""Dispatch as a real process beside a real collector: batch applies, ranges, standing reductions under SIGKILL
and SIGSTOP, named errors."""

from __future__ import annotations

import random
import re
import signal
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from conftest import wait_for
from nectar.testing import ServiceProcess
from nom import Store
from test_books import words_of_line


@pytest.fixture
def services(tmp_path: Path):
    root = tmp_path / "root"
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "2").start()
    yield collector, dispatch, Store(root)
    dispatch.kill()
    collector.kill()


def replay_job(collector, dispatch, paths, **source) -> str:
    reply = collector.call("newCollectorJob", jobName="replay", searchTerms="brexit kpop", collectorObjectsPerFile=25,
                           delayInMsBetweenObjects=0,
                           source={"kind": "replay", "path": [str(p) for p in paths], **source})
    dispatch.call("attach", job=reply)
    job = reply["data"]["jobId"]
    wait_for(lambda: collector.call("jobStatus", jobId=job)["state"] == "finished", what="the replay")
    status = collector.call("jobStatus", jobId=job)
    assert status["objects"] == status["stored"] > 0, status  # the store holds everything the job stored
    return job


def apply_and_wait(dispatch, timeout: float = 60, **request) -> dict:
    started = dispatch.call("apply", **request)
    wait_for(lambda: dispatch.call("status", applyId=started["applyId"])["state"] != "running", timeout=timeout,
             what="the apply")
    return dispatch.call("status", applyId=started["applyId"], top=0)


def raw_tweets(paths) -> list[dict]:
    tweets = {}
    for path in paths:
        for line in path.read_bytes().splitlines():
            for tweet in orjson.loads(line)["data"]:
                tweets[tweet["id"]] = tweet
    return list(tweets.values())


def independent_words(tweets) -> Counter:
    """The tokenizer's rules as the plain character loop of test_books (apostrophes, underscores, NFC, marks)."""
    counts: Counter = Counter()
    for tweet in tweets:
        counts.update(words_of_line(tweet["text"]))
    return counts


def independent_hashtags(tweets) -> Counter:
    counts: Counter = Counter()
    for tweet in tweets:
        entities = tweet.get("entities") or {}
        if "hashtags" in entities:
            counts.update(h["tag"].casefold() for h in entities["hashtags"])
        else:
            counts.update(t.casefold() for t in re.findall(r"#(\w+)", tweet["text"]))
    return counts


def test_words_and_hashtags_equal_an_independent_computation(services, tweets_dir) -> None:
    collector, dispatch, store = services
    paths = [tweets_dir / "brexit.jsonl", tweets_dir / "kpop.jsonl", tweets_dir / "withheld.jsonl"]
    job = replay_job(collector, dispatch, paths)
    tweets = raw_tweets(paths)
    words = apply_and_wait(dispatch, map="words", reduce="sum", jobId=job)
    assert words["state"] == "done" and words["objects"] == len(tweets), (words["files"], words["total"],
                                                                          store.usage(job))
    assert dict(words["result"]) == independent_words(tweets)
    values = [v for _, v in words["result"]]
    assert values == sorted(values, reverse=True)
    hashtags = apply_and_wait(dispatch, map="hashtags", reduce="sum", jobId=job)
    assert dict(hashtags["result"]) == independent_hashtags(tweets)
    # the result is stored too, under the derived job <jobId>.<map>.<reduce>, as data.<jobId>.sum objects
    def stored_results():
        if not store.exists(f"{job}.hashtags.sum"):
            return []
        return [o for o in store.scan(f"{job}.hashtags.sum") if o["data"]["apply"] == hashtags["applyId"]]

    stored = wait_for(stored_results, what="stored results")
    assert {o["type"] for o in stored} == {f"data.{job}.sum"}
    assert [pair for o in stored for pair in o["data"]["result"]] == hashtags["result"]
    assert stored[0]["data"]["objects"] == len(tweets) and stored[0]["data"]["map"] == "hashtags"


def test_a_date_range_selects_exactly_the_ids_in_it(services, tweets_dir) -> None:
    collector, dispatch, store = services
    job = replay_job(collector, dispatch, [tweets_dir / "brexit.jsonl", tweets_dir / "kpop.jsonl"])
    ids = [o["id"] for o in store.scan(job)]
    lo, hi = ids[37], ids[120]
    result = apply_and_wait(dispatch, map="count", reduce="postings", jobId=job, fromDate=str(lo), toDate=str(hi),
                            by="collected")
    assert result["objects"] == 84
    assert result["result"][0][1] == ids[37:121]  # both ends inclusive, nothing else


@pytest.mark.parametrize(("request_", "field", "message"), [
    ({"map": "nosuch", "reduce": "sum"}, "map", "neither a built-in"),
    ({"map": "words", "reduce": "nosuch"}, "reduce", "neither a built-in"),
    ({"map": "missingmod.x:f", "reduce": "sum"}, "map", "cannot import module"),
    ({"map": "words", "reduce": "sum", "fromDate": "last tuesday"}, "fromDate", "is not a date"),
    ({"map": "words", "reduce": "sum", "toDate": "-3q"}, "toDate", "is not a date"),
    ({"map": "words", "reduce": "sum", "fromDate": "2026-01-02", "toDate": "2026-01-01"}, "fromDate", "after"),
    ({"map": "words", "reduce": "sum", "jobId": "no-such-job"}, "jobId", "no job 'no-such-job'"),
    ({"map": "words", "reduce": "sum", "jobId": "../etc"}, "jobId", "jobId must be"),
    ({"map": "words", "reduce": "sum", "engine": "hadoop"}, "engine", "engine must be one of"),
])
def test_bad_apply_requests_get_named_errors(services, tweets_dir, request_, field, message) -> None:
    collector, dispatch, store = services
    job = replay_job(collector, dispatch, [tweets_dir / "brexit.jsonl"])
    reply = dispatch.client.send_raw(orjson.dumps({"action": "apply", "jobId": job, **request_}))
    assert message in reply["error"] and reply["field"] == field
    assert dispatch.call("ping")["pong"]


def test_user_function_runs_in_the_workers(services, tweets_dir) -> None:
    collector, dispatch, _ = services
    paths = [tweets_dir / "brexit.jsonl"]
    job = replay_job(collector, dispatch, paths)
    result = apply_and_wait(dispatch, map="userfuncs.funcs:first_letter", reduce="sum", jobId=job)
    expected = Counter(t["text"][:1].lower() or "?" for t in raw_tweets(paths))
    assert dict(result["result"]) == expected


def test_user_function_error_fails_the_apply_with_the_object_id(services, tmp_path) -> None:
    _, dispatch, store = services
    store.append("numbers", [{"id": i, "type": "data.n", "data": i} for i in range(1, 11)])
    failed = apply_and_wait(dispatch, map="userfuncs.funcs:explode_on_seven", reduce="sum", jobId="numbers")
    assert failed["state"] == "failed" and "raised on object 7" in failed["lastError"]
    assert "seven is not allowed" in failed["lastError"]
    skipped = apply_and_wait(dispatch, map="userfuncs.funcs:explode_on_seven", reduce="sum", jobId="numbers",
                             skipErrors=True)
    assert skipped["result"] == [["n", 55 - 7]] and skipped["progress"]["skipped"] == 1


def synthetic_job(collector, dispatch, count: int, rate: float | None) -> str:
    reply = collector.call("newCollectorJob", jobName="standing", searchTerms="biden harris",
                           collectorObjectsPerFile=50, delayInMsBetweenObjects=0,
                           source={"kind": "synthetic", "rate": rate, "count": count, "seed": 3})
    dispatch.call("attach", job=reply)
    return reply["data"]["jobId"]


def test_standing_reduction_survives_10_sigkills_and_equals_a_batch_apply(tmp_path) -> None:
    root = tmp_path / "root"
    rng = random.Random(5)
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "2").start()
    try:
        job = synthetic_job(collector, dispatch, 40_000, 3000)
        standing = dispatch.call("apply", map="hashtags", reduce="sum", jobId=job, toDate="now")["applyId"]
        for _ in range(10):  # issue 4 asks for at least 5 kills, the reliability suite for at least 10
            time.sleep(rng.uniform(0.3, 1.0))
            endpoint = dispatch.endpoint
            dispatch.kill()
            dispatch = ServiceProcess("dispatch", root, "--workers", "2").start(endpoint=endpoint)
        wait_for(lambda: collector.call("jobStatus", jobId=job)["state"] == "finished", timeout=60, what="source")
        total = Store(root).usage(job).objects
        assert total == 40_000
        wait_for(lambda: dispatch.call("status", applyId=standing)["objects"] == total, timeout=30,
                 what="the standing reduction to catch up")
        now = dispatch.call("status", applyId=standing, top=0)
        batch = apply_and_wait(dispatch, map="hashtags", reduce="sum", jobId=job)
    finally:
        dispatch.kill()
        collector.kill()
    assert now["state"] == "standing" and now["objects"] == 40_000
    assert dict(map(tuple, now["result"])) == dict(map(tuple, batch["result"]))


def test_dispatch_paused_while_100k_objects_are_published_ends_with_all_of_them(tmp_path) -> None:
    root = tmp_path / "root"
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "2").start()
    try:
        job = synthetic_job(collector, dispatch, 100_000, None)
        standing = dispatch.call("apply", map="count", reduce="sum", jobId=job, toDate="now")["applyId"]
        dispatch.proc.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            wait_for(lambda: collector.call("jobStatus", jobId=job)["state"] == "finished", timeout=60,
                     what="100,000 objects")
            time.sleep(max(0.0, 10 - (time.monotonic() - stopped)))  # paused for 10 s in all
        finally:
            dispatch.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: dispatch.call("status", applyId=standing)["objects"] == 100_000, timeout=60,
                 what="all 100,000 in the standing result")
        result = dispatch.call("status", applyId=standing, top=0)["result"]
        cache = dispatch.call("showCache")["jobs"]
    finally:
        dispatch.kill()
        collector.kill()
    assert result == [["data.tweet-biden-harris", 100_000]]
    assert [j["jobId"] for j in cache] == [job]


def test_status_reports_worker_liveness(services) -> None:
    collector, dispatch, _ = services
    status = wait_for(lambda: (lambda s: s if len(s["workers"]) == 2 else None)(dispatch.call("status")),
                      what="both workers")
    assert all(w["alive"] and w["pid"] for w in status["workers"])
    assert status["workersReplaced"] == 0
    assert collector.call("ping")["pong"] and dispatch.call("ping")["pong"]
