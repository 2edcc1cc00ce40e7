"""The exceptions of the nom package (the object model, the store and the socket layer), in one place, and how
an error message quotes a value it was given.

``FieldError`` is the root of every error a person can act on by fixing what they sent: the services
answer it as ``{"error": message, "field": field}`` (nom.net.service), whichever package raised it. The
other packages' errors that name a field (a source, a date, a function, an engine) derive from it too,
without being errors of the object model.

A message quotes what a client sent, which may be megabytes: ``quote`` gives a bounded prefix of a value,
``shorten`` bounds a whole message, ``failure`` an unexpected exception for a log line.
"""

from __future__ import annotations

import reprlib
import traceback
from typing import Any

__all__ = [
    "MESSAGE_LIMIT", "QUOTE_LIMIT", "CorruptFile", "FieldError", "InsecureBinding", "NomError", "NotRegular",
    "ProtocolError", "StoreError", "failure", "quote", "shorten",
]

QUOTE_LIMIT = 200  # characters of a value an error message quotes
MESSAGE_LIMIT = 2000  # characters of a whole error message (a reply, a log line)

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset = 2, 4, 4, 4, 4
_REPR.maxstring = _REPR.maxother = QUOTE_LIMIT
_REPR.maxlong = 40


class FieldError(ValueError):
    """Input a person can fix; ``field`` names the request or input field to blame where there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NomError(FieldError):
    """Bad NOM input: an object, an id, a type name, a job id, an array."""


class CorruptFile(NomError):
    """A store file that cannot be read as a JSON array of NOM objects."""


class NotRegular(CorruptFile):
    """A path in the store that is a symbolic link, a FIFO, a device, a socket or a folder where a file
    belongs (or a file where a folder belongs): never followed, opened for reading or written through."""


class ProtocolError(FieldError):
    """A request or message that cannot be served (either service's); ``field`` names the part to blame."""


class StoreError(OSError):
    """A store operation that could not be done (bad job, disk full, ...)."""


class InsecureBinding(ValueError):
    """A non-loopback endpoint without CURVE keys and without --insecure."""


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for an error message: a prefix of at most about ``limit`` characters, saying how long the
    whole was."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value):,} characters)"
    if isinstance(value, (bytes, bytearray)) and len(value) > limit:
        return f"{bytes(value[:limit])!r}... ({len(value):,} bytes)"
    try:
        text = _REPR.repr(value)
    except ValueError:  # an int too long to convert to decimal
        return f"<an integer of {value.bit_length():,} bits>" if isinstance(value, int) else f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[:limit]}... (cut)"


def shorten(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """``message`` cut to ``limit`` characters: the last bound on what an error reply or a log line holds."""
    return message if len(message) <= limit else f"{message[:limit]}... ({len(message):,} characters)"


def failure(exc: BaseException) -> str:
    """An unexpected exception for a log line: its type and bounded message, then the frames it was raised
    through (a full traceback would repeat the message, which may quote a client's megabytes)."""
    frames = "".join(traceback.format_tb(exc.__traceback__)).rstrip()
    return f"{shorten(f'{type(exc).__name__}: {exc}')}\nTraceback (most recent call last):\n{frames}"
