"""The synthetic source: seeded, realistic X API v2 tweets, the embedded default.

Tweet ``n`` of a seed is always the same tweet (so a restarted job resumes at
``n`` and deduplication recognises what it already stored). Texts follow a
Zipf vocabulary; tweets carry hashtags, mentions and urls with v2 ``entities``
offsets, an author (as a v2 ``includes.users`` expansion would attach), a
language and ``created_at``. A share of them (``match``, 0.3 by default)
contain the job's search terms.

Generation is cheap per tweet: a pool of texts and authors is made once per
seed and search terms, and tweet ``n`` takes its text and its author (who
writes in one language) from the pool by ``n`` (see ``read_batch``).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
import time
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from collector.batch import Batch
from collector.errors import SourceError
from collector.sources.base import Source, check_rate
from nom import quote

__all__ = ["IdKeys", "SyntheticSource"]

POOL = 8192
AUTHORS = 4096
ID_BASE = 1_600_000_000_000_000_000
LANGS = ["en"] * 150 + ["es"] * 30 + ["fr"] * 15 + ["de"] * 12 + ["pt"] * 15 + ["ja"] * 14 + ["und"] * 20
DOMAINS = ["example.com", "news.example.org", "blog.example.net", "video.example.com", "pics.example.io"]
_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "an", "el", "is", "or", "um", "ba", "de", "fo",
              "gu", "hi", "jo", "pe", "qu", "ti", "we", "zy", "ch", "st", "th", "tr", "ph", "br"]
AUTHOR_CYCLE = 4093  # a prime below AUTHORS: the authors tweets take in turn (see read_batch)
_TWEET = b'{"id":"%d%b%b%b'  # a tweet's JSON: its id, then a pool body, an author with its language, and created_at


class SyntheticSource(Source):
    """Tweets made up on the spot, ``rate`` per second (None: as fast as the collector takes them)."""

    def __init__(self, search_terms: str, *, seed: int = 0, rate: float | None = 100.0, count: int | None = None,
                 match: float = 0.3, start: int = 0) -> None:
        super().__init__(kind="synthetic", rate=rate, ascending_keys=True)  # tweet n's key is ID_BASE + n
        self.seed = seed
        self.count = count
        self.next = start
        self.encoded_bodies, self.encoded_authors = _encoded_pool(seed, search_terms, match)
        self.item_bytes = (sum(map(len, self.encoded_bodies)) // len(self.encoded_bodies)
                           + sum(map(len, self.encoded_authors)) // len(self.encoded_authors) + 64)
        self.done = count is not None and start >= count

    @classmethod
    def from_spec(cls, spec: dict[str, Any], search_terms: str, position: Any) -> SyntheticSource:
        """Build from a request's ``source`` object: ``seed``, ``rate``, ``count``, ``match``."""
        unknown = sorted(set(spec) - {"kind", "seed", "rate", "count", "match"})
        if unknown:
            raise SourceError(f"unknown synthetic source field {quote(unknown[0])} (takes seed, rate, count, match)",
                              field=f"source.{unknown[0]}")
        seed = spec.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise SourceError(f"source.seed must be an integer from 0 to 2**32-1, got {quote(seed)}",
                              field="source.seed")
        rate = check_rate(spec, 100)
        count = spec.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise SourceError(f"source.count must be a whole number >= 0 or null, got {quote(count)}",
                              field="source.count")
        match = spec.get("match", 0.3)
        if isinstance(match, bool) or not isinstance(match, (int, float)) or not 0 <= match <= 1:
            raise SourceError(f"source.match must be a share from 0 to 1, got {quote(match)}", field="source.match")
        start = position if isinstance(position, int) and position >= 0 else 0
        return cls(search_terms, seed=seed, rate=rate, count=count, match=float(match), start=start)

    def is_own_key(self, key: str) -> bool:
        """Keys are the ids ``ID_BASE + n``, decimal."""
        return key.isascii() and key.isdecimal() and ID_BASE <= int(key) < ID_BASE + 2**62

    def read_batch(self, limit: int) -> Batch:
        """The next ``limit`` tweets (fewer when ``count`` is reached), as columns.

        The tweets are JSON already, as a template and its arguments (see collector.batch): tweet ``n`` is its
        id, body ``n % POOL`` and author ``n % AUTHOR_CYCLE`` of the pool's encoded pieces (coprime: a pair comes
        back once in 33 million tweets), and ``created_at``. So the batch is made by C-level slices of the
        pool, with no Python step per tweet, and the collector joins the pieces straight into the stored
        arrays without making each tweet's bytes first.
        """
        first = self.next
        end = first + limit if self.count is None else min(first + limit, self.count)
        size = max(0, end - first)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()).encode()
        ids = range(ID_BASE + first, ID_BASE + end)
        bodies = list(itertools.islice(itertools.cycle(self.encoded_bodies), first % POOL, first % POOL + size))
        authors = list(itertools.islice(itertools.cycle(self.encoded_authors), first % AUTHOR_CYCLE,
                                        first % AUTHOR_CYCLE + size))
        tails = [b',"created_at":"' + stamp + b'.000Z"}'] * size
        self.next = end
        if self.count is not None and end >= self.count:
            self.done = True
        return Batch(IdKeys(ids), (ids, bodies, authors, tails), range(first + 1, end + 1), _TWEET, written_column=3)


