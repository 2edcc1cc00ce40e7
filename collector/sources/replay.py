"""The replay source: tweets from files, at a chosen rate, once or in a loop.

Each line of a ``.jsonl`` file may be:

- a twarc2 page ``{"data": [tweet, ...], "includes": {...}}``: one item per
  tweet, with its author (``includes.users``), the tweets it references
  (``includes.tweets``), its media and place attached to it;
- a filtered-stream line ``{"data": tweet, "includes": ..., "matching_rules": [...]}``;
- a flattened tweet ``{"id": ..., "text": ...}``;
- a NOM object ``{"id": int, "type": ..., "data": tweet}``.

A ``.json`` file may also be one NOM array (a store file). Pages without
tweets (counts, users, compliance) are skipped and counted; a line that is
not valid JSON (a truncated last line) is reported in ``warnings`` and
skipped. The position ``[pass, file, byte offset, item]`` lets a restarted job
resume where its durable objects end. Tweets are keyed by their id, so with
``loop`` a pass stores only the tweets the files did not hold before (a file
that grows is followed, like ``tail -f``).
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Any

import orjson

from collector.batch import Batch, Item
from collector.errors import SourceError
from collector.sources.base import Source, check_rate
from nom import quote

__all__ = ["ReplaySource", "tweets_of"]


class ReplaySource(Source):
    """Tweets read back from files."""

    def __init__(self, paths: list[Path], *, rate: float | None = None, loop: bool = False,
                 position: list[int] | None = None) -> None:
        super().__init__(kind="replay", rate=rate)
        self.paths = paths
        self.loop = loop
        self.pass_, self.file, self.offset, self.item = position or [0, 0, 0, 0]
        self._pending: deque[tuple[str, dict[str, Any]]] = deque()  # tweets of the current record not yet read
        self._next_offset = self.offset
        self._whole = False  # the current record is a whole .json file
        self._fh: Any = None

    @classmethod
    def from_spec(cls, spec: dict[str, Any], position: Any, *, base_dir: str | None = None) -> ReplaySource:
        """Build from ``{"kind": "replay", "path": str | [str], "rate": n?, "loop": bool?}``."""
        unknown = sorted(set(spec) - {"kind", "path", "rate", "loop"})
        if unknown:
            raise SourceError(f"unknown replay source field {quote(unknown[0])} (takes path, rate, loop)",
                              field=f"source.{unknown[0]}")
        raw = spec.get("path")
        names = [raw] if isinstance(raw, str) else raw
        if not names or not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise SourceError("source.path must be a file path or a non-empty list of them", field="source.path")
        paths = []
        for name in names:
            path = Path(name) if os.path.isabs(name) or base_dir is None else Path(base_dir) / name
            try:
                is_file = path.is_file()
            except OSError as exc:  # a name too long, a loop of links
                raise SourceError(f"source.path: cannot read {quote(str(path))}: {exc.strerror}",
                                  field="source.path") from None
            if not is_file:
                raise SourceError(f"source.path: no such file {quote(str(path))}", field="source.path")
            paths.append(path.resolve())
        rate = check_rate(spec, None)
        loop = spec.get("loop", False)
        if not isinstance(loop, bool):
            raise SourceError(f"source.loop must be true or false, got {quote(loop)}", field="source.loop")
        pos = position if isinstance(position, list) and len(position) == 4 else None
        return cls(paths, rate=rate, loop=loop, position=pos)

    def read_batch(self, limit: int) -> Batch:
        """Up to ``limit`` tweets."""
        out: list[Item] = []
        while len(out) < limit and not self.done:
            if not self._pending and not self._load():
                continue
            while self._pending and len(out) < limit:
                key, tweet = self._pending.popleft()
                self.item += 1
                if not self._pending:
                    self._advance()
                out.append(Item(key, tweet, [self.pass_, self.file, self.offset, self.item]))
        return Batch.of(out)

    def _advance(self) -> None:
        """Move the position past the record just used up."""
        if self._whole:
            self.file, self.offset, self._whole = self.file + 1, 0, False
        else:
            self.offset = self._next_offset
        self.item = 0

    def _load(self) -> bool:
        """Read the next record into ``_pending``; False when it held nothing to use."""
        if self.file >= len(self.paths):
            if self.loop and self.paths:
                self.pass_, self.file, self.offset, self.item = self.pass_ + 1, 0, 0, 0
            else:
                self.done = True
                return False
        path = self.paths[self.file]
        try:
            if self._fh is None:
                if path.suffix == ".json" and self.offset == 0 and self._load_whole_file(path):
                    return True
                self._fh = open(path, "rb")
                self._fh.seek(self.offset)
            line = self._fh.readline()
        except OSError as exc:  # the file went away, or cannot be read: the job fails with the reason
            self.error = f"source.path: cannot read {quote(str(path))}: {exc.strerror or exc}"
            self.done = True
            return False
        if not line:
            self._close_file()
            self.file, self.offset, self.item = self.file + 1, 0, 0
            return False
        self._next_offset = self.offset + len(line)
        try:
            tweets = tweets_of(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            self.warnings.append(f"{path.name}: the line at byte {self.offset} is not valid JSON "
                                 f"(truncated?) and was skipped: {exc}")
            tweets = []
        if not tweets:
            self.skipped += 1
        self._pending = deque((str(t.get("id")), t) for t in tweets[self.item:])
        if not self._pending:
            self._advance()
        return bool(self._pending)

    def _load_whole_file(self, path: Path) -> bool:
        """Read a ``.json`` file that is one JSON document (a NOM array); False if it is not one."""
        raw = path.read_bytes()
        try:
            tweets = tweets_of(orjson.loads(raw)) if raw.strip() else []
        except orjson.JSONDecodeError:
            return False  # read it as lines instead
        self._whole = True
        self._pending = deque((str(t.get("id")), t) for t in tweets[self.item:])
        if not self._pending:
            self._advance()
        return bool(self._pending)

    def _close_file(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        """Close the open file."""
        self._close_file()


def tweets_of(value: Any) -> list[dict[str, Any]]:
    """The tweets in one decoded record (see the module docstring); [] for records without tweets."""
    if isinstance(value, list):  # a NOM array
        return [t for v in value for t in tweets_of(v)]
    if not isinstance(value, dict):
        return []
    if isinstance(value.get("id"), int) and isinstance(value.get("type"), str) and "data" in value:
        data = value["data"]
        return [data] if isinstance(data, dict) and "text" in data else []
    data = value.get("data")
    if isinstance(data, list):
        tweets = [t for t in data if isinstance(t, dict) and "text" in t and "id" in t]
        return _attach(tweets, value.get("includes") or {})
    if isinstance(data, dict) and "text" in data and "id" in data:
        tweet = dict(data)
        if "matching_rules" in value:
            tweet["matching_rules"] = value["matching_rules"]
        return _attach([tweet], value.get("includes") or {})
    if "text" in value and "id" in value:
        return [value]
    return []


def _attach(tweets: list[dict[str, Any]], includes: dict[str, Any]) -> list[dict[str, Any]]:
    """Put each tweet's expansions (author, referenced tweets, media, place) on the tweet itself."""
    users = {u.get("id"): u for u in includes.get("users", []) if isinstance(u, dict)}
    refs = {t.get("id"): t for t in includes.get("tweets", []) if isinstance(t, dict)}
    media = {m.get("media_key"): m for m in includes.get("media", []) if isinstance(m, dict)}
    places = {p.get("id"): p for p in includes.get("places", []) if isinstance(p, dict)}
    out = []
    for tweet in tweets:
        tweet = dict(tweet)
        if tweet.get("author_id") in users:
            tweet["author"] = users[tweet["author_id"]]
        referenced = [refs[r["id"]] for r in tweet.get("referenced_tweets", []) if r.get("id") in refs]
        if referenced:
            tweet["referenced"] = referenced
        keys = (tweet.get("attachments") or {}).get("media_keys", [])
        if any(k in media for k in keys):
            tweet["media"] = [media[k] for k in keys if k in media]
        place_id = (tweet.get("geo") or {}).get("place_id")
        if place_id in places:
            tweet["place"] = places[place_id]
        out.append(tweet)
    return out
