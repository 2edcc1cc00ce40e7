"""Attached jobs: a SUB socket on a collector's ``dispatchPort``, type matching, gap healing, and the cache.

Socket: SUB, connects to ``tcp://<hostName>:<dispatchPort>`` of each attached
job and subscribes to its job id; batches arrive in the form of nom.wire.

Objects whose type matches the job's ``typeReturned`` (exact or glob) go into the
cache, keyed by the store file they were written to; the rest are counted. A
jump in ``seq`` (a slow consumer, a dropped message) or a new ``epoch`` (a
collector restart) is healed by reading the missing ids from the store, so the
cache misses nothing that was stored. The cache is bounded by objects and by
bytes across all jobs; the oldest files are evicted first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson
import zmq

from nom import NomError, Store, check_job_id, type_matches
from nom.errors import quote
from nom.wire import decode_batch

__all__ = ["Attachment", "Cache", "LOOPBACK"]

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class _JobCache:
    files: OrderedDict[int, _CachedFile] = field(default_factory=OrderedDict)
    objects: int = 0
    bytes: int = 0
    hits: int = 0
    misses: int = 0


@dataclass(frozen=True, slots=True)
class _CachedFile:
    raw: bytes  # the file's matching objects as one encoded JSON array
    objects: int
    first_id: int
    last_id: int


class Cache:
    """The newest objects of each job, by store file, within ``max_objects`` and ``max_bytes`` in all.

    Files are kept encoded and decoded on each hit: decoded tweets take about four times their JSON
    size in Python objects (50,000 of them: 110 MB), and the bound should be what the cache really holds.
    """

    def __init__(self, max_objects: int = 50_000, max_bytes: int = 64 * 2**20) -> None:
        self.max_objects = max_objects
        self.max_bytes = max_bytes
        self.jobs: dict[str, _JobCache] = {}
        self.objects = 0
        self.bytes = 0

    def put(self, job: str, file_name: int, objects: list[dict[str, Any]], raw: bytes | None = None) -> None:
        """Keep a file's objects; ``raw`` is their encoding when the caller already has it."""
        entry = self.jobs.setdefault(job, _JobCache())
        if file_name in entry.files or not objects:
            return
        cached = _CachedFile(orjson.dumps(objects) if raw is None else raw, len(objects),
                             objects[0].get("id", 0), objects[-1].get("id", 0))
        entry.files[file_name] = cached
        entry.objects += cached.objects
        entry.bytes += len(cached.raw)
        self.objects += cached.objects
        self.bytes += len(cached.raw)
        while (self.objects > self.max_objects or self.bytes > self.max_bytes) and self._evict_oldest():
            pass

    def get(self, job: str, file_name: int) -> list[dict[str, Any]] | None:
        """A file's objects if cached (counted as a hit), else None (a miss)."""
        entry = self.jobs.setdefault(job, _JobCache())
        cached = entry.files.get(file_name)
        if cached is None:
            entry.misses += 1
            return None
        entry.hits += 1
        return orjson.loads(cached.raw)

    def _evict_oldest(self) -> bool:
        oldest = None
        for job, entry in self.jobs.items():
            if entry.files:
                name = next(iter(entry.files))
                if oldest is None or name < oldest[1]:
                    oldest = (job, name)
        if oldest is None:
            return False
        self._remove(*oldest)
        return True

    def _remove(self, job: str, name: int) -> None:
        entry = self.jobs[job]
        cached = entry.files.pop(name)
        entry.objects -= cached.objects
        entry.bytes -= len(cached.raw)
        self.objects -= cached.objects
        self.bytes -= len(cached.raw)

    def drop(self, job: str) -> None:
        """Forget a job's entries."""
        entry = self.jobs.pop(job, None)
        if entry is not None:
            self.objects -= entry.objects
            self.bytes -= entry.bytes

    def report(self) -> list[dict[str, Any]]:
        """Per job: objects, bytes, oldest and newest id, hits and misses."""
        out = []
        for job, entry in sorted(self.jobs.items()):
            files = entry.files.values()
            out.append({"jobId": job, "objects": entry.objects, "bytes": entry.bytes, "files": len(entry.files),
                        "oldestId": min((f.first_id for f in files), default=None),
                        "newestId": max((f.last_id for f in files), default=None),
                        "hits": entry.hits, "misses": entry.misses})
        return out


class Attachment:
    """One attached collector job."""

    def __init__(self, job_object: dict[str, Any], store: Store, cache: Cache, ctx: zmq.Context,
                 allowed_hosts: frozenset[str] = LOOPBACK, keys: Any = None) -> None:
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

    def step(self, limit: int = 200) -> int:
        """Take the batches that have arrived; returns how many objects were matched."""
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
            matched += self._take(header, objects, frames[2])
        return matched

    def _take(self, header: dict[str, Any], objects: list[dict[str, Any]], raw: bytes) -> int:
        seq, epoch = header.get("seq"), header.get("epoch")
        if self.next_seq is not None and (seq != self.next_seq or epoch != self.epoch):
            self._heal(header)
        self.epoch, self.next_seq = epoch, seq + header.get("count", len(objects))
        self.last_id = max(self.last_id, header.get("last_id", 0))
        self.last_batch = time.monotonic()
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
        first = header.get("first_id", 0)
        for info in self.store.files(self.job, self.last_id + 1, first - 1):
            if info.min_id > self.last_id and info.max_id < first:
                objs = self.store.read_file(self.job, info)
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

