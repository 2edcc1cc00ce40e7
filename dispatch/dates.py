"""Dates for ``apply``'s range, turned into NOM ids (nanoseconds since the epoch, UTC).

Accepted: ISO 8601 dates and times (UTC unless an offset is given), epoch
seconds (``1700000000``, ``1700000000.5``), epoch nanoseconds (a NOM id, 19
digits), relative times (``-15m``, ``-2h``, ``-7d``, ``-30s``, ``-1w``), ``today``
(midnight UTC) and ``now``. A toDate that is a day (``2021-12-31``) means the end of that day.
A bad date, a date outside what a NOM id can name
(1970-01-01 to 2262-04-11, nanoseconds in a signed 64-bit integer), or a range
whose start is after its end, is an error naming the argument.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from dispatch.errors import DateError
from nom import MAX_ID, quote  # MAX_ID: the last nanosecond a NOM id can name, 2262-04-11T23:47:16.854775807Z

__all__ = ["parse_date", "parse_range"]

_RELATIVE = re.compile(r"-(\d+(?:\.\d+)?)([smhdw])")
_DAY = re.compile(r"\d{4}-\d\d-\d\d")
_DAY_NS = 86400 * 10**9
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_date(text: object, *, field: str, now_ns: int | None = None) -> int:
    """The NOM id (ns) that ``text`` names, from 0 to ``MAX_ID``."""
    value = _parse_date(text, field=field, now_ns=now_ns)
    if not 0 <= value <= MAX_ID:
        raise DateError(f"{field} {quote(text)} is outside the dates a NOM id can name (1970-01-01 to "
                        f"2262-04-11T23:47:16Z); leave it out for an open end", field=field)
    return value


def _parse_date(text: object, *, field: str, now_ns: int | None) -> int:
    now_ns = time.time_ns() if now_ns is None else now_ns
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise DateError(f"{field} must be a date, got {quote(text)}", field=field)
    value = str(text).strip()
    if value == "now":
        return now_ns
    if value == "today":
        return (now_ns // (86400 * 10**9)) * 86400 * 10**9
    match = _RELATIVE.fullmatch(value)
    if match:
        return now_ns - int(float(match.group(1)) * _UNITS[match.group(2)] * 10**9)
    if re.fullmatch(r"\d{16,19}", value):
        return int(value)  # nanoseconds: a NOM id
    if re.fullmatch(r"\d{1,11}(\.\d+)?", value):
        return int(float(value) * 10**9)  # epoch seconds
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DateError(
            f"{field} {quote(value)} is not a date: use ISO 8601 (2026-11-23 or 2026-11-23T10:00:00+01:00), epoch "
            f"seconds or nanoseconds, -15m / -2h / -7d, today or now", field=field) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp()) * 10**9 + stamp.microsecond * 1000


def parse_range(from_date: object = None, to_date: object = None, *,
                now_ns: int | None = None) -> tuple[int | None, int | None, bool]:
    """``(from_id, to_id, standing)``: None for an open end; standing when toDate is ``now``."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    lo = None if from_date in (None, "", "start") else parse_date(from_date, field="fromDate", now_ns=now_ns)
    standing = isinstance(to_date, str) and to_date.strip() == "now"
    hi = None if to_date in (None, "", "end") or standing else parse_date(to_date, field="toDate", now_ns=now_ns)
    if hi is not None and isinstance(to_date, str) and _DAY.fullmatch(to_date.strip()):
        hi = min(MAX_ID, hi + _DAY_NS - 1)  # a day as toDate means through its end: 2021-12-31 holds Dec 31
    if lo is not None and hi is not None and lo > hi:
        raise DateError(f"fromDate ({from_date}) is after toDate ({to_date})", field="fromDate")
    return lo, hi, standing
