"""The local engine: ``LocalEngine`` runs an apply on worker processes of this machine.

Socket: ROUTER, bound at ``tcp://127.0.0.1:<random>``; each worker (dispatch.engines.worker)
connects a DEALER. Chunks of files go to workers as they have room (at most
``CREDIT`` chunks outstanding each), so a fast worker takes more; each worker
combines all its chunks of an apply into one accumulator and sends it back
when asked. A worker that stops sending heartbeats for ``DEAD_AFTER`` seconds,
or whose process exits, is replaced, and every chunk it had folded for a
running apply is folded again by the others from the chunk's start: the
result is unchanged. A standing reduction's ``fold`` runs in Dispatch's own process (Engine.fold): a
micro-batch of new files is too small to be worth a round trip to the workers.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import orjson
import zmq

from dispatch.engines.base import ApplySpec, Engine, Run
from dispatch.functions import merge_into, new_accumulator, resolve_map, resolve_reduce
from nom.store import FileInfo

__all__ = ["CREDIT", "DEAD_AFTER", "LocalEngine"]

CREDIT = 2
DEAD_AFTER = 3.0
TARGET_CHUNKS_PER_WORKER = 8


@dataclass
class _Worker:
    identity: bytes
    proc: subprocess.Popen[bytes] | None
    last_seen: float
    outstanding: int = 0
    pid: int | None = None


class LocalEngine(Engine):
    """Worker processes on this machine, reading the store directly."""

    name = "local"

    def __init__(self, nom_root: str, workers: int, *, ctx: zmq.Context | None = None,
                 start_workers: bool = True) -> None:
        """Bind the engine's socket and start ``workers`` worker processes (unless ``start_workers`` is off)."""
        self.nom_root = str(nom_root)
        self.size = max(1, workers)
        self.ctx = ctx or zmq.Context.instance()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.ROUTER_HANDOVER, 1)
        port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.token = secrets.token_hex(8)  # only workers started by this engine carry it
        self.workers: dict[bytes, _Worker] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.runs: dict[str, Run] = {}
        self.replaced = 0  # worker processes that exited and were started again
        self.lost = 0  # workers dropped for silence (their chunks folded again elsewhere)
        if start_workers:
            for _ in range(self.size):
                self._spawn()

    def _spawn(self) -> None:
        proc = subprocess.Popen([sys.executable, "-P", "-m", "dispatch.engines.worker", "--connect", self.endpoint,
                                 "--nom-root", self.nom_root, "--token", self.token, "--parent", str(os.getpid())])
        self.procs.append(proc)

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Step until every worker has said ready."""
        deadline = time.monotonic() + timeout
        while len(self.workers) < self.size and time.monotonic() < deadline:
            self.step(0.05)
        return len(self.workers) >= self.size

    def start(self, spec: ApplySpec, files: list[FileInfo]) -> Run:
        """Split the files into chunks and queue them."""
        mapper, reducer = resolve_map(spec.map, spec.specifier), resolve_reduce(spec.reduce)
        run = Run(spec, reducer, sum(f.objects for f in files), new_accumulator(mapper, reducer))
        per_chunk = max(1, -(-len(files) // (self.size * TARGET_CHUNKS_PER_WORKER)))
        per_chunk = min(per_chunk, 400)
        for n, start in enumerate(range(0, len(files), per_chunk)):
            part = files[start:start + per_chunk]
            run.chunks[n] = [list(f.fields()) for f in part]
            run.chunk_objects[n] = sum(f.objects for f in part)
            run.pending.append(n)
        self.runs[spec.apply_id] = run
        if not files:
            run.done, run.finished = True, time.monotonic()
        return run

    def step(self, max_wait: float = 0.05, now: float | None = None) -> None:
        """Dispatch chunks, take replies, notice dead workers (``now``: the loop's clock, time.monotonic() after
        the wait when None)."""
        self._dispatch()
        polled = self.router.poll(int(max_wait * 1000))
        now = time.monotonic() if now is None else now
        if polled:
            for _ in range(1000):
                try:
                    identity, raw, *frames = self.router.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                except ValueError:
                    continue  # not two frames or more: not one of ours
                try:
                    self._on_message(identity, raw, now, frames)
                except (KeyError, TypeError, ValueError):
                    continue  # a message without the fields its op needs: ignored, like any stranger's
        self._check_liveness(now)
        self._dispatch()

    def _send(self, identity: bytes, message: dict[str, Any]) -> None:
        self.router.send_multipart([identity, orjson.dumps(message)])

    def _dispatch(self) -> None:
        for run in self.runs.values():
            if run.done or run.error:
                continue
            while run.pending:
                worker = min(self.workers.values(), key=lambda w: w.outstanding, default=None)
                if worker is None or worker.outstanding >= CREDIT:
                    return
                chunk = run.pending.pop() if self._from_the_end(run, worker) else run.pending.popleft()
                spec = run.spec
                self._send(worker.identity, {"op": "chunk", "apply": spec.apply_id, "chunk": chunk, "job": spec.job,
                                             "map": spec.map, "specifier": spec.specifier, "reduce": spec.reduce,
                                             "from": spec.from_id, "to": spec.to_id, "skip": spec.skip_errors,
                                             "by": spec.by,
                                             "files": run.chunks[chunk]})
                run.owner[chunk] = worker.identity
                worker.outstanding += 1

    def _from_the_end(self, run: Run, worker: _Worker) -> bool:
        """Whether ``worker`` takes ``run``'s chunks from the end of the queue: one worker does for an index, so
        that two workers fold a run of ids each (chunks are in id order) and Dispatch joins their indexes without
        a search (dispatch.functions.index_forms._concat_forms); other reduces take them in order."""
        return run.reducer.accumulator is not None and len(self.workers) > 1 and worker.identity == max(self.workers)

    def _on_message(self, identity: bytes, raw: bytes, now: float, frames: list[bytes] | None = None) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        if not isinstance(message, dict) or message.get("engine") != self.token:
            return  # not one of ours (an orphan of an engine that used this port before)
        worker = self.workers.get(identity)
        if worker is None:
            worker = self.workers[identity] = _Worker(identity, None, now)
        worker.last_seen = now
        if isinstance(message.get("pid"), int):  # "ready" and every beat: a worker dropped and back is known again
            worker.pid = message["pid"]
        op, run = message.get("op"), self.runs.get(str(message.get("apply", "")))
        if op in ("done", "error"):
            worker.outstanding = max(0, worker.outstanding - 1)
        if run is None or run.done or run.error:
            return
        chunk = message.get("chunk")
        if op == "done" and run.owner.get(chunk) == identity and chunk not in run.completed:
            run.completed.add(chunk)
            run.objects += message["objects"]
            run.skipped += message["skipped"]
            if len(run.completed) == len(run.chunks):
                run.awaiting = {run.owner[c] for c in run.completed if c not in run.merged}
                for owner in run.awaiting:
                    self._send(owner, {"op": "collect", "apply": run.spec.apply_id})
        elif op == "result" and identity in run.awaiting:
            merge_into(run.acc, message["pairs"], run.reducer, frames)
            run.merged.update(c for c in run.completed if run.owner.get(c) == identity)
            run.awaiting.discard(identity)
            if not run.awaiting:
                run.done, run.finished = True, now
        elif op == "error" and run.owner.get(chunk) == identity:
            run.error, run.finished = message["message"], now
            self._drop(run)

    def _check_liveness(self, now: float) -> None:
        for identity, worker in list(self.workers.items()):
            if now - worker.last_seen > DEAD_AFTER:
                self.lost += 1
                self._lose(identity)
        for proc in list(self.procs):
            if proc.poll() is not None:  # it died: no need to wait for its heartbeats to stop
                self.procs.remove(proc)
                for identity, worker in list(self.workers.items()):
                    if worker.pid == proc.pid:
                        self._lose(identity)
                self._spawn()
                self.replaced += 1

    def _lose(self, identity: bytes) -> None:
        """A worker is gone: every chunk it folded for a running apply, not yet merged, is folded again elsewhere."""
        del self.workers[identity]
        for run in self.runs.values():
            if run.done or run.error:
                continue
            self._send(identity, {"op": "drop", "apply": run.spec.apply_id})  # in case it was only stalled
            lost = sorted(c for c, owner in run.owner.items() if owner == identity and c not in run.merged)
            for chunk in lost:
                del run.owner[chunk]
                if chunk in run.completed:
                    run.completed.discard(chunk)
                    run.objects -= run.chunk_objects[chunk]
                if chunk not in run.pending:
                    run.pending.appendleft(chunk)
            run.awaiting.discard(identity)

    def _drop(self, run: Run) -> None:
        for owner in set(run.owner.values()):
            if owner in self.workers:
                self._send(owner, {"op": "drop", "apply": run.spec.apply_id})

    def cancel(self, apply_id: str) -> None:
        """Forget a run and tell its workers to drop their accumulators."""
        run = self.runs.pop(apply_id, None)
        if run is not None:
            self._drop(run)

    def forget(self, apply_id: str) -> None:
        """Drop a finished run's bookkeeping."""
        self.runs.pop(apply_id, None)

    def close(self) -> None:
        """Stop the workers and close the socket."""
        for identity in list(self.workers):
            self._send(identity, {"op": "exit"})
        deadline = time.monotonic() + 3
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        self.router.close(linger=0)
