"""Change notifications: Dispatch's PUB socket (issue 20).

Dispatch publishes them, not the collector: two of the three kinds of change happen in Dispatch (snapshots
are made and standing results updated here), and the third, files added, is learnt the way Dispatch's own
standing reductions learn it, from the job's index in the store, which is also where a subscriber heals
from; so one socket carries every kind, for jobs of any collector (or none: a job written by another
process), and what a subscriber can recover is exactly what the store holds.

Socket: PUB, bound at the control endpoint's host on a port of its own (``--events``; by default any free
port: the ``watch`` action tells it). Messages are two frames, ``[topic, event]``: the topic is the job id
and a space (``b"j1 "``, so that a subscription to ``j1`` does not also get ``j10``), the event one JSON object::

    {"job", "seq", "epoch", "kind": "files",    "time": ns, "files": [{"name", "sha256", "firstId", "lastId",
                                                                       "count", "bytes"}, ...]}
    {"job", "seq", "epoch", "kind": "snapshot", "time": ns, "snapshot": {id, names, summary...}}
    {"job", "seq", "epoch", "kind": "result",   "time": ns, "applyId", "map", "reduce", "objects",
                                                "resultSha256", "chain"}

``seq`` counts a job's events from 1 in each ``epoch`` (one a Dispatch process). A subscriber that sees a gap
(it fell behind past the socket's high-water mark, or reconnected) or a new epoch asks ``filesSince`` for the
files after the last one it saw, from the store, and ``listSnapshots`` for snapshots; results are in the store
under the derived job. Files of a job are published while it is attached, stood on by a reduction, or
watched (the ``watch`` action), polled from its index every ``POLL_SECONDS``.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from typing import Any

import orjson
import zmq

from nom.net import CurveKeys
from nom.store import FileInfo, Store

__all__ = ["POLL_SECONDS", "Events", "file_entry", "topic"]

POLL_SECONDS = 0.02
MAX_FILES_PER_EVENT = 500
_log = logging.getLogger("dispatch")


def topic(job: str) -> bytes:
    """The topic of ``job``'s events."""
    return job.encode() + b" "


def file_entry(info: FileInfo) -> dict[str, Any]:
    """One file as events and ``filesSince`` describe it."""
    return {"name": info.name, "sha256": info.sha256, "firstId": info.min_id, "lastId": info.max_id,
            "count": info.objects, "bytes": info.bytes}


class Events:
    """The PUB socket and the jobs whose new files it announces."""

    def __init__(self, store: Store, ctx: zmq.Context, endpoint: str, keys: CurveKeys | None = None, *,
                 hwm: int = 10_000, sndbuf: int = -1) -> None:
        """Bind the PUB socket at ``endpoint`` (``tcp://host:*`` for any free port); past ``hwm`` events queued
        for a subscriber, it misses them (and heals from the store); ``sndbuf``: the kernel's send buffer per
        subscriber in bytes (-1: the system's, which grows to megabytes)."""
        self.store = store
        self.pub = ctx.socket(zmq.PUB)
        if keys is not None:
            keys.serve(self.pub)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.setsockopt(zmq.SNDHWM, hwm)
        self.pub.setsockopt(zmq.SNDBUF, sndbuf)
        self.pub.bind(endpoint)
        self.endpoint = self.pub.getsockopt_string(zmq.LAST_ENDPOINT)
        self.epoch = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.seq: dict[str, int] = {}
        self.cursors: dict[str, tuple[int, int]] = {}
        self.last_file: dict[str, int] = {}  # per job: the newest file announced (or there when followed)
        self._polled = 0.0

    def follow(self, job: str) -> None:
        """Announce the files ``job`` gains from now on (nothing when it is followed already)."""
        if job not in self.cursors and self.store.exists(job):
            files, self.cursors[job] = self.store.new_files(job, None)
            self.last_file[job] = max((f.name for f in files), default=0)

    def publish(self, job: str, kind: str, **fields: Any) -> int:
        """Send one event of ``job``; returns its sequence number."""
        seq = self.seq.get(job, 0) + 1
        self.seq[job] = seq
        event = {"job": job, "seq": seq, "epoch": self.epoch, "kind": kind, "time": time.time_ns(), **fields}
        try:
            self.pub.send_multipart([topic(job), orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS)], zmq.NOBLOCK)
        except zmq.Again:  # no subscriber is reachable: nothing to wait for (subscribers heal from the store)
            pass
        return seq

    def step(self, now: float, jobs: set[str]) -> None:
        """Follow ``jobs`` too, then announce new files of every followed job (at most every POLL_SECONDS)."""
        if now - self._polled < POLL_SECONDS:
            return
        self._polled = now
        for job in jobs - self.cursors.keys():
            self.follow(job)
        for job, cursor in list(self.cursors.items()):
            try:
                fresh, self.cursors[job] = self.store.new_files(job, cursor)
            except (OSError, ValueError) as exc:  # the job folder went away: stop following it
                _log.warning("events: job %s no longer followed: %s", job, exc)
                del self.cursors[job]
                self.last_file.pop(job, None)
                continue
            if fresh:
                fresh = self.store.with_hashes(job, sorted(fresh, key=lambda f: f.name))
                self.last_file[job] = max(self.last_file.get(job, 0), fresh[-1].name)
                for i in range(0, len(fresh), MAX_FILES_PER_EVENT):
                    self.publish(job, "files", files=[file_entry(f) for f in fresh[i:i + MAX_FILES_PER_EVENT]])

    def files_since(self, job: str, after: int, limit: int) -> list[dict[str, Any]]:
        """The job's files named after ``after`` (at most ``limit``), in name order: what a subscriber that
        missed events reads back."""
        index = self.store.index(job)
        infos = [f for f in index.overlapping(None, None) if f.name > after][:limit]
        return [file_entry(f) for f in self.store.with_hashes(job, infos)]

    def close(self) -> None:
        """Close the socket."""
        self.pub.close(linger=0)
