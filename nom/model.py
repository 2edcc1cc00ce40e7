"""The Nectar Object Model: ``{"id": ns, "type": "data....", "data": ...}``.

A NOM object is a nanosecond id (when the object entered Nectar), a dotted
type name and any JSON value. This module holds the value type, the checks
on its fields, type matching (exact or glob, used for ``typeReturned``) and
the job-id rule that keeps every job folder inside NOM_ROOT.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from nom.errors import NomError, quote

__all__ = ["MAX_ID", "Nom", "check_id", "check_job_id", "check_object", "check_type", "is_job_id", "is_type", "slug",
           "tweet_type", "type_matches"]

# Ids are signed 64-bit nanoseconds, so they survive JSON readers (Spark, Java) that use longs.
MAX_ID = 2**63 - 1

# A dotted name of one or more parts; parts may hold (Unicode) letters, digits, '_' and '-'.
_TYPE_RE = re.compile(r"[\w-]+(\.[\w-]+)*")
_TYPE_GLOB_RE = re.compile(r"[\w*?\[\]!-]+(\.[\w*?\[\]!-]+)*")
_JOB_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_TYPE_LEN = 256


@dataclass(frozen=True, slots=True)
class Nom:
    """One NOM object. orjson serialises it directly (dataclasses are native to it)."""

    id: int
    type: str
    data: Any = None

    def __post_init__(self) -> None:
        check_id(self.id)
        check_type(self.type)

    def to_dict(self) -> dict[str, Any]:
        """The plain JSON object form."""
        return {"id": self.id, "type": self.type, "data": self.data}

    @classmethod
    def from_dict(cls, obj: Any, *, where: str = "object") -> Nom:
        """Build a Nom from a decoded JSON object, naming the field that is wrong."""
        check_object(obj, where=where)
        return cls(obj["id"], obj["type"], obj.get("data"))


def check_id(value: Any, *, field: str = "id") -> int:
    """Return ``value`` if it is a valid NOM id (a non-negative 64-bit integer)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise NomError(f"{field} must be an integer count of nanoseconds, got {quote(value)}", field=field)
    if not 0 <= value <= MAX_ID:
        raise NomError(f"{field} must be between 0 and {MAX_ID}, got {value}", field=field)
    return value


def check_type(value: Any, *, field: str = "type", glob: bool = False) -> str:
    """Return ``value`` if it is a valid dotted type name (or glob pattern when ``glob``)."""
    if not isinstance(value, str):
        raise NomError(f"{field} must be a string, got {quote(value)}", field=field)
    pattern = _TYPE_GLOB_RE if glob else _TYPE_RE
    if len(value) > MAX_TYPE_LEN or not pattern.fullmatch(value):
        raise NomError(
            f"{field} must be a dotted name such as 'data.tweet-biden-harris' "
            f"(letters, digits, '_', '-', at most {MAX_TYPE_LEN} characters), got {quote(value)}",
            field=field,
        )
    return value


def is_type(value: str) -> bool:
    """True when ``value`` is a valid dotted type name."""
    return len(value) <= MAX_TYPE_LEN and _TYPE_RE.fullmatch(value) is not None


def check_object(obj: Any, *, where: str = "object") -> None:
    """Raise NomError unless ``obj`` is a dict with a valid ``id`` and ``type``."""
    if not isinstance(obj, dict):
        raise NomError(f"{where} must be a JSON object with id, type and data, got {type(obj).__name__}")
    for key in ("id", "type"):
        if key not in obj:
            raise NomError(f"{where} has no '{key}' field", field=key)
    check_id(obj["id"], field=f"{where}.id")
    check_type(obj["type"], field=f"{where}.type")


def type_matches(pattern: str, type_name: str) -> bool:
    """True when ``type_name`` equals ``pattern`` or matches it as a glob (``data.tweet-*``)."""
    if pattern == type_name:
        return True
    return any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(type_name, pattern)


def slug(text: str) -> str:
    """Lower-case ``text`` and join its words with '-' ("Biden Harris!" -> "biden-harris")."""
    words = re.findall(r"[^\W_]+", text.lower())
    return "-".join(words)[:120] or "all"


def tweet_type(search_terms: str) -> str:
    """The ``typeReturned`` of a tweet job: ``data.tweet-<slug of the search terms>``."""
    return f"data.tweet-{slug(search_terms)}"


def is_job_id(value: Any) -> bool:
    """True when ``value`` is a safe job id: ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}``, not dots only."""
    return isinstance(value, str) and bool(_JOB_ID_RE.fullmatch(value)) and ".." not in value


def check_job_id(value: Any, *, field: str = "jobId") -> str:
    """Return ``value`` if it is a safe job id, else raise NomError before anything touches the disk."""
    if not is_job_id(value):
        raise NomError(
            f"{field} must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit and without '..', got {quote(value, 80)}",
            field=field,
        )
    return value
