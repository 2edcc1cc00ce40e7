"""Two clocks through the real shell: ranges by when a post was written (default) or collected (--by)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest

from conftest import TWEETS, wait_for
from nectar.client import Client
from shell_helpers import run_json, world_fixture, write_job

PATHS = [TWEETS / "brexit.jsonl", TWEETS / "entities_test.jsonl", TWEETS / "withheld.jsonl", TWEETS / "kpop.jsonl"]
Y2021 = (datetime(2021, 1, 1, tzinfo=UTC), datetime(2022, 1, 1, tzinfo=UTC))


def tweets_of(paths) -> dict:
    """Every tweet of the twarc2 pages, by id (a replay stores each once)."""
    tweets = {}
    for path in paths:
        for line in path.read_bytes().splitlines():
            for tweet in orjson.loads(line)["data"]:
                tweets[tweet["id"]] = tweet
    return tweets


def hashtags_written_in(tweets: dict, low: datetime, high: datetime) -> Counter:
    """Hashtag counts of the tweets written in [low, high), worked out from the files alone."""
    counts: Counter = Counter()
    for tweet in tweets.values():
        written = datetime.fromisoformat(tweet["created_at"].replace("Z", "+00:00"))
        if not low <= written < high:
            continue
        entities = tweet.get("entities") or {}
        if "hashtags" in entities:
            counts.update(h["tag"].casefold() for h in entities["hashtags"])
        else:
            counts.update(t.casefold() for t in re.findall(r"#(\w+)", tweet["text"]))
    return counts


world = world_fixture("clocks")



@pytest.fixture(scope="module")
def replay(world) -> str:
    write_job(world.base, "replay.json", collectorObjectsPerFile=25,
              source={"kind": "replay", "path": [str(p) for p in PATHS], "rate": None})
    job = run_json(world, "start", "replay.json")["jobId"]
    wait_for(lambda: run_json(world, "show", job)["status"]["state"] == "finished", timeout=30, what="the replay")
    return job


def test_a_2021_range_by_post_time_equals_an_independent_count(world, replay) -> None:
    tweets = tweets_of(PATHS)
    expected = hashtags_written_in(tweets, *Y2021)
    written_2021 = sum(1 for t in tweets.values() if Y2021[0] <= datetime.fromisoformat(
        t["created_at"].replace("Z", "+00:00")) < Y2021[1])
    assert 0 < written_2021 < len(tweets)  # the range must select some tweets, not all
    result = run_json(world, "apply", "hashtags", "sum", replay, "2021-01-01", "2021-12-31", "--top", "0")
    assert result["by"] == "written"
    assert result["objects"] == written_2021
    assert dict(result["result"]) == expected
    everything = run_json(world, "apply", "count", "sum", replay)
    assert result["files"] < everything["files"]  # files written outside 2021 were skipped unread
    # the same range by collection time selects nothing: the replay was collected today
    empty = run_json(world, "apply", "hashtags", "sum", replay, "2021-01-01", "2021-12-31", "--by", "collected")
    assert empty["objects"] == 0 and empty["by"] == "collected"
    span = empty["jobSpan"]
    oldest = min(datetime.fromisoformat(t["created_at"].replace("Z", "+00:00")) for t in tweets.values())
    assert span["written"][0] <= oldest.timestamp() * 1e9 <= span["written"][1]
    assert span["collected"][0] > datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1e9


def test_an_empty_range_says_where_the_job_is_in_both_clocks(world, replay) -> None:
    done = world.nectar("apply", "hashtags", "sum", replay, "2001-01-01", "2001-12-31")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "no objects of" in text and "written 2001-01-01 00:00:00 .. 2001-12-31 23:59:59" in text
    assert "the job holds objects written 20" in text and "collected 20" in text and "--by collected" in text
    shown = world.nectar("apply", "count", "sum", replay, "2021-01-01", "2021-12-31")
    assert "written 2021-01-01 00:00:00 .. 2021-12-31 23:59:59" in " ".join(shown.stdout.split())


def test_a_standing_range_by_written_time_counts_late_posts(world) -> None:
    write_job(world.base, "slow.json", collectorObjectsPerFile=10,
              source={"kind": "replay", "path": [str(TWEETS / "brexit.jsonl"), str(TWEETS / "withheld.jsonl")],
                      "rate": 150})
    job = run_json(world, "start", "slow.json")["jobId"]
    standing = run_json(world, "apply", "hashtags", "sum", job, "2021-01-01", "now")
    assert standing["by"] == "written"
    wait_for(lambda: run_json(world, "show", job)["status"]["state"] == "finished", timeout=30, what="the replay")
    tweets = tweets_of([TWEETS / "brexit.jsonl", TWEETS / "withheld.jsonl"])
    expected = hashtags_written_in(tweets, datetime(2021, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    dispatch = Client(world.dispatch.endpoint)
    wait_for(lambda: dict(dispatch.call("status", applyId=standing["apply"], top=0)["result"]) == expected,
             timeout=15, what="the standing result to count every 2021 post")
    assert run_json(world, "cancel", standing["apply"])["state"] == "cancelled"
