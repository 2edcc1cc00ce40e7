"""What every Nectar socket shares: JSON control requests and error replies, and published batches.

Control requests are JSON objects with an ``action``; errors are replied as
``{"error": ..., "field": ...}`` (see each service's protocol module for its actions, and
nom.net.service for the skeleton that serves them).

A batch is three frames: ``[jobId, header, body]``. The header is a JSON
object ``{"epoch", "seq", "count", "first_id", "last_id", "file"}``: the objects
of the batch are numbered ``seq .. seq + count - 1`` within the job; the body
is the JSON array of the objects. A subscriber that sees ``seq`` jump knows
how many objects it missed, and that their ids lie between the last id it has
and ``first_id``, so it reads them from the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from nom.errors import QUOTE_LIMIT, NomError, ProtocolError, quote, shorten

__all__ = ["decode_batch", "decode_request", "encode_batch", "error_reply"]


def error_reply(message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON error reply: the message a person can act on, and the request field to blame."""
    message = shorten(message)  # whatever a handler quoted (a field's name too may be a client's), a reply stays small
    return {"error": message, "field": shorten(field, QUOTE_LIMIT)} if field else {"error": message}


def decode_request(raw: bytes, actions: Iterable[str]) -> tuple[str, dict[str, Any]]:
    """Parse a control request; return its action (one of ``actions``) and the request object."""
    try:
        request = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"request is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise ProtocolError(f"request must be a JSON object, got {type(request).__name__}")
    action, names = request.get("action"), tuple(actions)  # a tuple: an unhashable action is just not one of them
    if action not in names:
        raise ProtocolError(f"action must be one of {', '.join(names)}, got {quote(action)}", field="action")
    return action, request


def encode_batch(job: str, header: dict[str, Any], body: bytes) -> list[bytes]:
    """The frames of one published batch (``body`` is the already-encoded JSON array)."""
    return [job.encode(), orjson.dumps(header), body]


def decode_batch(frames: list[bytes]) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """Job, header and objects of a published batch; NomError when it is malformed."""
    if len(frames) != 3:
        raise NomError(f"a published batch has 3 frames, got {len(frames)}")
    try:
        job, header, objects = frames[0].decode(), orjson.loads(frames[1]), orjson.loads(frames[2])
    except (UnicodeDecodeError, orjson.JSONDecodeError) as exc:
        raise NomError(f"malformed published batch: {exc}") from None
    if not isinstance(header, dict) or not isinstance(objects, list):
        raise NomError("malformed published batch: the header must be an object and the body an array")
    for name in _HEADER_INTEGERS:  # a subscriber computes with these: anything else must not reach it
        value = header.get(name)
        if (value is not None or name in ("seq", "count")) and (type(value) is not int or value < 0):
            raise NomError(f"malformed published batch: header field {name!r} must be a whole number >= 0, got "
                           f"{repr(value)[:60]}")
    return job, header, objects


_HEADER_INTEGERS = ("seq", "count", "first_id", "last_id", "file")
