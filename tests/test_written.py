"""nom.written's bounds: the batch fast paths give what the per-object loop gives, and hold every object."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from nom.written import _bounds_by_loop, utc_bounds, written_bounds, written_ns

HARD = [
    "2024-02-29T12:00:00Z",  # a leap day
    "2023-02-29T12:00:00Z",  # not one: counts by its id
    "2024-04-31T00:00:00Z",  # no 31 April
    "2024-13-01T00:00:00Z",  # no month 13
    "2024-00-10T00:00:00Z",
    "2024-01-00T00:00:00Z",
    "2024-01-10T24:00:00Z",  # hour 24
    "2024-01-10T23:60:00Z",
    "2024-01-10T23:59:60Z",
    "2024-01-10T23:59:59Z",
    "2024-01-10T23:59:59.999Z",
    "2024-01-10T23:59:59.5Z",
    "2024-01-10T10:00:00+05:00",
    "2024-01-10T10:00:00",
    "2024-01-10 10:00:00Z",
    "2024-01-10T10:00:00Z\n2024-01-10T10:00:01Z",
    "not a time",
    "",
]


def _stamp(rng: random.Random, fraction: bool) -> str:
    moment = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(6 * 365 * 86400))
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{rng.randrange(1000):03d}Z" if fraction else "Z")


@pytest.mark.parametrize("seed", range(400))
def test_fast_paths_equal_the_loop_and_hold_every_object(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.randrange(1, 60)
    fraction = rng.random() < 0.5
    texts: list[str | None] = [_stamp(rng, fraction) for _ in range(size)]
    if seed % 3:  # spoil some batches with a hard case or a missing time
        for _ in range(rng.randrange(1, 3)):
            texts[rng.randrange(size)] = rng.choice([*HARD, None])
    ids = sorted(rng.randrange(10**18, 2 * 10**18) for _ in range(size))
    loop = _bounds_by_loop(ids, texts)
    fast = utc_bounds(texts) if None not in texts else None
    if fast is not None:
        assert fast == loop
    low, high = written_bounds(ids, texts)
    assert (low, high) == loop
    for ident, text in zip(ids, texts):
        obj = {"id": ident, "data": {} if text is None else {"created_at": text}}
        assert low <= written_ns(obj) <= high, (text, ident)


def test_a_clean_batch_takes_the_fast_path() -> None:
    texts = ["2024-03-01T00:00:05.120Z", "2024-02-29T23:59:59.000Z"]
    assert utc_bounds(texts) == _bounds_by_loop([1, 2], texts)
    assert utc_bounds(["2024-02-30T00:00:00Z"]) is None  # in range, not in the calendar
    assert utc_bounds(["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.1Z"]) is None  # two widths


def test_no_times_bound_by_ids() -> None:
    assert written_bounds([7, 3, 9], [None, None, None]) == (3, 9)
    assert written_bounds(range(5, 10), [None] * 5) == (5, 9)


def test_a_synthetic_array_bounds_from_its_written_column_equal_its_bytes() -> None:
    import orjson

    from collector.batch import array_written, encode_array
    from collector.sources.synthetic import SyntheticSource

    batch = SyntheticSource("a", rate=None).read_batch(50)
    assert batch.written_column is not None
    ids = range(10**18, 10**18 + len(batch))
    raw = encode_array("data.tweet-x", ids, batch.columns, batch.template)
    by_column = array_written(ids, batch.columns, batch.template, raw, batch.written_column)
    assert by_column is not None
    assert by_column == array_written(ids, batch.columns, batch.template, raw)  # found in the array's bytes
    low, high = by_column
    assert all(low <= written_ns(obj) <= high for obj in orjson.loads(raw))
