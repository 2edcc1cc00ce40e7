"""One running collector job: source -> dedup -> arrays -> group commit -> publish, a step at a time.

A ``JobRunner`` owns the job's two sockets (PUB at ``dispatchPort``, PULL at
``collectorPort``, see collector.protocol) and does one step of work per
``step(now)`` call, so the service loop and the tests drive it alike.

Words: an array is *submitted* to the store's writer (nom.store.commit) and is *in flight* until its
future resolves; the store then has *linked* its file into place, and only then does the runner
*publish* the file's objects to subscribers.

Exactly once across restarts: the checkpoint (``checkpoint.json``) records the
source position, the next sequence number and the newest file, all of them
describing only durable objects. A restarted runner resumes the source there,
rebuilds its dedup memory from the files written after that (and a window of
recent ones), and so drops every tweet the source gives again.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import zmq

from collector import protocol
from collector.batch import Batch, array_written, encode_array
from collector.dedup import AscendingKeys, RecentKeys
from collector.job import JobRecord, JobState
from collector.sources import Source
from nom import QUOTE_LIMIT, Encoded, FieldError, FileInfo, Store, Writer, shorten
from nom.net import CurveKeys, encode_batch

__all__ = ["MAX_READ", "PUBLISH_BYTES", "JobRunner", "Submitted"]

log = logging.getLogger("collector")

MAX_READ = 5000  # items taken from a source in one step
PUBLISH_BYTES = 32 * 2**20  # what a subscriber that does not read may have queued (see JobRunner._publish_queue)
INLET_BYTES_PER_STEP = 2**20  # inlet messages decoded in one step (at least one, whatever its size)
INLET_MESSAGES_PER_STEP = 100  # and at most this many, however small
INLET_BYTES_IN_FLIGHT = 8 * 2**20  # inlet arrays submitted and not yet durable (at least one)
INLET_QUEUE = 2  # inlet messages queued per peer before it waits: with messages of up to 16 MiB, memory stays bounded
RETRY_SECONDS = 1.0
CATCH_UP_SECONDS = 1.0  # a source behind its schedule by more than this (a pause) goes on from now, without a burst
RATE_WINDOW = 10.0  # seconds the reported rate is measured over


@dataclass
class Submitted:
    """An array submitted to the writer: in flight until its future resolves."""

    future: Future[FileInfo]
    array: Encoded  # the bytes only: holding the objects too kept thousands of dicts alive for the GC to walk
    pos: Any  # the source position after the array's last item


class JobRunner:
    """Runs one job; see the module docstring."""

    def __init__(self, record: JobRecord, source: Source, store: Store, writer: Writer, ctx: zmq.Context,
                 *, bind_host: str = "127.0.0.1", flush_latency: float = 1.0, publish_hwm: int = 2000,
                 publish_bytes: int = PUBLISH_BYTES, checkpoint_interval: float = 1.0, epoch: int = 0,
                 keys: CurveKeys | None = None) -> None:
        """Open the job's sockets (their ports kept across restarts when free) and recover from its files."""
        self.record = record
        self.job = record.job_id
        self.source = source
        self.store = store
        self.writer = writer
        self.type = record.reply["data"]["typeReturned"]
        self.per_file = record.request["collectorObjectsPerFile"]
        rate_interval = 1.0 / source.rate if source.rate else 0.0
        self.interval = max(record.request["delayInMsBetweenObjects"] / 1000.0, rate_interval)
        self.flush_latency = flush_latency
        self.checkpoint_interval = checkpoint_interval
        self.epoch = epoch
        self.dedup: RecentKeys | AscendingKeys = AscendingKeys() if source.ascending_keys else RecentKeys()
        # files submitted and not yet durable at most: two writer groups, so that writing overlaps making
        # the next files (and backpressure on the source past that)
        self.max_in_flight = writer.window
        self.buffer: list[list[Any]] = []  # items taken and not submitted yet, as columns (see Batch)
        self.buffer_pos: list[Any] = []  # the source position after each of them
        self.template: bytes | None = None  # the buffered items' template (see Batch)
        self.written_column: int | None = None  # and the column of their written times
        self.buffer_since = 0.0
        self.in_flight: deque[Submitted] = deque()
        self.retry: deque[Submitted] = deque()
        self.retry_at = 0.0
        # "files_written", not "files": status() spreads these over the store's counts, and the files the job
        # holds now (after retention) are the store's to say
        self.stats = {"stored": 0, "duplicates": 0, "published": 0, "files_written": 0, "inlet_stored": 0,
                      "inlet_rejected": 0}
        self.last_inlet_error: str | None = None
        # inlet arrays taken and not yet submitted, and submitted and not yet durable, with their (rough) size
        self._inlet_queue: deque[tuple[str, list[dict[str, Any]], int]] = deque()
        self._inlet_writes: deque[tuple[Future[FileInfo], int]] = deque()
        self._inlet_bytes = 0
        self._started = time.monotonic()  # the source's schedule: item n is due at _started + n * interval
        self._taken = 0
        self._rate_samples: deque[tuple[float, int]] = deque([(self._started, 0)])  # (when, stored then)
        self._last_checkpoint = 0.0
        self._checkpoint_dirty = False
        checkpoint = store.read_meta(self.job, "checkpoint", {}) or {}
        self.position = checkpoint.get("position")
        self.seq = int(checkpoint.get("seq", 0))
        self.last_file = int(checkpoint.get("last_file", 0))
        self._recover()
        store.clock(self.job)  # opened now, so that running out of descriptors fails the start, not a later step
        self._written = {self.job}  # jobs whose clocks this runner opened (its own, and where its inlet stored)
        self.publish_hwm, self.publish_bytes = publish_hwm, publish_bytes
        self._published_bytes = self._published_files = 0
        self.pub = ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.SNDHWM, self._publish_queue(self.per_file * (source.item_bytes + 64)))
        self.pull = ctx.socket(zmq.PULL)
        self.pull.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_MESSAGE_BYTES)
        self.pull.setsockopt(zmq.RCVHWM, INLET_QUEUE)
        try:
            if keys is not None:  # only peers with an authorized key get objects or may store any
                keys.serve(self.pub)
                keys.serve(self.pull)
            record.dispatch_port = _bind(self.pub, bind_host, record.dispatch_port)
            record.collector_port = _bind(self.pull, bind_host, record.collector_port)
        except BaseException:
            self.pub.close(linger=0)
            self.pull.close(linger=0)
            raise

    # -- recovery -----------------------------------------------------------

    def _recover(self) -> None:
        """Rebuild the dedup memory and the sequence from files the checkpoint does not cover yet."""
        if not self.store.exists(self.job):
            return
        files = self.store.files(self.job)
        window, recent = 0, []
        for info in reversed(files):
            if info.name <= self.last_file and window >= self.dedup.limit // 2:
                break
            recent.append(info)
            window += info.objects
        own = self.source.is_own_key
        for info in reversed(recent):
            for obj in self.store.read_file(self.job, info):
                data = obj.get("data")  # only the source's own items: of its type, with a key it could give
                if obj.get("type") == self.type and isinstance(data, dict) and "id" in data and own(str(data["id"])):
                    self.dedup.add(str(data["id"]))
            if info.name > self.last_file:
                self.seq += info.objects
                self.last_file = info.name

    # -- the step -----------------------------------------------------------

    def step(self, now: float | None = None) -> int:
        """Do what is due now: collect, store, publish, checkpoint. Returns how many items moved."""
        now = time.monotonic() if now is None else now
        moved = self._finish_commits(now)
        moved += self._take_inlet()
        state = self.record.state
        if state is JobState.PAUSED and self.retry and now >= self.retry_at:
            self._resubmit(now)
        if state is JobState.RUNNING:
            moved += self._collect(now)
            if self.source.error:
                self.fail(self.source.error)
            elif self.source.done and not self.buffer_pos and not self.in_flight and not self.retry:
                self.record.state = JobState.FINISHED
                self._checkpoint(now, force=True)
                log.info("job %s finished: %d objects stored", self.job, self.stats["stored"])
        if self._checkpoint_dirty and now - self._last_checkpoint >= self.checkpoint_interval:
            self._checkpoint(now)
        if now - self._rate_samples[-1][0] >= 1.0:
            self._rate_samples.append((now, self.stats["stored"]))
            while len(self._rate_samples) > 2 and now - self._rate_samples[1][0] >= RATE_WINDOW:
                self._rate_samples.popleft()
        return moved

    def next_due(self, now: float) -> float:
        """Seconds until this job has something to do (0: now)."""
        if self.record.state is not JobState.RUNNING:
            return 0.05
        can_read = not self.source.done and len(self.in_flight) < self.max_in_flight
        if can_read and not self.interval:
            return 0.0
        waits = [0.05]  # files in flight need no timer: the writer's fd wakes the loop when they land
        if self.buffer_pos:
            waits.append(max(0.0, self.buffer_since + self.flush_latency - now))
        if can_read and self.interval:
            waits.append(max(0.0, self._started + (self._taken + 1) * self.interval - now))
        return min(waits)

    def _collect(self, now: float) -> int:
        if len(self.in_flight) >= self.max_in_flight:
            return 0  # the disk is behind: let it catch up before reading more
        if self.interval:
            lag = now - self._started - self._taken * self.interval  # since the next item fell due
            due = int(lag / self.interval)
            if due > 1 and lag > CATCH_UP_SECONDS:  # far behind schedule (a pause): go on from now, no burst
                self._started = now - (self._taken + 1) * self.interval
                due = 1
            due = min(due, MAX_READ)
        else:
            due = MAX_READ
        batch = self.source.read_batch(due) if due > 0 else None
        taken = len(batch) if batch else 0
        if taken:
            self._take(batch, now)
        if self.buffer_pos and (now - self.buffer_since >= self.flush_latency or self.source.done):
            self._submit_buffer()
        return taken

    def _take(self, batch: Batch, now: float) -> None:
        """Drop the batch's repeats, submit every full array and buffer the rest."""
        self._taken += len(batch)
        fresh = self.dedup.add_many(batch.keys)
        if fresh is not None:
            self.stats["duplicates"] += len(batch) - len(fresh)
            if not fresh and not self.buffer_pos and not self.in_flight:
                self.position = batch.positions[-1]  # only repeats: the checkpoint may move past them
            batch = batch.select(fresh)
        if not batch:
            return
        if self.buffer_pos and (batch.template, batch.written_column) != (self.template, self.written_column):
            # a source keeps one template; if not, arrays part here
            self._submit_buffer()
        if self.buffer_pos:
            for column, more in zip(self.buffer, batch.columns):
                column.extend(more)
            self.buffer_pos.extend(batch.positions)
            columns, positions = self.buffer, self.buffer_pos
        else:  # full arrays are sliced from the batch itself; only the rest is copied into the buffer
            self.buffer_since, self.template, self.written_column = now, batch.template, batch.written_column
            columns, positions = batch.columns, batch.positions
        per_file, start = self.per_file, 0
        full = len(positions) // per_file * per_file
        if full:  # ids for every full array at once: the id clock's lock and lease are taken once a batch
            ids = self.store.new_ids(self.job, full)
            while start < full:
                end = start + per_file
                self._submit([column[start:end] for column in columns], positions[end - 1], ids[start:end])
                start = end
        if columns is self.buffer:
            for column in columns:
                del column[:start]
            del positions[:start]
        else:
            self.buffer = [list(column[start:]) for column in columns]
            self.buffer_pos = list(positions[start:])

    def _submit_buffer(self) -> None:
        """Submit what is buffered as one (partly filled) array."""
        self._submit(self.buffer, self.buffer_pos[-1])
        self.buffer, self.buffer_pos = [], []

    def _submit(self, columns: Sequence[Sequence[Any]], pos: Any, ids: range | None = None) -> None:
        # Encoded once, for the store and the subscribers alike, from the store's own ids (ascending) and the
        # job's checked type: nothing to check again.
        if ids is None:
            ids = self.store.new_ids(self.job, len(columns[0]))
        raw = encode_array(self.type, ids, columns, self.template)
        array = Encoded(raw, ids[0], ids[-1], len(ids), array_written(ids, columns, self.template, raw,
                                                                     self.written_column))
        self.in_flight.append(Submitted(self.writer.submit(self.job, array), array, pos))

    def _resubmit(self, now: float) -> None:
        log.info("job %s: retrying %d files after a store error", self.job, len(self.retry))
        self.record.state = JobState.RUNNING
        while self.retry:
            entry = self.retry.popleft()
            entry.future = self.writer.submit(self.job, entry.array)
            self.in_flight.append(entry)

    def _finish_commits(self, now: float) -> int:
        done = 0
        while self.in_flight and self.in_flight[0].future.done():
            entry = self.in_flight.popleft()
            exc = entry.future.exception()
            if exc is not None:
                self._pause(entry, exc, now)
                continue
            info = entry.future.result()
            if self.record.error and self.record.error.startswith("store write failed"):
                log.info("job %s: the store takes writes again; resumed", self.job)
                self.record.error = None
            self._publish(entry, info)
            self.position, self.last_file = entry.pos, info.name
            self.stats["stored"] += info.objects
            self.stats["files_written"] += 1
            self._checkpoint_dirty = True
            done += info.objects
        return done

    def _pause(self, entry: Submitted, exc: BaseException, now: float) -> None:
        """A write failed (disk full...): keep the objects, pause, retry later, in order."""
        if self.record.state is not JobState.PAUSED:
            log.error("job %s paused: %s", self.job, exc)
        self.record.state = JobState.PAUSED
        self.record.error = f"store write failed, retrying every {RETRY_SECONDS:.0f}s: {exc}"
        self.retry.append(entry)
        while self.in_flight:  # later files must not land before this one
            later = self.in_flight.popleft()
            if later.future.exception() is None:  # waits for it: the writer may still hold it
                info = later.future.result()
                self._publish(later, info)
                self.position, self.last_file = later.pos, info.name
                self.stats["stored"] += info.objects
                self.stats["files_written"] += 1
            else:
                self.retry.append(later)
        self.retry_at = now + RETRY_SECONDS

    def _publish_queue(self, message_bytes: int) -> int:
        """How many messages of about ``message_bytes`` a subscriber may have queued: ``publish_bytes`` of them
        (at least one, at most ``publish_hwm``). ZeroMQ bounds a subscriber's queue by messages, not bytes, and
        a subscriber that stops reading keeps its queue full; past it, it misses messages, sees the gap in seq
        and reads them from the store, so the bound costs it nothing but a read."""
        return max(1, min(self.publish_hwm, self.publish_bytes // max(1, message_bytes)))

    def _publish(self, entry: Submitted, info: FileInfo) -> None:
        """Send a durable file's objects to the job's subscribers (PUB), numbered by ``seq``."""
        array = entry.array
        self._published_bytes += len(array.raw)
        self._published_files += 1
        if self._published_files in (16, 256) or self._published_files % 4096 == 0:
            # files tell the size the source's estimate guessed: subscribers that connect from now on get it
            # (a queue's bound is fixed when its subscriber connects)
            self.pub.setsockopt(zmq.SNDHWM, self._publish_queue(self._published_bytes // self._published_files))
        header = {"epoch": self.epoch, "seq": self.seq, "count": array.count, "first_id": array.first_id,
                  "last_id": array.last_id, "file": info.name}
        self.seq += array.count
        job, head, body = encode_batch(self.job, header, array.raw)
        try:  # the small frames copied, the body not: a zero-copy frame costs more than copying a few bytes
            self.pub.send(job, zmq.NOBLOCK | zmq.SNDMORE)
            self.pub.send(head, zmq.NOBLOCK | zmq.SNDMORE)
            self.pub.send(body, zmq.NOBLOCK, copy=False)
            self.stats["published"] += array.count
        except zmq.Again:  # no room: subscribers see the gap in seq and heal from the store
            pass

    def _take_inlet(self) -> int:
        """Store what peers pushed to the inlet (see collector.protocol), bounded so that it can neither stall
        the loop nor grow without end: a new message is decoded only once the last one's arrays are all
        submitted, about ``INLET_BYTES_PER_STEP`` of messages a step, and about ``INLET_BYTES_IN_FLIGHT`` of
        arrays wait in the writer (backpressure past that reaches the senders through the socket)."""
        while self._inlet_writes and self._inlet_writes[0][0].done():
            future, size = self._inlet_writes.popleft()
            self._inlet_bytes -= size
            if future.exception() is not None:
                self._reject(f"store write failed: {future.exception()}")
        stored, budget, messages = 0, INLET_BYTES_PER_STEP, INLET_MESSAGES_PER_STEP
        while True:
            while self._inlet_queue and (not self._inlet_writes
                                         or self._inlet_bytes + self._inlet_queue[0][2] <= INLET_BYTES_IN_FLIGHT):
                target, chunk, size = self._inlet_queue.popleft()
                self._inlet_writes.append((self.writer.submit(target, chunk), size))
                self._inlet_bytes += size
                self.stats["inlet_stored"] += len(chunk)
                stored += len(chunk)
            if self._inlet_queue or budget <= 0 or messages <= 0:
                return stored
            try:
                raw = self.pull.recv(zmq.NOBLOCK)
            except zmq.Again:
                return stored
            except zmq.ZMQError as exc:
                self._reject(f"receive failed: {exc}")
                return stored
            budget, messages = budget - len(raw), messages - 1
            try:
                target, objects = protocol.decode_inlet(raw, self.job)
                self._written.add(target)
                ids = self.store.new_ids(target, len(objects))
            except (FieldError, OSError) as exc:
                self._reject(str(exc))
                continue
            renumbered = [{"id": i, "type": o["type"], "data": o.get("data")} for i, o in zip(ids, objects)]
            for start in range(0, len(renumbered), self.per_file):  # arrays of the job's size, like its own
                chunk = renumbered[start:start + self.per_file]
                self._inlet_queue.append((target, chunk, len(raw) * len(chunk) // len(renumbered)))

    def _reject(self, reason: str) -> None:
        reason = shorten(reason, QUOTE_LIMIT * 2)
        self.stats["inlet_rejected"] += 1
        self.last_inlet_error = reason
        log.warning("job %s: collectorPort message rejected: %s", self.job, reason)

    # -- state --------------------------------------------------------------

    def fail(self, message: str) -> None:
        """The job cannot go on: it fails, with ``message`` as its error."""
        self.record.state = JobState.FAILED
        self.record.error = shorten(message)
        log.error("job %s failed: %s", self.job, self.record.error)

    def _checkpoint(self, now: float, *, force: bool = False) -> None:
        if not (self._checkpoint_dirty or force):
            return
        try:
            self.store.write_meta(self.job, "checkpoint",
                                  {"position": self.position, "seq": self.seq, "last_file": self.last_file})
        except OSError as exc:  # a full disk: keep the old checkpoint (still true), try again next time
            log.error("job %s: checkpoint not written: %s", self.job, exc)
            return
        self._last_checkpoint = now
        self._checkpoint_dirty = False

    def drain(self, timeout: float = 4.0) -> None:
        """Store what is buffered, wait for the writes, publish and checkpoint (for stop and shutdown)."""
        if self.buffer_pos and self.record.state is JobState.RUNNING:
            self._submit_buffer()
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            self.in_flight[0].future.exception(timeout=max(0.0, deadline - time.monotonic()))
            self._finish_commits(time.monotonic())
        self._checkpoint(time.monotonic(), force=True)
        self._take_inlet()  # what peers pushed before the stop is stored too
        while (self._inlet_queue or self._inlet_writes) and time.monotonic() < deadline:
            if self._inlet_writes:
                self._inlet_writes[0][0].exception(timeout=max(0.0, deadline - time.monotonic()))
            self._take_inlet()

    def rate(self, now: float | None = None) -> float:
        """Objects stored per second over about the last ``RATE_WINDOW`` seconds, as a clock on the wall sees
        them: a pause (SIGSTOP, a busy machine) lowers it while it lasts, and no catching up inflates it."""
        now = time.monotonic() if now is None else now
        since, stored = self._rate_samples[0]
        return (self.stats["stored"] - stored) / max(1e-9, now - since)

    def status(self) -> dict[str, Any]:
        """What ``jobStatus`` reports."""
        usage = self.store.usage(self.job) if self.store.exists(self.job) else None
        return {
            "jobId": self.job, "jobName": self.record.request["jobName"], "state": self.record.state.value,
            "lastError": self.record.error, "source": self.source.kind, "note": self.record.note or self.source.note,
            "typeReturned": self.type, "dispatchPort": self.record.dispatch_port,
            "collectorPort": self.record.collector_port, "seq": self.seq, "epoch": self.epoch,
            "rate": round(self.rate(), 1), "warnings": self.source.warnings[-5:],
            "skippedRecords": self.source.skipped, "lastInletError": self.last_inlet_error,
            "objects": usage.objects if usage else 0, "files": usage.files if usage else 0,
            "bytes": usage.bytes if usage else 0, "newestId": usage.newest_id if usage else None,
            "maxSize": usage.max_size if usage else None, **self.stats,
        }

    def summary(self) -> dict[str, Any]:
        """What ``status`` reports that the store cannot tell, kept in the job's record when it is retired."""
        return {**self.stats, "seq": self.seq, "epoch": self.epoch, "lastInletError": self.last_inlet_error,
                "skippedRecords": self.source.skipped, "warnings": self.source.warnings[-5:]}

    def written_jobs(self) -> set[str]:
        """The jobs whose id clocks this runner opened: its own and those its inlet stored to."""
        return set(self._written)

    def close(self) -> None:
        """Stop the source and close the sockets (their ports are free again)."""
        self.source.close()
        self.pub.close(linger=0)
        self.pull.close(linger=0)


def _bind(socket: zmq.Socket, host: str, port: int) -> int:
    """Bind ``port`` if given and free (a restart keeps its ports), else a random one."""
    if port:
        try:
            socket.bind(f"tcp://{host}:{port}")
            return port
        except zmq.ZMQError:
            log.warning("port %d is taken; binding another", port)
    return socket.bind_to_random_port(f"tcp://{host}")
