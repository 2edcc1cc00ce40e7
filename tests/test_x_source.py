"""The X source through tweepy's real code paths, against recorded X API v2 responses (``responses``).

The payloads are the real pages in ../shared/data/tweets; only the transport is recorded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import orjson
import responses

from collector.service import Collector
from collector.sources.x import XSource
from conftest import wait_for
from nom import Store

EMPTY = {"meta": {"result_count": 0}}
SEARCH = "https://api.twitter.com/2/tweets/search/recent"
STREAM = "https://api.twitter.com/2/tweets/search/stream"
RULES = "https://api.twitter.com/2/tweets/search/stream/rules"


def pages(tweets_dir: Path, name: str) -> list[dict]:
    out = []
    for line in (tweets_dir / name).read_bytes().splitlines():
        page = orjson.loads(line)
        page.pop("__twarc", None)
        out.append(page)
    return out


def drain(source: XSource, want: int, timeout: float = 10.0) -> list:
    items: list = []
    deadline = time.monotonic() + timeout
    while len(items) < want and time.monotonic() < deadline and not source.error:
        items += source.read_batch(1000).items()
        time.sleep(0.01)
    return items


def query_of(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(call.request.url).query).items()}


class Sleeps:
    """Records the source's waits and returns at once (the waits' lengths are what is checked)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(0.001)


@responses.activate
def test_search_pages_with_next_token_then_polls_with_since_id(tweets_dir: Path) -> None:
    brexit, kpop = pages(tweets_dir, "brexit.jsonl")[0], pages(tweets_dir, "kpop.jsonl")[0]
    first = dict(brexit, meta={**brexit["meta"], "next_token": "PAGE2"})
    second = dict(kpop, meta={k: v for k, v in kpop["meta"].items() if k != "next_token"})
    empty = {"meta": {"result_count": 0}}
    for body in (first, second, empty):
        responses.add(responses.GET, SEARCH, json=body)
    sleeps = Sleeps()
    source = XSource("#brexit", "TOKEN", interval=30, sleep=sleeps)
    try:
        items = drain(source, 200)
        wait_for(lambda: len(responses.calls) >= 3, what="the third request")
    finally:
        source.close()
    assert [i.data["id"] for i in items] == [t["id"] for t in first["data"] + second["data"]]
    assert all("author" in i.data for i in items)  # includes.users attached
    q1, q2, q3 = (query_of(c) for c in responses.calls[:3])
    assert q1["query"] == "#brexit" and "since_id" not in q1 and "next_token" not in q1
    assert q2["next_token"] == "PAGE2"
    assert q3["since_id"] == first["meta"]["newest_id"] and "next_token" not in q3
    assert responses.calls[0].request.headers["Authorization"] == "Bearer TOKEN"
    assert 30 in sleeps.calls  # the poll interval, once the round was complete
    # positions: mid-round resumes with the token; after the round, with since_id
    assert items[99].pos == {"since_id": None, "next_token": "PAGE2", "newest": first["meta"]["newest_id"]}
    assert items[-1].pos == {"since_id": first["meta"]["newest_id"], "next_token": None, "newest": None}


@responses.activate
def test_429_with_reset_header_waits_until_the_reset(tweets_dir: Path) -> None:
    page = dict(pages(tweets_dir, "brexit.jsonl")[0])
    page["meta"] = {k: v for k, v in page["meta"].items() if k != "next_token"}
    reset = int(time.time()) + 120
    responses.add(responses.GET, SEARCH, status=429, json={"title": "Too Many Requests"},
                  headers={"x-rate-limit-reset": str(reset)})
    responses.add(responses.GET, SEARCH, json=page)
    responses.add(responses.GET, SEARCH, json=EMPTY)  # later polls find nothing new
    sleeps = Sleeps()
    source = XSource("#brexit", "TOKEN", sleep=sleeps)
    try:
        items = drain(source, 100)
    finally:
        source.close()
    assert len(items) == 100
    assert 115 <= sleeps.calls[0] <= 122  # until the reset, not a fixed guess


