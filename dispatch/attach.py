"""Attached jobs: a SUB socket on a collector's ``dispatchPort``, type matching and gap healing.

Sockets: SUB, connects to ``tcp://<hostName>:<dispatchPort>`` of each attached
job and subscribes to its job id; batches arrive in the form of nom.net.wire.
PUSH, connects to ``tcp://<hostName>:<collectorPort>`` when results are sent.

Objects whose type matches the job's ``typeReturned`` (exact or glob) go into the
cache (dispatch.cache), keyed by the store file they were written to; the rest are
counted. A jump in ``seq`` (a slow consumer, a dropped message) or a new ``epoch``
(a collector restart) is healed by reading the missing ids from the store
(dispatch.reading), so the cache misses nothing that was stored.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import zmq

from dispatch.cache import Cache
from dispatch.reading import read_range
from nom import NomError, Store, check_job_id, quote, type_matches
from nom.net import CurveKeys, decode_batch

__all__ = ["LOOPBACK", "Attachment"]

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class Attachment:
    """One attached collector job."""

    def __init__(self, job_object: dict[str, Any], store: Store, cache: Cache, ctx: zmq.Context,
                 allowed_hosts: frozenset[str] = LOOPBACK, keys: CurveKeys | None = None) -> None:
        """Check the data.collector.job object (refusing hosts not allowed) and subscribe to the job."""
        data = job_object.get("data") if isinstance(job_object, dict) else None
        if not isinstance(data, dict) or job_object.get("type") != "data.collector.job":
            raise NomError("job must be the data.collector.job NOM object that newCollectorJob returned", field="job")
        for key in ("jobId", "hostName", "dispatchPort", "collectorPort", "typeReturned"):
            if key not in data:
                raise NomError(f"job.data.{key} is missing", field=f"job.data.{key}")
        for port in ("dispatchPort", "collectorPort"):
            if isinstance(data[port], bool) or not isinstance(data[port], int) or not 0 < data[port] < 65536:
                raise NomError(f"job.data.{port} must be a port number, got {quote(data[port])}",
                               field=f"job.data.{port}")
        host = data["hostName"]
        if not isinstance(host, str) or ("*" not in allowed_hosts and host not in allowed_hosts):
            raise NomError(f"job.data.hostName {quote(host)} is not an allowed collector host (allowed: "
                           f"{', '.join(sorted(allowed_hosts))}; start dispatch with --attach-hosts to add hosts)",
                           field="job.data.hostName")
        if not isinstance(data["typeReturned"], str) or not data["typeReturned"]:
            raise NomError(f"job.data.typeReturned must be a type name or pattern (a non-empty string), got "
                           f"{quote(data['typeReturned'])}", field="job.data.typeReturned")
        self.job = check_job_id(data["jobId"], field="job.data.jobId")
        self.data = data
        self.store = store
        self.cache = cache
        self.type_returned = data["typeReturned"]
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 2000)
        self.sub.setsockopt(zmq.MAXMSGSIZE, 64 * 2**20)
        self.sub.setsockopt(zmq.SUBSCRIBE, self.job.encode())
        self.keys = keys
        if keys is not None:
            keys.connect_as_client(self.sub)
        try:
            self.sub.connect(f"tcp://{data['hostName']}:{data['dispatchPort']}")
        except zmq.ZMQError as exc:  # a request that gets an error leaves no socket behind
            self.sub.close(linger=0)
            raise NomError(f"cannot connect to {data['hostName']}:{data['dispatchPort']}: {exc}",
                           field="job.data.hostName") from None
        self.push: zmq.Socket | None = None
        self.ctx = ctx
        self.epoch: int | None = None
        self.next_seq: int | None = None
        self.last_id = 0
        self.stats = {"matched": 0, "other": 0, "healed": 0, "gaps": 0, "malformed": 0}
        self.last_batch = 0.0
        self.error: str | None = None  # set when a step failed: the attachment then stops taking batches

    def step(self, now: float | None = None, limit: int = 200) -> int:
        """Take the batches that have arrived (at most ``limit``); returns how many objects were matched.
        ``now``: the loop's clock (time.monotonic() by default), recorded as the time of the last batch."""
        now = time.monotonic() if now is None else now
        matched = 0
        for _ in range(limit):
            try:
                frames = self.sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            try:
                _, header, objects = decode_batch(frames)
            except NomError:
                self.stats["malformed"] += 1
                continue
            matched += self._take(header, objects, frames[2], now)
        return matched

    def _take(self, header: dict[str, Any], objects: list[dict[str, Any]], raw: bytes, now: float) -> int:
        seq, epoch = header.get("seq"), header.get("epoch")
        if self.next_seq is not None and (seq != self.next_seq or epoch != self.epoch):
            self._heal(header)
        self.epoch, self.next_seq = epoch, seq + header.get("count", len(objects))
        self.last_id = max(self.last_id, header.get("last_id", 0))
        self.last_batch = now
        keep = [o for o in objects if isinstance(o, dict) and isinstance(o.get("type"), str)
                and type_matches(self.type_returned, o["type"])]
        self.stats["matched"] += len(keep)
        self.stats["other"] += len(objects) - len(keep)
        if keep and isinstance(header.get("file"), int):
            self.cache.put(self.job, header["file"], keep, raw if len(keep) == len(objects) else None)
        return len(keep)

    def _heal(self, header: dict[str, Any]) -> None:
        """Read what the gap hid from the store (the store is the log; nothing stored is missed)."""
        self.stats["gaps"] += 1
        low, high = self.last_id + 1, header.get("first_id", 0) - 1
        gap = [info for info in self.store.files(self.job, low, high) if info.within(low, high)]
        for info, objs in read_range(self.store, self.job, gap, low, high):
            keep = [o for o in objs if type_matches(self.type_returned, o.get("type", ""))]
            self.cache.put(self.job, info.name, keep)
            self.stats["healed"] += len(keep)

    def inlet_open(self) -> bool:
        """True while the collector job is live (its record says running or paused). A collector closes a job's
        storage inlet (``collectorPort``) once the job stops, finishes or fails: its results are then stored here."""
        try:
            record = self.store.read_meta(self.job, "job", None)
        except (NomError, OSError):
            return False
        return isinstance(record, dict) and record.get("state") in ("running", "paused")

    def send_results(self, job: str, objects: list[dict[str, Any]]) -> None:
        """Push result objects to the collector's storage inlet (``collectorPort``)."""
        if self.push is None:
            self.push = self.ctx.socket(zmq.PUSH)
            self.push.setsockopt(zmq.LINGER, 2000)
            self.push.setsockopt(zmq.SNDHWM, 1000)
            if self.keys is not None:
                self.keys.connect_as_client(self.push)
            self.push.connect(f"tcp://{self.data['hostName']}:{self.data['collectorPort']}")
        self.push.send(orjson.dumps({"job": job, "objects": objects}))

    def report(self) -> dict[str, Any]:
        """What ``status`` shows of this attachment."""
        return {"jobId": self.job, "typeReturned": self.type_returned, "nextSeq": self.next_seq,
                "lastId": self.last_id, **self.stats, "lastError": self.error}

    def close(self) -> None:
        """Close the sockets."""
        self.sub.close(linger=0)
        if self.push is not None:
            self.push.close(linger=1000)
