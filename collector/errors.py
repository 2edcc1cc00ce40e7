"""The exceptions of the collector package (the rest it raises are nom's: NomError, ProtocolError, StoreError)."""

from __future__ import annotations

from nom import FieldError

__all__ = ["SourceError"]


class SourceError(FieldError):
    """A source that cannot be set up or cannot go on; ``field`` names the request field to blame."""

    def __init__(self, message: str, *, field: str | None = "source") -> None:
        super().__init__(message, field=field)
