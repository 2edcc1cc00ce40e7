"""Byte sizes as people write them: ``10000``, ``10kB``, ``1.5MB``, ``2GiB``."""

from __future__ import annotations

import re

__all__ = ["parse_size", "format_size"]

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "k": 10**3, "m": 10**6, "g": 10**9}


def parse_size(text: str) -> int:
    """Bytes in ``text``; ValueError naming the problem."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"{text!r} is not a size: use bytes (10000) or a unit (10kB, 5MB, 2GiB)")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if value < 1:
        raise ValueError(f"{text!r} is too small: a size is at least 1 byte")
    return int(value)


def format_size(count: int | None) -> str:
    """``1536`` -> ``1.5 KiB``."""
    if count is None:
        return "-"
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"  # pragma: no cover
