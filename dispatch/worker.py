"""A local-engine worker process: folds chunks of store files and returns its combined result.

Socket: DEALER, connects to the engine's ROUTER (``--connect``). Messages are
one JSON frame each (see dispatch.engine for the engine's side)::

    (every worker message also carries "engine": the token its engine gave it, so that an orphaned
    worker whose DEALER reconnects to a new engine on the same port is never taken for one of its own)
    worker -> engine  {"op": "ready"}                          once, at start
                      {"op": "beat"}                           every HEARTBEAT seconds
                      {"op": "done", "apply", "chunk", "objects", "skipped"}
                      {"op": "result", "apply", "pairs": [[key, acc], ...]}
                      {"op": "error", "apply", "chunk", "message"}
    engine -> worker  {"op": "chunk", "apply", "chunk", "job", "map", "reduce", "from", "to", "skip", "files": [...]}
                      {"op": "collect", "apply"}               send the combined result, forget it
                      {"op": "drop", "apply"}                  forget it (cancelled)

Per-worker combining: every chunk of an apply folds into the worker's one
accumulator, so only one result per worker crosses the socket.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import orjson
import zmq

from dispatch.functions import FoldError, FunctionError, fold_objects, new_accumulator, resolve_map, resolve_reduce
from nom import NomError, Store
from nom.index import FileInfo
from nom.nofollow import read_regular

HEARTBEAT = 1.0


class Worker:
    """Folds chunks; one step per ``step`` call."""

    def __init__(self, endpoint: str, nom_root: str, ctx: zmq.Context | None = None, token: str = "") -> None:
        self.token = token  # names the engine that started us: a new engine on a reused port ignores us
        self.store = Store(nom_root)
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.accs: dict[str, tuple[Any, Any, dict[Any, Any]]] = {}
        self.last_beat = 0.0
        self.send({"op": "ready", "pid": os.getpid()})

    def send(self, message: dict[str, Any]) -> None:
        """One JSON frame to the engine."""
        message["engine"] = self.token
        self.sock.send(orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS))

    def step(self, wait: float = HEARTBEAT) -> bool:
        """Handle one message (or send a heartbeat); False when the engine asked us to exit."""
        now = time.monotonic()
        if now - self.last_beat >= HEARTBEAT:
            self.send({"op": "beat"})
            self.last_beat = now
        if not self.sock.poll(int(wait * 1000)):
            return True
        message = orjson.loads(self.sock.recv())
        op = message.get("op")
        if op == "chunk":
            self.fold_chunk(message)
        elif op == "collect":
            _, reducer, acc = self.accs.pop(message["apply"], (None, None, {}))
            self.send({"op": "result", "apply": message["apply"], "pairs": list(acc.items())})
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
                mapper, reducer = resolve_map(task["map"]), resolve_reduce(task["reduce"])
                self.accs[apply_id] = (mapper, reducer, new_accumulator(mapper, reducer))
            mapper, reducer, acc = self.accs[apply_id]
            lo, hi, job = task["from"], task["to"], task["job"]
            folder = str(self.store.job_dir(job))
            objects = skipped = 0
            for fields in task["files"]:
                info = FileInfo(*fields)
                objs = info.clip(self._read(folder, job, info), lo, hi)
                skipped += fold_objects(objs, mapper, reducer, acc, skip_errors=task.get("skip", False))
                objects += len(objs)
                if time.monotonic() - self.last_beat >= HEARTBEAT:  # stay visibly alive on long chunks
                    self.send({"op": "beat"})
                    self.last_beat = time.monotonic()
            self.send({"op": "done", "apply": apply_id, "chunk": task["chunk"], "objects": objects,
                       "skipped": skipped})
        except (FoldError, FunctionError) as exc:
            self.accs.pop(apply_id, None)
            self.send({"op": "error", "apply": apply_id, "chunk": task["chunk"], "message": str(exc)})


    def _read(self, folder: str, job: str, info: FileInfo) -> list[dict[str, Any]]:
        """A file's objects: read directly on the hot path; anything odd goes through the store (quarantine)."""
        try:
            objs = orjson.loads(read_regular(f"{folder}/{info.name}.json"))  # a link or FIFO: the store's to judge
            if type(objs) is list and len(objs) == info.objects:
                return objs
        except (OSError, orjson.JSONDecodeError, NomError):
            pass
        return self.store.read_file(job, info)


def main(argv: list[str] | None = None) -> int:
    """Run a worker until the engine says exit or the parent process is gone."""
    parser = argparse.ArgumentParser(prog="python -m dispatch.worker")
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
    worker.sock.close(linger=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
