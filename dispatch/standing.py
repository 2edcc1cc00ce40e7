"""Standing reductions: applies whose toDate is ``now`` keep folding in every new object.

After the first, batch part of the apply (on an engine), a ``StandingReduction``
follows the job's files (nom.watch.Follower) and folds each new file once,
from the cache when the attachment already holds it (a hit), else from the
store. Its accumulator and the follower's position are checkpointed together
in one atomic write (``NOM_ROOT/<jobId>/apply-<applyId>.json``), so a restarted
Dispatch resumes with every object counted exactly once.

Dispatch steps every standing reduction at least every 10 ms, so it polls the
job's index instead of watching the folder: at thousands of file events a
second, an inotify watch costs a Python callback per event (and overflows).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson

from dispatch.attach import Cache
from dispatch.engine import ApplySpec
from dispatch.functions import fold_objects, merge_into, new_accumulator, resolve_map, resolve_reduce
from nom import Store
from nom.durable import atomic_write
from nom.index import FileInfo
from nom.watch import Follower

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
                 watch: bool = False, engine: Any = None, micro_batch: float = 1.0) -> None:
        self.store = store
        self.spec = spec
        self.cache = cache
        self.mapper, self.reducer = resolve_map(spec.map), resolve_reduce(spec.reduce)
        self.acc = new_accumulator(self.mapper, self.reducer)
        if acc:
            merge_into(self.acc, acc, self.reducer)
        self.follower = Follower(store, spec.job, state=follower_state, watch=watch)
        self.objects = objects
        self.skipped = skipped
        self.updated = time.time()
        self.folded_files = 0
        self.engine = engine  # one with fold(spec, files) -> (acc, objects) folds micro-batches remotely
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

    def step(self) -> int:
        """Fold the files that arrived since the last step; returns the objects folded.

        On the local engine a step folds in this process, in name order, for at most ``STEP_SECONDS``
        (the rest waits in the follower for the next step). With an engine that folds remotely (Spark),
        new files gather for ``micro_batch`` seconds and go as one micro-batch.
        """
        if self.engine is not None:
            self.pending += self._in_range(self.follower.poll())
            if not self.pending or time.monotonic() - self.last_fold < self.micro_batch:
                return 0
            acc, folded = self.engine.fold(self.spec, self.pending)
            merge_into(self.acc, acc.items(), self.reducer)
            self.folded_files += len(self.pending)
            self.pending = []
        else:
            # a slice of files at a time, for at most STEP_SECONDS: a reduction that has fallen behind catches
            # up over many steps, and Dispatch's loop (requests, other applies, the engine) goes on meanwhile
            folded = files = 0
            deadline = time.monotonic() + STEP_SECONDS
            while True:
                polled = self.follower.poll(FILES_PER_SLICE)
                for info in self._in_range(polled):
                    folded += self._fold_file(info)
                    files += 1
                if len(polled) < FILES_PER_SLICE or time.monotonic() >= deadline:
                    break
            if not files:
                return 0
            self.folded_files += files
        self.changed_since_checkpoint = True
        self.objects += folded
        self.updated = time.time()
        self.changed = True
        self.last_fold = time.monotonic()
        return folded

    def is_behind(self) -> bool:
        """True when files are known that the last step had no time to fold."""
        return self.engine is None and self.follower.waiting() > 0

    def _in_range(self, files: list[FileInfo]) -> list[FileInfo]:
        lo, hi = self.spec.from_id, self.spec.to_id
        return [f for f in files if not ((lo is not None and f.max_id < lo) or (hi is not None and f.min_id > hi))]

    def _fold_file(self, info: FileInfo) -> int:
        """Fold one file (from the cache when it holds it); returns the objects folded."""
        objs = self.cache.get(self.spec.job, info.name) if self.cache is not None else None
        if objs is None:
            objs = self.store.read_file(self.spec.job, info)
        objs = info.clip(objs, self.spec.from_id, self.spec.to_id)
        self.skipped += fold_objects(objs, self.mapper, self.reducer, self.acc, skip_errors=self.spec.skip_errors)
        return len(objs)

    def lag(self) -> dict[str, Any]:
        """How far behind the job's newest file the reduction is (worked out at most once a second)."""
        now = time.monotonic()
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
                  "skipped": self.skipped, "updated": self.updated, "acc": list(self.acc.items())}
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
