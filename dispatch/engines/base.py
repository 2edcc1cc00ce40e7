"""What an engine is: ``Engine`` runs an apply (``ApplySpec``) over a list of store files as a ``Run``.

Engines: dispatch.engines.local (worker processes on this machine, the default) and
dispatch.engines.spark (Apache Spark). Every engine reads and folds files the one way
dispatch.reading does, with the functions of dispatch.functions.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from dispatch.cache import Cache
from dispatch.functions import ReduceFn, resolve_map, resolve_reduce
from dispatch.reading import fold_files
from nom.store import FileInfo, JobFolders

__all__ = ["ApplySpec", "Engine", "Run"]


@dataclass(frozen=True)
class ApplySpec:
    """What to compute: functions, job, id range, error policy."""

    apply_id: str
    job: str
    map: str
    reduce: str
    from_id: int | None = None
    to_id: int | None = None
    skip_errors: bool = False
    by: str = "collected"  # the clock the range is of: "collected" (ids) or "written" (nom.written)
    specifier: str | None = None  # keep only the keys it matches (dispatch.functions.specifier)


@dataclass
class Run:
    """One apply on an engine: its progress and, once ``done``, its accumulator or error."""

    spec: ApplySpec
    reducer: ReduceFn
    total_objects: int
    acc: dict[Any, Any]
    objects: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    error: str | None = None
    done: bool = False
    # engine bookkeeping
    pending: deque[int] = field(default_factory=deque)
    chunks: dict[int, list[list[int]]] = field(default_factory=dict)
    chunk_objects: dict[int, int] = field(default_factory=dict)
    owner: dict[int, bytes] = field(default_factory=dict)
    completed: set[int] = field(default_factory=set)
    merged: set[int] = field(default_factory=set)  # chunks whose worker's result is in acc
    awaiting: set[bytes] = field(default_factory=set)

    def progress(self) -> dict[str, Any]:
        """Objects done of total, and the rate so far."""
        elapsed = (self.finished or time.monotonic()) - self.started
        return {"objects": self.objects, "total": self.total_objects, "skipped": self.skipped,
                "rate": round(self.objects / elapsed) if elapsed > 0 else 0, "seconds": round(elapsed, 3)}


class Engine(ABC):
    """What every engine offers Dispatch: a batch apply as a ``Run`` stepped to its end, and ``fold``, a
    synchronous fold of a few files (a standing reduction's step)."""

    name = "engine"
    remote = False  # fold() runs elsewhere (Spark): a standing reduction gathers new files into micro-batches

    @abstractmethod
    def start(self, spec: ApplySpec, files: list[FileInfo]) -> Run:
        """Begin an apply over ``files``; the run advances in ``step``."""

    @abstractmethod
    def step(self, max_wait: float = 0.05, now: float | None = None) -> None:
        """Move every run forward, waiting at most ``max_wait`` seconds (``now``: the loop's clock)."""

    def fold(self, store: JobFolders, spec: ApplySpec, files: list[FileInfo], acc: dict[Any, Any], *,
             cache: Cache | None = None) -> tuple[int, int]:
        """Fold ``files`` (clipped to the spec's range) into ``acc`` now; returns the objects folded and skipped.

        This base folds in this process, reading cached files first (dispatch.reading); an engine that runs
        elsewhere overrides it."""
        return fold_files(store, spec.job, files, spec.from_id, spec.to_id, resolve_map(spec.map, spec.specifier),
                          resolve_reduce(spec.reduce), acc, skip_errors=spec.skip_errors, cache=cache, by=spec.by)

    def cancel(self, apply_id: str) -> None:
        """Stop a run."""

    def forget(self, apply_id: str) -> None:
        """Drop a finished run's bookkeeping."""

    def close(self) -> None:
        """Release workers and sessions."""
