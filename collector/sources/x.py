"""The X API v2 source, through tweepy: recent search polled with ``since_id``, or the filtered stream.

The HTTP work is blocking, so it runs on a thread of its own that fills a
bounded queue; ``read`` drains the queue without blocking. The bearer token
comes from the collector's environment (``X_BEARER_TOKEN``) or its config,
never from a request.

Failures: a 429 waits until ``x-rate-limit-reset`` (or backs off, capped, when
the header is missing); 5xx and network errors back off exponentially with
jitter; the monthly post cap (a 429 whose problem type is ``usage-capped``) and
401/403 end the job with a clear error. The stream reconnects with tweepy's own
backoff, asking for ``backfill_minutes`` where the account allows it; repeats
are removed by the collector's deduplication.

Positions (checkpointed only once the objects before them are durable)::

    {"since_id": str | None, "next_token": str | None, "newest": str | None}
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import tweepy

from collector.batch import Batch, Item
from collector.errors import SourceError
from collector.sources.base import Source
from collector.sources.replay import tweets_of
from nom import quote

__all__ = ["XSource"]

EXPANSIONS = ["author_id", "referenced_tweets.id", "attachments.media_keys", "geo.place_id"]
TWEET_FIELDS = ["author_id", "conversation_id", "created_at", "entities", "geo", "lang", "public_metrics",
                "referenced_tweets", "edit_history_tweet_ids"]
USER_FIELDS = ["username", "name", "verified", "public_metrics", "created_at"]


class XSource(Source):
    """Tweets from the X API."""

    def __init__(self, search_terms: str, token: str, *, mode: str = "search", interval: float = 15.0,
                 backfill_minutes: int | None = None, position: dict[str, Any] | None = None,
                 backoff_base: float = 1.0, backoff_cap: float = 900.0, max_queue: int = 10_000,
                 sleep: Callable[[float], None] | None = None) -> None:
        super().__init__(kind="x")
        self.query = search_terms
        self.token = token
        self.mode = mode
        self.interval = interval
        self.backfill_minutes = backfill_minutes
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.pos: dict[str, Any] = dict(position or {"since_id": None, "next_token": None, "newest": None})
        self.requests = 0
        self.waits: list[float] = []  # every wait the source made, in seconds (shown in the job status)
        self._queue: queue.Queue[Item] = queue.Queue(max_queue)
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._stream: tweepy.StreamingClient | None = None
        self._thread = threading.Thread(target=self._run, name=f"x-{mode}", daemon=True)
        self._thread.start()

    @classmethod
    def from_spec(cls, spec: dict[str, Any], search_terms: str, position: Any, *, token: str | None) -> XSource:
        """Build from ``{"kind": "x", "mode": "search" | "stream", "interval": s?, "backfill_minutes": n?}``."""
        if not token:
            raise SourceError("source kind 'x' needs an X bearer token: set X_BEARER_TOKEN in the collector's "
                              "environment (or x_bearer_token in its config)", field="source.kind")
        unknown = sorted(set(spec) - {"kind", "mode", "interval", "backfill_minutes"})
        if unknown:
            raise SourceError(f"unknown x source field {quote(unknown[0])} (takes mode, interval, backfill_minutes)",
                              field=f"source.{unknown[0]}")
        mode = spec.get("mode", "search")
        if mode not in ("search", "stream"):
            raise SourceError(f"source.mode must be 'search' or 'stream', got {quote(mode)}", field="source.mode")
        interval = spec.get("interval", 15)
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 2 <= interval <= 3600:
            raise SourceError(f"source.interval must be from 2 to 3600 seconds, got {quote(interval)}",
                              field="source.interval")
        backfill = spec.get("backfill_minutes")
        if backfill is not None and (isinstance(backfill, bool) or backfill not in range(1, 6)):
            raise SourceError(f"source.backfill_minutes must be 1 to 5, got {quote(backfill)}",
                              field="source.backfill_minutes")
        pos = position if isinstance(position, dict) else None
        return cls(search_terms, token, mode=mode, interval=float(interval), backfill_minutes=backfill, position=pos)

    def read_batch(self, limit: int) -> Batch:
        """Tweets fetched so far, up to ``limit``."""
        out: list[Item] = []
        while len(out) < limit:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not out and not self._thread.is_alive():
            self.done = True
        return Batch.of(out)

    def close(self) -> None:
        """Stop fetching."""
        self._stop.set()
        if self._stream is not None:
            self._stream.disconnect()
        self._thread.join(timeout=5)

    # -- the fetching thread ------------------------------------------------

    def _run(self) -> None:
        try:
            if self.mode == "stream":
                self._run_stream()
            else:
                self._run_search()
        except Exception as exc:  # noqa: BLE001 - any failure ends the job with its message
            self.error = f"X API: {exc}"

    def _wait(self, seconds: float) -> None:
        self.waits.append(round(seconds, 3))
        self._sleep(seconds)

    def _backoff(self, failures: int) -> float:
        return min(self.backoff_cap, self.backoff_base * 2 ** failures) * random.uniform(0.5, 1.0)

    def _run_search(self) -> None:
        client = tweepy.Client(bearer_token=self.token, return_type=dict, wait_on_rate_limit=False)
        failures = 0
        while not self._stop.is_set():
            params: dict[str, Any] = {"max_results": 100, "expansions": EXPANSIONS, "tweet_fields": TWEET_FIELDS,
                                      "user_fields": USER_FIELDS}
            if self.pos["since_id"]:
                params["since_id"] = self.pos["since_id"]
            if self.pos["next_token"]:
                params["next_token"] = self.pos["next_token"]
            try:
                self.requests += 1
                page = client.search_recent_tweets(self.query, **params)
            except tweepy.TooManyRequests as exc:
                if _is_usage_cap(exc.response):
                    self.error = ("X API monthly post cap reached (429 usage-capped): the job stops; it can be "
                                  "started again when the cap resets or the plan is raised")
                    return
                failures += 1
                reset = exc.response.headers.get("x-rate-limit-reset")
                self._wait(max(1.0, int(reset) - time.time() + 1) if reset and reset.isdigit()
                           else self._backoff(failures))
                continue
            except (tweepy.Unauthorized, tweepy.Forbidden) as exc:
                self.error = f"X API refused the bearer token ({exc.response.status_code}): check X_BEARER_TOKEN"
                return
            except (tweepy.TwitterServerError, requests.ConnectionError, requests.Timeout) as exc:
                failures += 1
                self.warnings.append(f"X API {type(exc).__name__}: retrying")
                self._wait(self._backoff(failures))
                continue
            failures = 0
            self._take_page(page)
            if not self.pos["next_token"]:
                self._wait(self.interval)

    def _take_page(self, page: dict[str, Any]) -> None:
        """Queue a page's tweets; the last one carries the position after the page."""
        meta = page.get("meta") or {}
        before = dict(self.pos)
        newest = self.pos["newest"] or meta.get("newest_id")  # the first page of a round is the newest
        token = meta.get("next_token")
        after = ({"since_id": before["since_id"], "next_token": token, "newest": newest} if token
                 else {"since_id": newest or before["since_id"], "next_token": None, "newest": None})
        tweets = tweets_of(page)
        for n, tweet in enumerate(tweets):
            self._put(Item(str(tweet["id"]), tweet, after if n == len(tweets) - 1 else before))
        self.pos = after

    def _put(self, item: Item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:  # the collector is behind: wait, never drop
                continue

    def _run_stream(self) -> None:
        source = self

        class Stream(tweepy.StreamingClient):
            def on_data(self, raw_data: bytes) -> None:
                for tweet in tweets_of(_loads(raw_data)):
                    source._put(Item(str(tweet["id"]), tweet, source.pos))

            def on_request_error(self, status_code: int) -> None:
                if status_code in (401, 403):
                    source.error = f"X API refused the bearer token ({status_code}): check X_BEARER_TOKEN"
                    self.disconnect()

        stream = Stream(self.token, wait_on_rate_limit=False)
        self._stream = stream
        rules = stream.get_rules().data or []
        if not any(rule.value == self.query for rule in rules):
            stream.add_rules(tweepy.StreamRule(self.query, tag="nectar"))
        params: dict[str, Any] = {"expansions": EXPANSIONS, "tweet_fields": TWEET_FIELDS, "user_fields": USER_FIELDS}
        if self.backfill_minutes:
            params["backfill_minutes"] = self.backfill_minutes
        stream.filter(**params)


def _loads(raw: bytes) -> Any:
    import orjson

    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _is_usage_cap(response: Any) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    text = f"{body.get('type', '')} {body.get('title', '')}" if isinstance(body, dict) else ""
    return "usage-capped" in text or "UsageCapExceeded" in text
