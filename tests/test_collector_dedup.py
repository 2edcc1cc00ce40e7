"""Dedup memories: RecentKeys stores each key once, forgets the oldest past its limit, stays bounded;
AscendingKeys takes any key above the newest and nothing else."""

from __future__ import annotations

from collector.dedup import AscendingKeys, RecentKeys


def test_repeats_within_and_across_batches_are_dropped_first_one_kept() -> None:
    keys = RecentKeys()
    assert keys.add_many(["1", "2", "3"]) is None  # all new
    assert keys.add_many(["3", "4", "4", "5", "1"]) == [1, 3]  # the indices of the new ones
    assert keys.add_many(["7", "7"]) == [0]
    assert not keys.add("5") and keys.add("6") and len(keys) == 7


def test_memory_is_bounded_and_forgets_the_oldest_first() -> None:
    keys = RecentKeys(limit=10_000)
    for batch in range(100):
        keys.add_many([f"{batch}-{n}" for n in range(500)])
        assert len(keys) <= 10_000 + 500
    assert not keys.add("99-499")  # the newest are remembered
    assert keys.add("0-0")  # the oldest were forgotten


def test_ascending_keys_take_what_is_above_the_newest() -> None:
    keys = AscendingKeys()
    assert keys.add_many(["10", "11", "12"]) is None and keys.newest == 12
    assert keys.add_many(["11", "12", "13", "14"]) == [2, 3] and keys.newest == 14  # a resumed source repeats
    assert keys.add_many(["9", "14"]) == []
    assert not keys.add("14") and keys.add("100") and keys.add_many(["101"]) is None