class IdKeys(Sequence[str]):
    """The keys of the tweets with these ids, each made when it is read: deduplicating ascending keys
    (collector.dedup.AscendingKeys) reads two of a batch, so the rest need never be made."""

    __slots__ = ("ids",)

    def __init__(self, ids: range) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index):  # type: ignore[override] - an int gives a key, a slice a list of them
        if isinstance(index, slice):
            return [str(i) for i in self.ids[index]]
        return str(self.ids[index])

    def __iter__(self) -> Iterator[str]:
        return map(str, self.ids)


@functools.lru_cache(maxsize=8)  # only this is kept: the decoded pool (3x its size) is needed only to make it
def _encoded_pool(seed: int, search_terms: str, match: float) -> tuple[list[bytes], list[bytes]]:
    """The pool's pieces as JSON, ready to be joined into tweets (see ``read_batch``)."""
    bodies, authors = _pool(seed, search_terms, match)
    encoded_bodies = [b'","text":' + orjson.dumps(text) + b',"entities":' + orjson.dumps(entities)
                      + b',"public_metrics":' + orjson.dumps(metrics) for text, entities, metrics in bodies]
    langs = random.Random(f"{seed}-langs").choices(LANGS, k=AUTHOR_CYCLE)  # an author writes in one language
    encoded_authors = [b',"author_id":"' + author["id"].encode() + b'","author":' + orjson.dumps(author)
                       + b',"lang":"' + lang.encode() + b'"' for author, lang in zip(authors, langs)]
    return encoded_bodies, encoded_authors


def _pool(seed: int, search_terms: str, match: float) -> tuple[list[tuple[str, dict, dict]], list[dict[str, Any]]]:
    """The texts (with entities) and authors that tweets of this seed draw from."""
    rng = random.Random(seed)
    vocab = _words(rng, 6000)
    weights = list(itertools.accumulate(1.0 / (rank + 1) ** 1.07 for rank in range(len(vocab))))
    tags = _words(rng, 400)
    tag_weights = list(itertools.accumulate(1.0 / (rank + 1) ** 1.2 for rank in range(len(tags))))
    terms = search_terms.split()
    authors = []
    for n in range(AUTHORS):
        username = f"{rng.choice(vocab[:800])}_{rng.choice(vocab[:800])}{n}"
        authors.append({"id": str(10**9 + n), "username": username, "name": username.replace("_", " ").title()})

    def pick(cum: list[float], items: list[str]) -> str:
        return items[bisect.bisect(cum, rng.random() * cum[-1])]

    bodies = []
    for _ in range(POOL):
        words = [pick(weights, vocab) for _ in range(rng.randint(8, 20))]
        if terms and rng.random() < match:
            for term in terms:
                words.insert(rng.randrange(len(words) + 1), term)
        parts: list[tuple[str, str | None]] = [(w, None) for w in words]
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            tag = rng.choice(terms) if terms and rng.random() < match / 2 else pick(tag_weights, tags)
            parts.append(("#" + tag, "hashtag"))
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
            parts.insert(rng.randrange(len(parts) + 1), ("@" + rng.choice(authors)["username"], "mention"))
        if rng.random() < 0.35:
            domain = rng.choice(DOMAINS)
            parts.append((f"https://t.co/{rng.getrandbits(40):010x}", domain))
        text, entities = _text_and_entities(parts)
        metrics = {"retweet_count": int(rng.paretovariate(1.5)) - 1, "reply_count": rng.randrange(5),
                   "like_count": int(rng.paretovariate(1.2)) - 1, "quote_count": rng.randrange(2)}
        bodies.append((text, entities, metrics))
    return bodies, authors


def _text_and_entities(parts: list[tuple[str, str | None]]) -> tuple[str, dict[str, Any]]:
    """Join words into a text and record v2 entity offsets for hashtags, mentions and urls."""
    text, entities = "", {}  # type: ignore[var-annotated]
    for word, kind in parts:
        start = len(text) + (1 if text else 0)
        text = f"{text} {word}" if text else word
        end = len(text)
        if kind == "hashtag":
            entities.setdefault("hashtags", []).append({"start": start, "end": end, "tag": word[1:]})
        elif kind == "mention":
            entities.setdefault("mentions", []).append({"start": start, "end": end, "username": word[1:]})
        elif kind is not None:
            path = word.rsplit("/", 1)[1]
            entities.setdefault("urls", []).append({
                "start": start, "end": end, "url": word, "expanded_url": f"https://{kind}/{path}",
                "display_url": f"{kind}/{path}"})
    return text, entities


def _words(rng: random.Random, count: int) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < count:
        words["".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))] = None
    return list(words)
