"""A job's dedup memory: the keys of the tweets it has stored already, so that none is stored twice.

``RecentKeys`` remembers the keys of a job's recent tweets (any source);
``AscendingKeys`` only the newest, for a source whose keys ascend
(``Source.ascending_keys``): a repeat is then any key not above it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

__all__ = ["AscendingKeys", "RecentKeys"]


class RecentKeys:
    """The dedup keys of a job's recent tweets, bounded: about ``limit`` of them, the oldest forgotten first.

    Keys are kept in chunks as they came (one per batch of items), and a whole chunk is forgotten at a
    time, so remembering and forgetting run in C set operations rather than a Python step per key.
    """

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._set: set[str] = set()
        self._chunks: deque[list[str]] = deque()
        self._count = 0

    def add(self, key: str) -> bool:
        """Remember ``key``; False when it was already there (a duplicate)."""
        if key in self._set:
            return False
        self._remember([key])
        return True

    def add_many(self, keys: Sequence[str]) -> list[int] | None:
        """Remember ``keys``; None when all were new, else the indices of the new ones (the first of repeats)."""
        keys = keys if type(keys) is list else list(keys)  # kept as a chunk, which may be extended
        if self._set.isdisjoint(keys):
            before = len(self._set)
            self._set.update(keys)
            if len(self._set) - before == len(keys):  # the usual case: all new, none repeated
                self._remember(keys, added=True)
                return None
            self._set.difference_update(keys)  # repeats within the batch: sort them out below
        seen, fresh, fresh_keys = self._set, [], []
        for n, key in enumerate(keys):
            if key not in seen:
                seen.add(key)
                fresh.append(n)
                fresh_keys.append(key)
        self._remember(fresh_keys, added=True)
        return fresh

    def _remember(self, keys: list[str], added: bool = False) -> None:
        """Record ``keys`` (``added``: already in the set) and forget the oldest chunks past the limit."""
        if not keys:
            return
        if self._chunks and len(self._chunks[-1]) < 1000:  # many small batches (add) share a chunk
            self._chunks[-1].extend(keys)
        else:
            self._chunks.append(keys)
        if not added:
            self._set.update(keys)
        self._count += len(keys)
        while self._count - len(self._chunks[0]) >= self.limit:
            old = self._chunks.popleft()
            self._set.difference_update(old)
            self._count -= len(old)

    def __len__(self) -> int:
        return len(self._set)


class AscendingKeys:
    """The dedup memory of a source whose keys are decimal integers that ascend, across restarts too.

    A batch whose first key is above the newest seen is all new: one comparison, where ``RecentKeys``
    hashes and remembers every key, a cost a fast source's loop feels (bench/collector.py measures it).
    """

    limit = 2  # recovery reads the files past the checkpoint and one before it (see JobRunner._recover)

    def __init__(self) -> None:
        self.newest = -1

    def add(self, key: str) -> bool:
        """Remember ``key``; False when it was not above the newest (a repeat)."""
        value = int(key)
        if value <= self.newest:
            return False
        self.newest = value
        return True

    def add_many(self, keys: Sequence[str]) -> list[int] | None:
        """Remember ``keys`` (ascending); None when all were new, else the indices of the new ones."""
        if not keys:
            return None
        if int(keys[0]) > self.newest:
            self.newest = int(keys[-1])
            return None
        return [n for n, key in enumerate(keys) if self.add(key)]
