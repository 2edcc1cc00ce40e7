"""An apply as Dispatch tracks it: its spec, state, progress, result and where its results go."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from dispatch.engines import ApplySpec, Run
from dispatch.functions import finish, parse_specifier
from dispatch.standing import StandingReduction

__all__ = ["Apply", "ApplyState"]


class ApplyState(str, Enum):
    """Where an apply is in its life."""

    RUNNING = "running"  # the batch part is on an engine
    STANDING = "standing"  # folding new objects as they arrive
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class Apply:
    """One apply."""

    spec: ApplySpec
    standing: bool
    engine: str
    state: ApplyState = ApplyState.RUNNING
    run: Run | None = None
    reduction: StandingReduction | None = None
    result: list[list[Any]] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    files: int = 0
    total: int = 0
    last_emit: float = 0.0
    emitted: int = 0
    pending_follower: dict[str, Any] | None = None  # a standing apply's position once its batch part is done
    at: str | None = None  # the snapshot it reduces (apply ... --at), else the files listed when it starts
    store: bool = True  # store its results (apply --no-store: shown, never stored)
    provenance: dict[str, Any] | None = None  # what it read and ran with (dispatch.provenance)
    verifies: str | None = None  # the apply this one re-runs (verifyApply), and that one's provenance
    verifies_provenance: dict[str, Any] | None = None
    verification: dict[str, Any] | None = None  # once done: identical or how it differs

    def current(self, top: int | None = None) -> list[list[Any]]:
        """The result as it stands (its ``top`` entries): the final one, or the standing reduction's now."""
        if self.reduction is not None:
            found = finish(self.reduction.acc, self.reduction.reducer, top, self.keep())
            return found if isinstance(found, list) else found[:]  # an index's pairs, made as they are sliced
        if self.result is not None:
            # a slice even for all of it: an index's result (IndexResult) becomes its pairs only when sliced
            return self.result[:top] if top else self.result[:]
        return []

    def view(self) -> Sequence[list[Any]]:
        """The whole result as it stands, lazily where it can be: an index's pairs are made only when read (to
        store an index or hash it without a Python object per posting)."""
        if self.reduction is not None:
            return finish(self.reduction.acc, self.reduction.reducer, None, self.keep())
        return self.result if self.result is not None else []

    def keep(self) -> Callable[[Any], bool] | None:
        """The specifier's test of a key, for a reduce whose map cannot filter (an index), or None."""
        return parse_specifier(self.spec.specifier).matches if self.spec.specifier is not None else None

    def keys(self) -> int:
        """How many keys the result has."""
        if self.reduction is not None:
            if self.spec.specifier is not None and self.reduction.reducer.accumulator is not None:
                return len(self.current())  # an index filtered as it is read
            limit = self.reduction.reducer.limit
            return min(len(self.reduction.acc), limit) if limit else len(self.reduction.acc)
        return len(self.result or [])

    def objects(self) -> int:
        """Objects folded so far."""
        if self.reduction is not None:
            return self.reduction.objects
        return self.run.objects if self.run is not None else 0

    def describe(self) -> dict[str, Any]:
        """What ``listApplies`` and ``status`` say about it (without the result)."""
        spec = self.spec
        info: dict[str, Any] = {
            "applyId": spec.apply_id, "job": spec.job, "map": spec.map, "reduce": spec.reduce,
            "from": spec.from_id, "to": "now" if self.standing else spec.to_id, "by": spec.by,
            "standing": self.standing,
            "engine": self.engine, "state": self.state.value, "objects": self.objects(), "files": self.files,
            "total": self.total, "lastError": self.error, "created": self.created,
        }
        if spec.specifier is not None:
            info["specifier"] = spec.specifier  # what the result is filtered by
        if self.provenance is not None:
            info["provenance"] = self.provenance
            if self.reduction is not None:  # a standing one: its chain and count as of now
                info["provenance"] = {**self.provenance, "objects": self.reduction.objects,
                                      "inputs": {**self.provenance["inputs"], "chain": self.reduction.chain}}
        if self.verifies is not None:
            info["verifies"] = self.verifies
            info["verification"] = self.verification
        if self.run is not None:
            info["progress"] = self.run.progress()
        if self.reduction is not None:
            info.update(position=self.reduction.follower.watermark, lastUpdate=self.reduction.updated,
                        lag=self.reduction.lag(), skipped=self.reduction.skipped)
        return info
