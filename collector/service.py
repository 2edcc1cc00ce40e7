"""The Nectar Collector service.

Sockets:

- control: REP, bound at ``--control`` (default ``tcp://127.0.0.1:5555``); JSON
  requests and replies, see collector.protocol.
- per job, PUB bound at ``tcp://<bind host>:<dispatchPort>``: every stored file's
  objects, with per-job sequence numbers; a subscriber that does not read has
  about ``publish_bytes`` queued for it at most, then misses files (a gap in seq)
  and reads them from the store.
- per job, PULL bound at ``tcp://<bind host>:<collectorPort>``: the storage inlet;
  NOM arrays pushed by peers (Dispatch's reducer outputs) to be stored.

One thread runs the loop (``step``); files are committed in groups by the
store's writer (see ``writer_kind``): its threads in this process where the
store's C module is built (a group's system calls then run with the
interpreter lock released once), else a process of its own
(nom.writer_process, so that writing does not compete with making tweets for
the lock). The X source fetches on a thread of its own. A
restarted collector resumes every job whose record says running or paused; one
it cannot resume is marked failed, with the reason as its lastError.

A job that stops, finishes or fails gives back everything it held (its source,
both sockets and their ports, its id clock): what it did stays in its record
(``job.json``: state, error, counts) and its files, and is listed from there. A
start that fails changes nothing: what it had made is closed and its folder
removed, and a start is refused while fewer than ``FD_HEADROOM`` file
descriptors are free (libzmq aborts the process when it runs out while binding).
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import zmq

from collector import protocol
from collector.job import JobRecord, JobState, new_job_id
from collector.protocol import ProtocolError, error_reply
from collector.runner import PUBLISH_BYTES, JobRunner
from collector.sources import SourceError, make_source
from nom import GroupWriter, Nom, NomError, Store, tweet_type
from nom.errors import clip, failure
from nom.inflight import GROUPS_IN_C
from nom.keys import Keys, check_binding, refuse_if_in_use
from nom.writer_process import ProcessWriter

__all__ = ["Collector", "writer_kind"]

log = logging.getLogger("collector")

FD_HEADROOM = 64  # descriptors a start leaves free: a job takes about 7; clients, writes and peers need the rest


def writer_kind(asked: str = "auto") -> str:
    """The writer a collector runs: "thread" or "process" as asked; "auto" takes threads where the store's
    C module is built. Measured side by side (4 turns of 4 s, synthetic job, this 2-core VM): threads
    stored 315k objects/s against 271k for the process, and cost 3.0 against 4.6 us of CPU an object on
    tmpfs: the process's pipes copied every array four times more. Without the C module each system call
    of a group gives up the lock, and the writer's threads then wait behind the loop that makes tweets."""
    if asked not in ("auto", "process", "thread"):
        raise ValueError(f"writer must be 'auto', 'process' or 'thread', got {asked!r}")
    if asked == "auto":
        return "thread" if GROUPS_IN_C else "process"
    return asked


