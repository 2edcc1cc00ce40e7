"""What every source gives the collector: items, a position to resume from, and its state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Item", "Source", "SourceError"]


class SourceError(ValueError):
    """A source that cannot be set up or cannot go on; ``field`` names the request field to blame."""

    def __init__(self, message: str, *, field: str | None = "source") -> None:
        super().__init__(message)
        self.field = field


@dataclass(slots=True)
class Item:
    """One tweet from a source: its dedup key, its data, and the source position just after it."""

    key: str
    data: dict[str, Any]
    pos: Any


@dataclass
class Source:
    """Base of the sources: ``read`` never blocks; ``done`` when nothing more will come."""

    kind: str = "none"
    rate: float | None = None  # objects per second; None: as fast as the collector takes them
    done: bool = False
    error: str | None = None  # set when the source cannot go on (the job fails with it)
    note: str = ""
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0  # input records that held no tweet

    def read(self, limit: int) -> list[Item]:
        """Up to ``limit`` items that are ready now."""
        raise NotImplementedError  # pragma: no cover - every source overrides it

    def close(self) -> None:
        """Release threads and files."""
