"""Standing reductions: applies whose toDate is ``now`` keep folding in every new object.

After the first, batch part of the apply (on an engine), a ``StandingReduction``
follows the job's files (nom.store.Follower) and folds each new file once, through
its engine's ``fold`` (dispatch.engines): on the local engine, here, from the cache
when the attachment already holds the file (a hit), else from the store. Its
accumulator and the follower's position are checkpointed together in one atomic
write (``NOM_ROOT/<jobId>/apply-<applyId>.json``), so a restarted Dispatch resumes
with every object counted exactly once.

Dispatch steps every standing reduction at least every 10 ms, so it polls the
job's index instead of watching the folder: at thousands of file events a
second, an inotify watch costs a Python callback per event (and overflows).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson

from dispatch.cache import Cache
from dispatch.engines import ApplySpec, Engine
from dispatch.functions import merge_into, new_accumulator, resolve_map, resolve_reduce
from dispatch.provenance import CHAIN_START, extend_chain
from dispatch.reading import fold_files
from nom.store import FileInfo, Follower, Store, atomic_write

__all__ = ["StandingReduction", "checkpoint_name"]


_SAVER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
STEP_SECONDS = 0.02  # the most a step folds in this process before it lets Dispatch's loop go on
FILES_PER_SLICE = 64


def checkpoint_name(apply_id: str) -> str:
    """The metadata record of a standing apply."""
    return f"apply-{apply_id}"


class StandingReduction:
    """Folds new files of one job into an accumulator, one step at a time."""

    def __init__(self, store: Store, spec: ApplySpec, cache: Cache | None, *, acc: dict[Any, Any] | None = None,
                 follower_state: dict[str, Any] | None = None, objects: int = 0, skipped: int = 0,
                 watch: bool = False, engine: Engine | None = None, micro_batch: float = 1.0,
                 chain: str = CHAIN_START) -> None:
        """Resume from ``acc`` and ``follower_state`` (a checkpoint, or the end of the batch part); ``engine``
        folds new files (None: here, as the local engine does)."""
        self.store = store
        self.spec = spec
        self.cache = cache
        self.mapper, self.reducer = resolve_map(spec.map, spec.specifier), resolve_reduce(spec.reduce)
        self.acc = new_accumulator(self.mapper, self.reducer)
        if acc:
            merge_into(self.acc, acc, self.reducer)
        self.follower = Follower(store, spec.job, state=follower_state, watch=watch)
        self.objects = objects
        self.skipped = skipped
        self.chain = chain  # the hash chain over every file folded so far (dispatch.provenance)
        self.updated = time.time()
        self.folded_files = 0
        self.engine = engine
        self.micro_batch = micro_batch
        self.pending: list[FileInfo] = []  # polled, not yet folded: no checkpoint until they are
        self.changed = False
        self.changed_since_checkpoint = False
        self.last_fold = 0.0
        self._saving: Future[None] | None = None
        self._lag: dict[str, Any] = {"files": 0, "objects": 0}
        self._lag_at = 0.0

    @staticmethod
    def consumed_state(files: list[FileInfo]) -> dict[str, Any]:
        """A follower position that counts ``files`` (the batch part) as consumed."""
        if not files:
            return {"watermark": 0, "recent": []}
        top = max(f.name for f in files)
        return {"watermark": top, "recent": [f.name for f in files]}

    def step(self, now: float | None = None) -> int:
        """Fold the files that arrived since the last step; returns the objects folded.

        On the local engine a step folds in this process, in name order, for at most ``STEP_SECONDS`` of
        work (the rest waits in the follower for the next step). With an engine that folds remotely
        (Spark), new files gather for ``micro_batch`` seconds and go as one micro-batch.
        ``now``: the loop's clock (time.monotonic() by default).
        """
        now = time.monotonic() if now is None else now
        if self._remote:
            self.pending += self._in_range(self.follower.poll(now=now))
            if not self.pending or now - self.last_fold < self.micro_batch:
                return 0
            folded, skipped = self._fold(self.pending)
            files, self.pending = len(self.pending), []
        else:
            # a slice of files at a time, for at most STEP_SECONDS: a reduction that has fallen behind catches
            # up over many steps, and Dispatch's loop (requests, other applies, the engine) goes on meanwhile.
            # The budget is of work done, so it is kept on the real clock, whatever ``now`` a caller gives.
            folded = skipped = files = 0
            deadline = time.monotonic() + STEP_SECONDS
            while True:
                polled = self.follower.poll(FILES_PER_SLICE, now=now)
                wanted = self._in_range(polled)
                if wanted:
                    more, dropped = self._fold(wanted)
                    folded, skipped, files = folded + more, skipped + dropped, files + len(wanted)
                if len(polled) < FILES_PER_SLICE or time.monotonic() >= deadline:
                    break
            if not files:
                return 0
        self.skipped += skipped
        self.folded_files += files
        self.changed_since_checkpoint = True
        self.objects += folded
        self.updated = time.time()
        self.changed = True
        self.last_fold = now
        return folded

    def is_behind(self) -> bool:
        """True when files are known that the last step had no time to fold (on an engine that folds here)."""
        return not self._remote and self.follower.waiting() > 0

    @property
    def _remote(self) -> bool:
        return self.engine is not None and self.engine.remote

    def _in_range(self, files: list[FileInfo]) -> list[FileInfo]:
        return [f for f in files if f.overlaps(self.spec.from_id, self.spec.to_id, self.spec.by)]

    def _fold(self, files: list[FileInfo]) -> tuple[int, int]:
        """Fold ``files`` into the accumulator through the engine (or here, without one): objects, skipped."""
        spec = self.spec
        files = self.store.with_hashes(spec.job, files)
        self.chain = extend_chain(self.chain, files)
        if self.engine is not None:
            return self.engine.fold(self.store, spec, files, self.acc, cache=self.cache)
        return fold_files(self.store, spec.job, files, spec.from_id, spec.to_id, self.mapper, self.reducer,
                          self.acc, skip_errors=spec.skip_errors, cache=self.cache, by=spec.by)

    def lag(self, now: float | None = None) -> dict[str, Any]:
        """How far behind the job's newest file the reduction is (worked out at most once a second)."""
        now = time.monotonic() if now is None else now
        if now - self._lag_at >= 1.0:
            files, objects = self.store.backlog(self.spec.job, self.follower.watermark)
            self._lag = {"files": files, "objects": objects}
            self._lag_at = now
        return self._lag

    def checkpoint(self, extra: dict[str, Any], *, wait: bool = False) -> None:
        """Write the accumulator and the position together, atomically.

        The snapshot is taken here, in the loop; the write (and its fsync) happens on a thread of its own
        so that folding does not stall on the disk. A snapshot is skipped while the previous one is still
        being written (the next one supersedes it); ``wait`` writes and waits (at shutdown).
        """
        if self.pending:
            return  # the follower counts these files as consumed, the accumulator does not hold them yet
        if self._saving is not None and not self._saving.done():
            if not wait:
                return
            self._saving.result()
        record = {**extra, "phase": "standing", "follower": self.follower.state(), "objects": self.objects,
                  "skipped": self.skipped, "updated": self.updated, "chain": self.chain,
                  "acc": list(self.acc.items())}
        raw = orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_INDENT_2)
        path = self.store.job_dir(self.spec.job) / f"{checkpoint_name(self.spec.apply_id)}.json"
        self._saving = _SAVER.submit(atomic_write, path, raw)
        self.changed_since_checkpoint = False
        if wait:
            self._saving.result()

    def close(self) -> None:
        """Stop following (after the last checkpoint write, if one is in flight)."""
        if self._saving is not None:
            self._saving.result()
        self.follower.close()
