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
from datetime import UTC, datetime
from typing import Any

__all__ = ["CLOCKS", "WRITTEN_KEYS", "written_bounds", "written_ns", "written_of_data"]

CLOCKS = ("written", "collected")  # what a range can select by; the first is the default
WRITTEN_KEYS = ("created_at", "createdAt")  # a tweet's (X API v2) and a post's (Bluesky, ActivityPub) field

_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_SECOND = 10**9
_OFFSET_SLACK = 14 * 3600 * _SECOND + _SECOND  # the widest UTC offset, and a fraction of a second


def _local_ns(prefix: str) -> int:
    """``YYYY-MM-DDTHH:MM:SS`` read as UTC, in ns."""
    return int(datetime.fromisoformat(prefix).replace(tzinfo=UTC).timestamp()) * _SECOND


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


def written_bounds(ids: Iterable[int], texts: Iterable[str | None]) -> tuple[int, int]:
    """Bounds that hold the written time of each object whose id and written-time string (or None) are given.

    The ISO strings are compared by their first 19 characters and only the extremes parsed; an object with
    no string (or one that is not ISO 8601) counts by its id, as ``written_ns`` does.
    """
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
