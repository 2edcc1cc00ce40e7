"""A subscriber to Dispatch's change events that loses nothing: ``Watcher`` (issue 20; dispatch.events).

It asks Dispatch (``watch``) where the events are and which file was announced last, subscribes to the
job's topic, and hands out events in order. Each event carries a per-job sequence number and the epoch of
the Dispatch that sent it; a gap (the subscriber fell behind past the socket's high-water mark, or joined
late) or a new epoch (Dispatch restarted) is healed from the store: the files named after the last one
handed out are read back (``filesSince``) and handed out first, as a ``files`` event marked ``healed``.
Files are handed out once each, in name order.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import zmq

from nectar.client import Client
from nom.net import CurveKeys

__all__ = ["Watcher"]


class Watcher:
    """The events of one job, healed from the store when any are missed."""

    def __init__(self, client: Client, job: str, *, ctx: zmq.Context | None = None, keys: CurveKeys | None = None,
                 after: int | None = None, rcvhwm: int = 1000, rcvbuf: int = -1) -> None:
        """Subscribe to ``job``'s events through Dispatch at ``client``; files named after ``after`` (None:
        after the last one announced when the watch starts; 0: every file of the job) are handed out."""
        self.client = client
        self.job = job
        reply = client.call("watch", jobId=job)
        self.endpoint = reply["endpoint"]
        self.epoch: str = reply["epoch"]
        self.seq: int = reply["seq"]
        self.last_file: int = reply["lastFile"] if after is None else after
        self.gaps = 0
        self.healed = 0
        self.sub = (ctx or zmq.Context.instance()).socket(zmq.SUB)
        if keys is not None:
            keys.connect_as_client(self.sub)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, rcvhwm)
        self.sub.setsockopt(zmq.RCVBUF, rcvbuf)  # -1: the system's
        self.sub.setsockopt(zmq.SUBSCRIBE, reply["topic"].encode())
        self.sub.connect(self.endpoint)
        self._ready: list[dict[str, Any]] = []
        if after is not None and after < reply["lastFile"]:
            self._heal(None)

    def next(self, timeout: float = 1.0) -> list[dict[str, Any]]:
        """The events that arrived within ``timeout`` seconds (healed ones first), in order; [] when none."""
        deadline = time.monotonic() + timeout
        while not self._ready:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sub.poll(int(left * 1000)):
                break
            while True:
                try:
                    _, raw = self.sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._take(orjson.loads(raw))
        out, self._ready = self._ready, []
        return out

    def _take(self, event: dict[str, Any]) -> None:
        if event.get("epoch") != self.epoch or event.get("seq") != self.seq + 1:
            self.gaps += 1
            first = event["files"][0]["name"] if event.get("kind") == "files" and event["files"] else None
            self._heal(first)
        self.epoch, self.seq = event.get("epoch", self.epoch), event.get("seq", self.seq)
        if event.get("kind") == "files":
            event["files"] = [f for f in event["files"] if f["name"] > self.last_file]
            if not event["files"]:
                return
            self.last_file = event["files"][-1]["name"]
        self._ready.append(event)

    def _heal(self, before: int | None) -> None:
        """Hand out the files after the last one handed out (and before ``before``, when given) from the store."""
        while True:
            files = self.client.call("filesSince", jobId=self.job, after=self.last_file, limit=1000)["files"]
            wanted = [f for f in files if before is None or f["name"] < before]
            if wanted:
                self.healed += len(wanted)
                self.last_file = wanted[-1]["name"]
                self._ready.append({"job": self.job, "kind": "files", "healed": True, "seq": None,
                                    "epoch": self.epoch, "time": time.time_ns(), "files": wanted})
            if len(wanted) < len(files) or len(files) < 1000:
                return

    def close(self) -> None:
        """Unsubscribe."""
        self.sub.close(linger=0)