@responses.activate
def test_429_without_header_backs_off_exponentially_with_a_cap(tweets_dir: Path) -> None:
    page = dict(pages(tweets_dir, "kpop.jsonl")[0])
    page["meta"] = {k: v for k, v in page["meta"].items() if k != "next_token"}
    for _ in range(6):
        responses.add(responses.GET, SEARCH, status=429, json={"title": "Too Many Requests"})
    responses.add(responses.GET, SEARCH, json=page)
    responses.add(responses.GET, SEARCH, json=EMPTY)  # later polls find nothing new
    sleeps = Sleeps()
    source = XSource("kpop", "TOKEN", backoff_base=1.0, backoff_cap=10.0, sleep=sleeps)
    try:
        items = drain(source, 100)
    finally:
        source.close()
    assert len(items) == 100 and not source.error
    waits = sleeps.calls[:6]
    assert all(w <= 10.0 for w in waits)  # capped
    assert waits[0] <= 2.0 and waits[3] >= 4.0  # and growing


@responses.activate
def test_503_then_success(tweets_dir: Path) -> None:
    page = dict(pages(tweets_dir, "brexit.jsonl")[0])
    page["meta"] = {k: v for k, v in page["meta"].items() if k != "next_token"}
    responses.add(responses.GET, SEARCH, status=503, json={"title": "Service Unavailable"})
    responses.add(responses.GET, SEARCH, json=page)
    responses.add(responses.GET, SEARCH, json=EMPTY)  # later polls find nothing new
    sleeps = Sleeps()
    source = XSource("#brexit", "TOKEN", sleep=sleeps)
    try:
        items = drain(source, 100)
    finally:
        source.close()
    assert len(items) == 100 and source.error is None
    assert any("TwitterServerError" in w for w in source.warnings)
    assert 0 < sleeps.calls[0] <= 2.0


@responses.activate
def test_monthly_cap_is_a_clear_job_error() -> None:
    responses.add(responses.GET, SEARCH, status=429, json={
        "title": "UsageCapExceeded", "detail": "Usage cap exceeded: Monthly product cap",
        "type": "https://api.twitter.com/2/problems/usage-capped", "period": "Monthly", "scope": "Product"})
    source = XSource("#brexit", "TOKEN", sleep=Sleeps())
    try:
        wait_for(lambda: source.error, what="the cap error")
    finally:
        source.close()
    assert "monthly post cap" in source.error
    assert len(responses.calls) == 1  # no endless retrying
    assert source.read_batch(10).items() == [] and source.done


def stream_body(lines: list[dict]) -> bytes:
    return b"\r\n".join(json.dumps(line).encode() for line in lines) + b"\r\n"


@responses.activate
def test_stream_reconnects_and_a_repeated_tweet_is_stored_once(tweets_dir: Path, tmp_path: Path) -> None:
    lines = [orjson.loads(line) for line in (tweets_dir / "streaming_output_with_error.jsonl")
             .read_bytes().splitlines()[:-1]]
    for line in lines:
        line.pop("__twarc", None)
    responses.add(responses.GET, RULES, json={"meta": {"result_count": 0}})
    responses.add(responses.POST, RULES, json={"data": [{"id": "1", "value": "biden harris", "tag": "nectar"}],
                                               "meta": {"summary": {"created": 1}}})
    # the first connection delivers three tweets and drops; the second repeats the third (backfill), then the rest
    responses.add(responses.GET, STREAM, body=stream_body(lines[:3]))
    responses.add(responses.GET, STREAM, body=stream_body(lines[2:]))
    responses.add(responses.GET, STREAM, body=b"\r\n")  # keep-alives from then on

    collector = Collector(tmp_path / "root", control="tcp://127.0.0.1:*", x_token="TOKEN", flush_latency=0.05)
    collector.start()
    try:
        reply = collector.handle(orjson.dumps({
            "action": "newCollectorJob", "jobName": "stream", "searchTerms": "biden harris",
            "collectorObjectsPerFile": 2, "delayInMsBetweenObjects": 0,
            "source": {"kind": "x", "mode": "stream", "backfill_minutes": 2}}))
        job = reply["data"]["jobId"]
        runner = collector.jobs[job]
        deadline = time.monotonic() + 15
        while runner.stats["stored"] < len(lines) and time.monotonic() < deadline:
            collector.step(max_wait=0.01)
        assert runner.stats["duplicates"] >= 1
    finally:
        collector.close()
    stored = [o["data"]["id"] for o in Store(tmp_path / "root").scan(job)]
    assert sorted(stored) == sorted(line["data"]["id"] for line in lines)
    stream_calls = [c for c in responses.calls if c.request.url.startswith(STREAM + "?")]
    assert len(stream_calls) >= 2  # it reconnected
    assert query_of(stream_calls[0])["backfill_minutes"] == "2"