class Collector:
    """Serves job requests and runs the jobs."""

    def __init__(self, nom_root: str | Path, *, control: str = protocol.CONTROL_ENDPOINT,
                 host_name: str = "127.0.0.1", bind_host: str = "127.0.0.1", x_token: str | None = None,
                 flush_latency: float = 1.0, publish_hwm: int = 2000, publish_bytes: int = PUBLISH_BYTES,
                 base_dir: str | None = None,
                 ctx: zmq.Context | None = None, keys: Keys | None = None, insecure: bool = False,
                 writer: str = "auto") -> None:
        """Open the store and start its writer (see ``writer_kind``); nothing is bound until ``start``."""
        self.writer_kind = writer_kind(writer)
        self.store = Store(nom_root)
        self.writer: GroupWriter | ProcessWriter = (
            ProcessWriter(self.store.root) if self.writer_kind == "process" else GroupWriter(self.store))
        self.control_endpoint = control
        self.host_name = host_name
        self.bind_host = bind_host
        self.x_token = x_token
        self.flush_latency = flush_latency
        self.publish_hwm = publish_hwm
        self.publish_bytes = publish_bytes
        self.base_dir = base_dir or os.getcwd()
        self.ctx = ctx or zmq.Context.instance()
        self.jobs: dict[str, JobRunner] = {}
        self.epoch = time.time_ns()
        self.started = time.monotonic()
        self.running = False
        self.requests = 0
        self.bad_requests = 0
        self.control: zmq.Socket | None = None
        self.keys = keys
        self.insecure = insecure
        self.auth = None

    def start(self) -> None:
        """Bind the control socket (refusing an endpoint in use) and resume unfinished jobs."""
        check_binding([self.control_endpoint, f"tcp://{self.bind_host}:0"], self.keys, self.insecure)
        if self.keys is not None:
            self.auth = self.keys.start_authenticator(self.ctx)
        refuse_if_in_use(self.control_endpoint, self.ctx)
        self.control = self.ctx.socket(zmq.REP)
        if self.keys is not None:
            self.keys.serve(self.control)
        self.control.setsockopt(zmq.LINGER, 0)
        self.control.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_MESSAGE_BYTES)
        self.control.bind(self.control_endpoint)
        self.control_endpoint = self.control.getsockopt_string(zmq.LAST_ENDPOINT)
        self._poller = zmq.Poller()
        self._poller.register(self.control, zmq.POLLIN)
        self._poller.register(self.writer.fileno(), zmq.POLLIN)
        self.running = True
        log.info("collector %d started: control %s, store %s", os.getpid(), self.control_endpoint, self.store.root)
        threading.Thread(target=self._warm_indexes, name="warm-indexes", daemon=True).start()
        for job in self.store.jobs():
            self._resume(job)

    def _resume(self, job: str) -> None:
        """Resume ``job`` if its record says it was live; if it cannot be, its record says failed, and why."""
        try:
            stored = self.store.read_meta(job, "job")
            if not isinstance(stored, dict) or stored.get("state") not in (JobState.RUNNING, JobState.PAUSED):
                return
            record = JobRecord.from_dict(stored)
        except (NomError, OSError, TypeError, ValueError) as exc:
            log.error("job %s: its record cannot be read, so it is not resumed: %s", job, clip(str(exc)))
            return
        try:
            self.jobs[job] = self._launch(record)
            log.info("job %s resumed", job)
        except Exception as exc:  # noqa: BLE001 - one job that cannot resume must not keep the others down
            record.state = JobState.FAILED
            record.error = clip(f"not resumed when the collector started: {exc}")
            self._save(record)
            log.error("job %s could not be resumed: %s", job, failure(exc))

    def _warm_indexes(self) -> None:
        """Load every job's index in the background, so the first listJobs answers fast."""
        for job in self.store.jobs():
            try:
                self.store.usage(job)
            except (OSError, NomError):
                continue

    # -- the loop -----------------------------------------------------------

    def step(self, now: float | None = None, max_wait: float = 0.05) -> int:
        """Answer pending requests and advance every job once; wait at most ``max_wait`` for a request."""
        assert self.control is not None, "start() first"
        now = time.monotonic() if now is None else now
        wait = min([max_wait] + [runner.next_due(now) for runner in self.jobs.values()])
        ready = dict(self._poller.poll(int(wait * 1000)))
        if self.writer.fileno() in ready:  # files became durable: publish them now (in runner.step)
            self.writer.clear_signal()
        if self.control in ready:
            self._answer()
        moved = 0
        for runner in list(self.jobs.values()):
            before = runner.record.state
            try:
                moved += runner.step()
            except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the others or the service
                runner.fail(f"internal error: {type(exc).__name__}: {exc}")
                log.error("job %s failed: %s", runner.job, failure(exc))
            if not runner.record.state.is_live:
                self._retire(runner)
            elif runner.record.state is not before:
                self._save(runner.record)
        return moved

    def run(self) -> None:
        """Step until ``running`` is cleared (by SIGTERM or ``stop``), then shut down cleanly."""
        try:
            while self.running:
                self.step()
        finally:
            self.close()

    def close(self) -> None:
        """Store what is buffered, checkpoint every job, close every socket."""
        self.running = False
        for runner in self.jobs.values():
            runner.drain()
            self._save(runner.record)
            runner.close()
        self.writer.close()
        if self.control is not None:
            self.control.close(linger=0)
            self.control = None
        if self.auth is not None:
            self.auth.stop()
        log.info("collector %d stopped", os.getpid())

    # -- requests -----------------------------------------------------------

    def _answer(self) -> None:
        assert self.control is not None
        try:
            raw = self.control.recv(zmq.NOBLOCK)
        except zmq.Again:
            return
        reply = self.handle(raw)
        self.control.send(orjson.dumps(reply, default=str))

    def handle(self, raw: bytes) -> dict[str, Any]:
        """Serve one control request (a JSON document) and return the reply; never raises."""
        self.requests += 1
        try:
            action, request = protocol.decode_request(raw)
            handler = getattr(self, "_on_" + action)
            return handler(request)
        except (ProtocolError, SourceError, NomError) as exc:
            self.bad_requests += 1
            log.warning("bad request: %s", clip(str(exc)))
            return error_reply(str(exc), getattr(exc, "field", None))
        except Exception as exc:  # noqa: BLE001 - the service stays up whatever a request does
            self.bad_requests += 1
            log.error("request failed: %s", failure(exc))
            return error_reply(f"internal error: {type(exc).__name__}: {exc}")

    def _on_newCollectorJob(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - the action's name
        job_request = protocol.decode_job_request(request)
        self._check_headroom()
        job_id = new_job_id(job_request.search_terms)
        while self.store.exists(job_id):
            job_id = new_job_id(job_request.search_terms)
        type_returned = tweet_type(job_request.search_terms)
        record = JobRecord(job_id=job_id, request=request, reply={}, created=time.time_ns())
        try:
            runner = self._launch(record, max_size=job_request.max_size)
        except BaseException as exc:
            self._remove_new_job(job_id)
            if isinstance(exc, (OSError, zmq.ZMQError)):
                raise ProtocolError(f"job not started (nothing was kept): {exc}") from None
            raise
        try:
            reply = Nom(self.store.new_ids(job_id, 1)[0], "data.collector.job", {
                "jobId": job_id, "jobName": job_request.job_name, "searchTerms": job_request.search_terms,
                "hostName": self.host_name, "dispatchPort": record.dispatch_port,
                "collectorPort": record.collector_port, "typeReturned": type_returned, "source": runner.source.kind,
                "note": runner.source.note,
            }).to_dict()
            record.reply = reply
            record.note = runner.source.note
            self.store.write_meta(job_id, "job", record.to_dict())  # a job without its record would be lost
        except BaseException as exc:
            runner.close()
            self._remove_new_job(job_id)
            if isinstance(exc, (OSError, zmq.ZMQError)):
                raise ProtocolError(f"job not started (nothing was kept): {exc}") from None
            raise
        self.jobs[job_id] = runner
        log.info("job %s started: %s source, ports %d/%d", job_id, runner.source.kind, record.dispatch_port,
                 record.collector_port)
        return reply

    def _check_headroom(self) -> None:
        """Refuse a start unless ``FD_HEADROOM`` file descriptors stay free (see the module docstring)."""
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        try:
            used = len(os.listdir("/proc/self/fd"))
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE):
                return  # no /proc: nothing to go by
            used = soft
        if soft != resource.RLIM_INFINITY and soft - used < FD_HEADROOM:
            raise ProtocolError(f"job not started: the collector has {used} of its {soft} file descriptors open "
                                f"and keeps {FD_HEADROOM} free for its clients and writes (a job takes about 7); "
                                f"stop a job or raise the limit (ulimit -n) before starting the collector")

    def _remove_new_job(self, job_id: str) -> None:
        """Undo a start that failed: forget the job's clock and index and remove the folder it had made."""
        self.store.release(job_id)
        shutil.rmtree(self.store.job_dir(job_id), ignore_errors=True)

    def _launch(self, record: JobRecord, max_size: int | None = None) -> JobRunner:
        """A runner for ``record``, not yet among ``jobs``; on failure nothing it made stays open."""
        request = record.request
        checkpoint = self.store.read_meta(record.job_id, "checkpoint", {}) if self.store.exists(record.job_id) else {}
        source = make_source(request.get("source"), request["searchTerms"], (checkpoint or {}).get("position"),
                             token=self.x_token, base_dir=self.base_dir)
        if not record.reply:  # a new job: the reply's typeReturned is needed by the runner
            record.reply = {"data": {"typeReturned": tweet_type(request["searchTerms"])}}
        try:
            self.store.job_dir(record.job_id, create=True)
            if max_size is not None:
                self.store.set_max_size(record.job_id, max_size)
            runner = JobRunner(record, source, self.store, self.writer, self.ctx, bind_host=self.bind_host,
                               flush_latency=self.flush_latency, publish_hwm=self.publish_hwm,
                               publish_bytes=self.publish_bytes, epoch=self.epoch, keys=self.keys)
        except BaseException:
            source.close()
            self.store.release(record.job_id)
            raise
        record.state = JobState.RUNNING if record.state is JobState.PAUSED else record.state
        return runner

    def _retire(self, runner: JobRunner) -> None:
        """A job that is no longer live gives back what it holds (see the module docstring)."""
        runner.drain()
        runner.record.extra["stats"] = runner.summary()
        self._save(runner.record)
        runner.close()
        for job in runner.written_jobs():
            self.store.release(job)
        self.jobs.pop(runner.job, None)

    def _save(self, record: JobRecord) -> None:
        try:
            self.store.write_meta(record.job_id, "job", record.to_dict())
        except OSError as exc:  # a full disk: the record is rewritten at the next change of state
            log.error("job %s: record not written: %s", record.job_id, exc)

    def _on_stopCollectorJob(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        job_id = protocol.job_id_field(request)
        runner = self.jobs.get(job_id)
        if runner is None:  # stopped, finished or failed before: nothing runs, nothing changes
            record = self.store.read_meta(job_id, "job", None) if self.store.exists(job_id) else None
            if not isinstance(record, dict):
                raise ProtocolError(f"no job {job_id!r} in this collector (listJobs shows them)", field="jobId")
            return {"jobId": job_id, "state": record.get("state", "stored")}
        runner.drain()  # what the source gave is stored before the job stops
        runner.record.state = JobState.STOPPED
        self._retire(runner)
        log.info("job %s stopped", runner.job)
        return {"jobId": runner.job, "state": runner.record.state.value}

    def _on_listJobs(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """Every job in the store: live ones from their runners, the rest (and derived jobs) from the store."""
        out = [runner.status() for runner in self.jobs.values()]
        out += [self._stored_status(job) for job in self.store.jobs() if job not in self.jobs]
        return {"jobs": out}

    def _on_jobStatus(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        job_id = protocol.job_id_field(request)
        if job_id in self.jobs:
            status = self.jobs[job_id].status()
        elif self.store.exists(job_id):
            status = self._stored_status(job_id)
        else:
            raise ProtocolError(f"no job {job_id!r} in the store at {self.store.root}", field="jobId")
        usage = self.store.usage(job_id)
        status.update(oldestId=usage.oldest_id, quarantined=usage.quarantined,
                      request=self.store.read_meta(job_id, "job", {}).get("request"))
        return status

    def _stored_status(self, job_id: str) -> dict[str, Any]:
        """What the store knows of a job no runner holds: finished, stopped, failed, or derived (results)."""
        try:
            record = self.store.read_meta(job_id, "job", None)
        except NomError as exc:  # a record that cannot be read is reported, not fatal to the listing
            record = {"state": "unknown", "error": clip(str(exc))}
        record = record if isinstance(record, dict) else {}
        usage = self.store.usage(job_id)
        request = record.get("request") or {}
        reply = (record.get("reply") or {}).get("data") or {}
        saved = (record.get("extra") or {}).get("stats") or {}
        status = {"jobId": job_id, "jobName": request.get("jobName", ""), "state": record.get("state", "stored"),
                  "lastError": record.get("error"),
                  "source": reply.get("source") or (request.get("source") or {}).get("kind", "synthetic")
                  if request else "results", "note": record.get("note", ""), "typeReturned": reply.get("typeReturned"),
                  "objects": usage.objects, "files": usage.files, "bytes": usage.bytes, "newestId": usage.newest_id,
                  "maxSize": usage.max_size, "rate": 0.0, "stored": usage.objects}
        status.update({k: v for k, v in saved.items() if k not in status or k == "stored"})
        return status

    def _on_setJobMaxSize(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        job_id = protocol.job_id_field(request)
        if job_id not in self.jobs and not self.store.exists(job_id):
            raise ProtocolError(f"no job {job_id!r} in the store at {self.store.root}", field="jobId")
        max_size = protocol.decode_max_size(request)
        deleted = self.store.set_max_size(job_id, max_size)
        return {"jobId": job_id, "maxSize": self.store.max_size(job_id), "deletedFiles": len(deleted)}

    def _on_ping(self, request: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"pong": True, "service": "collector", "pid": os.getpid(), "uptime": time.monotonic() - self.started,
                "jobs": len(self.jobs), "requests": self.requests, "badRequests": self.bad_requests,
                "writerPending": self.writer.pending(), "nomRoot": str(self.store.root)}
