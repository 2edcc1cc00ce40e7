"""The exceptions of the nom package."""

from __future__ import annotations

__all__ = ["NomError", "StoreError", "CorruptFile"]


class NomError(ValueError):
    """Bad NOM input; ``field`` names the field to blame where there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StoreError(OSError):
    """A store operation that could not be done (bad job, disk full, ...)."""


class CorruptFile(NomError):
    """A store file that cannot be read as a JSON array of NOM objects."""
