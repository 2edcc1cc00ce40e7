"""A local-engine worker process: folds chunks of store files and returns its combined result.

Socket: DEALER, connects to the engine's ROUTER (``--connect``). Messages are
one JSON frame each (see dispatch.engines.local for the engine's side)::

    (every worker message also carries "engine": the token its engine gave it, so that an orphaned
    worker whose DEALER reconnects to a new engine on the same port is never taken for one of its own)
    worker -> engine  {"op": "ready"}                          once, at start
                      {"op": "beat", "pid"}                    every HEARTBEAT seconds, busy or not
                      {"op": "done", "apply", "chunk", "objects", "skipped"}
                      {"op": "result", "apply", "pairs": [[key, acc], ...]}  (then binary frames an index's
                                                               pairs name: dispatch.functions.index.encode)
                      {"op": "error", "apply", "chunk", "message"}
    engine -> worker  {"op": "chunk", "apply", "chunk", "job", "map", "specifier", "reduce", "from", "to", "skip",
                       "files": [...]}
                      {"op": "collect", "apply"}               send the combined result, forget it
                      {"op": "drop", "apply"}                  forget it (cancelled)

Per-worker combining: every chunk of an apply folds into the worker's one
accumulator, so only one result per worker crosses the socket. Files are read and
folded the one way Dispatch reads them (dispatch.reading).

Liveness does not depend on the size of the work: while the worker handles a
message, a thread of its own sends the heartbeats (the socket is shared under a
lock, and touched by that thread only while the main thread is busy), and a
large file is parsed in runs of about ``PIECE_BYTES`` (dispatch.reading), because
orjson holds the interpreter lock for a whole parse (a 500 MB file: seconds
without a beat).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any

import orjson
import zmq

from dispatch.functions import FoldError, FunctionError, MapFn, ReduceFn, new_accumulator, resolve_map, resolve_reduce
from dispatch.reading import fold_files
from nom import FileInfo, Store

__all__ = ["HEARTBEAT", "PIECE_BYTES", "Worker", "main"]

HEARTBEAT = 1.0
PIECE_BYTES = 4 * 2**20  # a file larger than twice this is parsed and folded in pieces of about this size


class Worker:
    """Folds chunks; one step per ``step`` call."""

    def __init__(self, endpoint: str, nom_root: str, ctx: zmq.Context | None = None, token: str = "") -> None:
        """Connect to the engine at ``endpoint``, start the heartbeat thread and say ready."""
        self.token = token  # names the engine that started us: a new engine on a reused port ignores us
        self.store = Store(nom_root)
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.accs: dict[str, tuple[MapFn, ReduceFn, dict[Any, Any]]] = {}
        self.last_beat = 0.0
        self._lock = threading.Lock()  # held for every use of the socket from either thread
        self._busy = False  # the main thread is handling a message (not polling): the beat thread may send
        self._closed = threading.Event()
        self._beater = threading.Thread(target=self._beat_while_busy, name="heartbeat", daemon=True)
        self._beater.start()
        self.send({"op": "ready", "pid": os.getpid()})

    def send(self, message: dict[str, Any], frames: list[Any] | None = None) -> None:
        """One JSON frame to the engine (then the binary ``frames`` it names, sent without a copy)."""
        message["engine"] = self.token
        raw = orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS)
        with self._lock:
            if frames:
                self.sock.send_multipart([raw, *frames], copy=False)
            else:
                self.sock.send(raw)

    def _beat(self) -> None:
        """A heartbeat (with our pid, so that an engine that dropped us knows us again); the lock is held."""
        self.sock.send(orjson.dumps({"op": "beat", "pid": os.getpid(), "engine": self.token}))
        self.last_beat = time.monotonic()

    def _beat_while_busy(self) -> None:
        while not self._closed.wait(HEARTBEAT / 4):
            with self._lock:
                if self._busy and time.monotonic() - self.last_beat >= HEARTBEAT:
                    self._beat()

    def close(self) -> None:
        """Stop the heartbeat thread and close the socket."""
        self._closed.set()
        self._beater.join(timeout=5)
        self.sock.close(linger=0)

    def step(self, now: float | None = None, wait: float = HEARTBEAT) -> bool:
        """Handle one message (or send a heartbeat); False when the engine asked us to exit.
        ``now``: the loop's clock (time.monotonic() by default)."""
        now = time.monotonic() if now is None else now
        if now - self.last_beat >= HEARTBEAT:
            with self._lock:
                self._beat()
        if not self.sock.poll(int(wait * 1000)):
            return True
        message = orjson.loads(self.sock.recv())
        with self._lock:
            self._busy = True
        try:
            return self._handle(message)
        finally:
            with self._lock:
                self._busy = False

    def _handle(self, message: dict[str, Any]) -> bool:
        """One message from the engine; False for exit."""
        op = message.get("op")
        if op == "chunk":
            self.fold_chunk(message)
        elif op == "collect":
            _, reducer, acc = self.accs.pop(message["apply"], (None, None, {}))
            frames: list[Any] = []  # an index's arrays go as binary frames: no base64 either side
            pairs = acc.items(frames) if reducer is not None and reducer.accumulator is not None else acc.items()
            self.send({"op": "result", "apply": message["apply"], "pairs": list(pairs)}, frames)
        elif op == "drop":
            self.accs.pop(message["apply"], None)
        elif op == "exit":
            return False
        return True

    def fold_chunk(self, task: dict[str, Any]) -> None:
        """Fold every object of the chunk's files that falls in the range into this apply's accumulator."""
        apply_id = task["apply"]
        try:
            if apply_id not in self.accs:
                mapper, reducer = resolve_map(task["map"], task.get("specifier")), resolve_reduce(task["reduce"])
                self.accs[apply_id] = (mapper, reducer, new_accumulator(mapper, reducer))
            mapper, reducer, acc = self.accs[apply_id]
            files = [FileInfo(*fields) for fields in task["files"]]
            objects, skipped = fold_files(self.store, task["job"], files, task["from"], task["to"], mapper, reducer,
                                          acc, skip_errors=task.get("skip", False), piece_bytes=PIECE_BYTES,
                                          by=task.get("by", "collected"))
            self.send({"op": "done", "apply": apply_id, "chunk": task["chunk"], "objects": objects,
                       "skipped": skipped})
        except (FoldError, FunctionError) as exc:
            self.accs.pop(apply_id, None)
            self.send({"op": "error", "apply": apply_id, "chunk": task["chunk"], "message": str(exc)})


def main(argv: list[str] | None = None) -> int:
    """Run a worker until the engine says exit or the parent process is gone."""
    parser = argparse.ArgumentParser(prog="python -m dispatch.engines.worker")
    parser.add_argument("--connect", required=True)
    parser.add_argument("--nom-root", required=True)
    parser.add_argument("--token", default="", help="the engine's token, sent with every message")
    parser.add_argument("--parent", type=int, default=None,
                        help="pid of the process that started us (default: our parent now); we exit when it is gone")
    args = parser.parse_args(argv)
    # the pid comes from the engine: a Dispatch that dies while we are still starting must not be
    # mistaken for init (we would then wait for a parent change that already happened)
    parent = args.parent or os.getppid()
    if os.getppid() != parent:
        return 0
    worker = Worker(args.connect, args.nom_root, token=args.token)
    while worker.step():
        if os.getppid() != parent:  # orphaned: the dispatcher died
            break
    worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
