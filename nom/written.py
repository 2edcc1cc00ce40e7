"""The second clock: when an object was written, beside its id (when Nectar collected it).

A tweet says when it was written in ``data.created_at``, a post in ``data.createdAt``: ISO 8601 strings.
``written_ns`` is that time in nanoseconds since the epoch (UTC), or the object's id when it carries
none, so every object has a written time and a range by written time selects objects without one by
their collection time.

The store keeps, per data file, bounds of its objects' written times (``written_bounds``), so a range
by written time skips files without reading them. Bounds are worked out cheaply and conservatively:
every object's ``written_ns`` is inside them, never the other way round. The ISO strings are compared
by their first 19 characters (``YYYY-MM-DDTHH:MM:SS``, which sort as times do) and only the two
extremes are parsed; strings with an offset widen the bounds by 14 hours, a fraction by a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["CLOCKS", "WRITTEN_KEYS", "utc_bounds", "written_bounds", "written_ns", "written_of_data"]

CLOCKS = ("written", "collected")  # what a range can select by; the first is the default
WRITTEN_KEYS = ("created_at", "createdAt")  # a tweet's (X API v2) and a post's (Bluesky, ActivityPub) field

_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_SECOND = 10**9
_OFFSET_SLACK = 14 * 3600 * _SECOND + _SECOND  # the widest UTC offset, and a fraction of a second


_EPOCH_DAY = date(1970, 1, 1).toordinal()


def _local_ns(prefix: str) -> int:
    """``YYYY-MM-DDTHH:MM:SS`` (a valid one) read as UTC, in ns: by arithmetic on its fields (a datetime's
    ``timestamp()`` took a quarter of a batch's bounds)."""
    days = date.fromisoformat(prefix[:10]).toordinal() - _EPOCH_DAY
    return (((days * 24 + int(prefix[11:13])) * 60 + int(prefix[14:16])) * 60 + int(prefix[17:19])) * _SECOND


def _parse(text: str) -> int | None:
    """The ns of an ISO 8601 time (UTC unless it says otherwise), or None when it is not one."""
    if not _ISO.match(text):
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return _local_ns(text[:19]) if _valid_prefix(text) else None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp()) * _SECOND + stamp.microsecond * 1000


def _valid_prefix(text: str) -> bool:
    try:
        datetime.fromisoformat(text[:19])
    except ValueError:
        return False
    return True


def written_of_data(data: Any) -> str | None:
    """The written-time string an object's data carries (``created_at`` or ``createdAt``), or None."""
    if type(data) is dict:
        for key in WRITTEN_KEYS:
            value = data.get(key)
            if type(value) is str:
                return value
    return None


def written_ns(obj: dict[str, Any]) -> int:
    """When ``obj`` was written (ns): its data's ``created_at``/``createdAt``, else its id (collected)."""
    text = written_of_data(obj.get("data"))
    if text is not None:
        value = _parse(text)
        if value is not None:
            return value
    return obj["id"]


_DIGITS_TO_ZERO = str.maketrans("123456789", "000000000")


def utc_bounds(texts: list[Any]) -> tuple[int, int] | None:
    """``written_bounds`` of strings that are all ISO 8601 in UTC of one width (``...:SSZ`` or ``...:SS.fffZ``),
    or None when any is not: then the per-object loop decides.

    The common case (a batch of tweets), checked with built-ins over the strings joined into one, never a
    Python step per object: the per-object loop had been a third of a collector's CPU an object. Whenever it
    answers, it gives what the loop would.
    """
    first = texts[0]
    if type(first) is not str:
        return None
    width = len(first)
    if width == 20:
        slack, shape = 0, "0000-00-00T00:00:00Z\n"
    elif 22 <= width <= 31:  # a fraction of 1 to 9 digits
        slack, shape = _SECOND, "0000-00-00T00:00:00." + "0" * (width - 21) + "Z\n"
    else:
        return None
    try:
        joined = "\n".join(texts) + "\n"
    except TypeError:  # a None or a non-string among them
        return None
    if joined.translate(_DIGITS_TO_ZERO) != shape * len(texts):
        return None
    step = width + 1  # every string has this shape: its fields sit at fixed offsets of the joined string
    if not _two_digits_within(joined, 11, step, "23") or max(joined[14::step]) > "5" or max(joined[17::step]) > "5":
        return None  # an hour, minute or second out of range
    for day in {text[:10] for text in texts}:  # a batch holds a day or two: each checked against the calendar
        try:
            date.fromisoformat(day)
        except ValueError:  # not a date (30 February): the loop counts it by its id
            return None
    return _local_ns(min(texts)[:19]) - slack, _local_ns(max(texts)[:19]) + slack


def _two_digits_within(joined: str, at: int, step: int, high: str) -> bool:
    """Whether every two-digit field at ``at``, ``at + step``, ... of ``joined`` is at most ``high``."""
    tens, ones = joined[at::step], joined[at + 1::step]
    if tens.count(tens[0]) == len(tens):  # one tens digit (the usual case): the highest ones digit decides
        return tens[0] + max(ones) <= high
    return all(a + b <= high for a, b in set(zip(tens, ones)))


def written_bounds(ids: Iterable[int], texts: Iterable[str | None]) -> tuple[int, int]:
    """Bounds that hold the written time of each object whose id and written-time string (or None) are given.

    The ISO strings are compared by their first 19 characters and only the extremes parsed; an object with
    no string (or one that is not ISO 8601) counts by its id, as ``written_ns`` does.
    """
    texts = texts if isinstance(texts, list) else list(texts)
    if texts:
        if texts.count(None) == len(texts):  # none says when it was written: all count by their ids
            ids = ids if isinstance(ids, (list, range)) else list(ids)
            return min(ids), max(ids)
        utc = utc_bounds(texts)
        if utc is not None:
            return utc
    return _bounds_by_loop(ids, texts)


def _bounds_by_loop(ids: Iterable[int], texts: list[str | None]) -> tuple[int, int]:
    """``written_bounds`` one object at a time: any mix of strings, None and ids."""
    low = high = None
    iso: list[str] = []
    exact = True  # every ISO string ends in Z with no fraction: no slack needed
    for ident, text in zip(ids, texts):
        if text is not None and _ISO.match(text) and _valid_prefix(text):
            iso.append(text)
            if exact and (len(text) != 20 or text[19] != "Z"):
                exact = False
            continue
        low = ident if low is None or ident < low else low
        high = ident if high is None or ident > high else high
    if iso:
        first, last = min(t[:19] for t in iso), max(t[:19] for t in iso)
        slack = 0 if exact else _OFFSET_SLACK
        if all(t.endswith("Z") for t in iso):
            slack = 0 if exact else _SECOND  # a fraction only
        lo, hi = _local_ns(first) - slack, _local_ns(last) + slack
        low = lo if low is None else min(low, lo)
        high = hi if high is None else max(high, hi)
    if low is None or high is None:
        raise ValueError("written_bounds of no objects")
    return low, high
