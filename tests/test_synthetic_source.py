"""The synthetic source: v2-shaped tweets, deterministic per (seed, n), entity offsets that match the text."""

from __future__ import annotations

import orjson

from collector.sources.synthetic import SyntheticSource


def decoded(items) -> list[dict]:
    return [orjson.loads(orjson.dumps(item.data)) for item in items]


def test_tweets_are_v2_shaped_with_true_entity_offsets() -> None:
    items = SyntheticSource("biden harris", seed=4, rate=None).read_batch(3000).items()
    tweets = decoded(items)
    assert [t["id"] for t in tweets] == [i.key for i in items] and len({i.key for i in items}) == 3000
    entity_kinds = set()
    for tweet in tweets:
        assert list(tweet) == ["id", "text", "entities", "public_metrics", "author_id", "author", "lang",
                               "created_at"]  # the order the pieces are joined in (see SyntheticSource.read_batch)
        assert tweet["author"]["id"] == tweet["author_id"] and tweet["created_at"].endswith(".000Z")
        for kind, entities in tweet["entities"].items():
            entity_kinds.add(kind)
            for e in entities:
                shown = tweet["text"][e["start"]:e["end"]]
                assert shown == {"hashtags": "#" + e.get("tag", ""), "mentions": "@" + e.get("username", ""),
                                 "urls": e.get("url")}[kind]
    assert entity_kinds == {"hashtags", "mentions", "urls"}
    with_terms = sum("biden" in t["text"].split() and "harris" in t["text"].split() for t in tweets)
    assert 0.2 < with_terms / len(tweets) < 0.4  # match defaults to 0.3


def test_tweet_n_is_the_same_tweet_after_a_restart() -> None:
    first = decoded(SyntheticSource("kpop", seed=9, rate=None).read_batch(700).items())
    resumed = decoded(SyntheticSource("kpop", seed=9, rate=None, start=500).read_batch(200).items())
    strip = lambda t: {k: v for k, v in t.items() if k != "created_at"}  # noqa: E731 - the only field that is "now"
    assert [strip(t) for t in first[500:]] == [strip(t) for t in resumed]
    other_seed = decoded(SyntheticSource("kpop", seed=10, rate=None).read_batch(50).items())
    assert [t["text"] for t in other_seed] != [t["text"] for t in first[:50]]
