"""The Nectar Collector service: job requests in, tweets stored and published out.

Sockets:

- control: REP, bound at ``--control`` (default ``tcp://127.0.0.1:5555``); JSON
  requests and replies, see collector.protocol (served by the skeleton nom.net.service).
- per job, PUB bound at ``tcp://<bind host>:<dispatchPort>``: every stored file's
  objects, with per-job sequence numbers; a subscriber that does not read has
  about ``publish_bytes`` queued for it at most, then misses files (a gap in seq)
  and reads them from the store.
- per job, PULL bound at ``tcp://<bind host>:<collectorPort>``: the storage inlet;
  NOM arrays pushed by peers (Dispatch's reducer outputs) to be stored.

One thread runs the loop (``step``); files are committed in groups by the
store's writer (``--writer``, see nom.store.commit.open_writer): its threads in
this process where the store's C module is built (a group's system calls then
run with the interpreter lock released once), else a process of its own, so
that writing does not compete with making tweets for the lock. The X source
fetches on a thread of its own. A restarted collector resumes every job whose
record says running or paused; one it cannot resume is marked failed, with the
reason as its lastError.

A job that stops, finishes or fails gives back everything it held (its source,
both sockets and their ports, its id clock): what it did stays in its record
(``job.json``: state, error, counts) and its files, and is listed from there. A
start that fails changes nothing: what it had made is closed and its folder
removed, and a start is refused while fewer than ``FD_HEADROOM`` file
descriptors are free (libzmq aborts the process when it runs out while binding).
"""

from __future__ import annotations

import argparse
import errno
import gc
import os
import resource
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import zmq

from collector import protocol
from collector.files import job_files
from collector.job import JobRecord, JobState, new_job_id
from collector.runner import PUBLISH_BYTES, JobRunner
from collector.sources import make_source, x_token
from nom import Nom, NomError, ProtocolError, failure, shorten, slug
from nom.net import ControlService, CurveKeys, Handler
from nom.store import WRITER_KINDS

__all__ = ["FD_HEADROOM", "Collector"]

FD_HEADROOM = 64  # descriptors a start leaves free: a job takes about 7; clients, writes and peers need the rest


class Collector(ControlService):
    """Serves job requests and runs the jobs."""

    name = "collector"
    prog = "nectar-collector"
    description = "The Nectar Collector service."
    default_control = protocol.CONTROL_ENDPOINT
    max_message_bytes: ClassVar[int] = protocol.MAX_MESSAGE_BYTES

    def __init__(self, nom_root: str | Path, *, control: str = protocol.CONTROL_ENDPOINT,
                 host_name: str = "127.0.0.1", bind_host: str = "127.0.0.1", x_token: str | None = None,
                 flush_latency: float = 1.0, publish_hwm: int = 2000, publish_bytes: int = PUBLISH_BYTES,
                 base_dir: str | None = None, ctx: zmq.Context | None = None, keys: CurveKeys | None = None,
                 insecure: bool = False, writer: str = "auto") -> None:
        """Open the store and start its writer ("thread", "process" or "auto"); nothing is bound until ``start``."""
        super().__init__(nom_root, control=control, ctx=ctx, keys=keys, insecure=insecure)
        self.writer = self.store.writer(writer)
        self.writer_kind = self.writer.kind
        self.host_name = host_name
        self.bind_host = bind_host
        self.x_token = x_token
        self.flush_latency = flush_latency
        self.publish_hwm = publish_hwm
        self.publish_bytes = publish_bytes
        self.base_dir = base_dir or os.getcwd()
        self.jobs: dict[str, JobRunner] = {}
        self.epoch = time.time_ns()

    def actions(self) -> dict[str, Handler]:
        """The table from action name to handler (the actions of collector.protocol)."""
        return {"newCollectorJob": self.new_job, "stopCollectorJob": self.stop_job, "listJobs": self.list_jobs,
                "jobStatus": self.job_status, "setJobMaxSize": self.set_job_max_size, "ping": self.ping,
                "jobFiles": lambda request: job_files(self.store, request)}

    def endpoints(self) -> list[str]:
        """The control endpoint, and the host every job's sockets bind."""
        return [self.control_endpoint, f"tcp://{self.bind_host}:0"]

    def on_start(self) -> None:
        """Watch the writer beside the control socket, and resume unfinished jobs."""
        assert self.control is not None
        self._poller = zmq.Poller()
        self._poller.register(self.control, zmq.POLLIN)
        self._poller.register(self.writer.fileno(), zmq.POLLIN)
        self.log.info("collector %d started: control %s, store %s", os.getpid(), self.control_endpoint,
                      self.store.root)
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
            self.log.error("job %s: its record cannot be read, so it is not resumed: %s", job, shorten(str(exc)))
            return
        try:
            self.jobs[job] = self._launch(record)
            self.log.info("job %s resumed", job)
        except Exception as exc:  # noqa: BLE001 - one job that cannot resume must not keep the others down
            record.state = JobState.FAILED
            record.error = shorten(f"not resumed when the collector started: {exc}")
            self._save(record)
            self.log.error("job %s could not be resumed: %s", job, failure(exc))

    def _warm_indexes(self) -> None:
        """Load every job's index in the background, so the first listJobs answers fast."""
        for job in self.store.jobs():
            try:
                self.store.usage(job)
            except (OSError, NomError):
                continue

    # -- the loop -----------------------------------------------------------

    def step(self, now: float | None = None, max_wait: float = 0.05) -> int:
        """Answer a pending request and advance every job once; wait at most ``max_wait`` for a request or a
        job's next due time. ``now``: the loop's clock (time.monotonic() after the wait when None)."""
        assert self.control is not None, "start() first"
        clock = time.monotonic() if now is None else now
        wait = min([max_wait] + [runner.next_due(clock) for runner in self.jobs.values()])
        ready = dict(self._poller.poll(int(wait * 1000)))
        if self.writer.fileno() in ready:  # files became durable: publish them now (in runner.step)
            self.writer.clear_signal()
        if self.control in ready:
            self.answer()
        if now is None:
            clock = time.monotonic()  # the wait has passed
        moved = 0
        for runner in list(self.jobs.values()):
            before = runner.record.state
            try:
                moved += runner.step(clock)
            except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the others or the service
                runner.fail(f"internal error: {type(exc).__name__}: {exc}")
                self.log.error("job %s failed: %s", runner.job, failure(exc))
            if not runner.record.state.is_live:
                self._retire(runner)
            elif runner.record.state is not before:
                self._save(runner.record)
        return moved

    def on_close(self) -> None:
        """Store what is buffered, checkpoint every job, close their sockets and the writer."""
        for runner in self.jobs.values():
            runner.drain()
            self._save(runner.record)
            runner.close()
        self.writer.close()

    # -- the command line ---------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """The collector's own options."""
        parser.add_argument("--host-name", default="127.0.0.1",
                            help="the address peers use to reach this collector, reported as hostName "
                                 "(default 127.0.0.1)")
        parser.add_argument("--bind-host", default="127.0.0.1",
                            help="the address the job sockets bind (default 127.0.0.1, loopback only)")
        parser.add_argument("--flush-latency", type=float, default=1.0,
                            help="seconds a partly filled array may wait before it is stored (default 1)")
        parser.add_argument("--publish-hwm", type=int, default=2000,
                            help="messages queued per subscriber at most before newer ones are dropped (seen as a "
                                 "seq gap, healed from the store)")
        parser.add_argument("--publish-bytes", type=int, default=PUBLISH_BYTES,
                            help=f"bytes queued per subscriber at most (default {PUBLISH_BYTES // 2**20} MiB): the "
                                 "queue holds this many bytes of a job's files, sized from the files it stores")
        parser.add_argument("--writer", choices=WRITER_KINDS, default="auto",
                            help="commit files in threads of this process or in a process of their own; auto "
                                 "(the default): threads where the store's C module is built, else a process")

    @classmethod
    def from_args(cls, args: argparse.Namespace, keys: CurveKeys | None) -> Collector:
        """The collector the command line asks for, with the interpreter tuned for making objects fast."""
        # Most of the objects the loop makes are garbage a moment later: a young collection every 700
        # allocations took a large share of the loop (bench/collector.py); cycles are still collected, later.
        gc.set_threshold(50_000, 20, 20)
        collector = cls(args.nom_root, control=args.control, host_name=args.host_name, bind_host=args.bind_host,
                        x_token=x_token(), flush_latency=args.flush_latency, publish_hwm=args.publish_hwm,
                        publish_bytes=args.publish_bytes, keys=keys, insecure=args.insecure, writer=args.writer)
        if collector.writer_kind == "thread":
            # The writer's threads take the interpreter lock a few times a group; behind the loop that makes
            # tweets each would wait up to the 5 ms default switch interval while the disk idles.
            sys.setswitchinterval(0.0005)
        return collector

    # -- requests -----------------------------------------------------------

    def new_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """``newCollectorJob``: check the request, start the job, answer its data.collector.job object."""
        job_request = protocol.decode_job_request(request)
        self._check_headroom()
        if "jobId" in request:
            job_id = request["jobId"]
            if self.store.exists(job_id):
                raise ProtocolError(f"job {job_id!r} exists already ('show jobs' lists it); name another",
                                    field="jobId")
        else:
            job_id = new_job_id(job_request.search_terms)
            while self.store.exists(job_id):
                job_id = new_job_id(job_request.search_terms)
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
                "collectorPort": record.collector_port, "typeReturned": runner.type, "source": runner.source.kind,
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
        self.log.info("job %s started: %s source, ports %d/%d", job_id, runner.source.kind, record.dispatch_port,
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
            record.reply = {"data": {"typeReturned": f"data.{source.type_word}-{slug(request['searchTerms'])}"}}
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
            self.log.error("job %s: record not written: %s", record.job_id, exc)

    def stop_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """``stopCollectorJob``: store what is buffered and stop collecting (what it stored stays)."""
        job_id = protocol.job_id_field(request)
        runner = self.jobs.get(job_id)
        if runner is None:  # stopped, finished or failed before: nothing runs, nothing changes
            record = self.store.read_meta(job_id, "job", None) if self.store.exists(job_id) else None
            if not isinstance(record, dict):
                raise ProtocolError(f"no job {job_id!r} in this collector ('show jobs' lists them)", field="jobId")
            return {"jobId": job_id, "state": record.get("state", "stored")}
        runner.drain()  # what the source gave is stored before the job stops
        runner.record.state = JobState.STOPPED
        self._retire(runner)
        self.log.info("job %s stopped", runner.job)
        return {"jobId": runner.job, "state": runner.record.state.value}

    def list_jobs(self, request: dict[str, Any]) -> dict[str, Any]:
        """``listJobs``: every job in the store: live ones from their runners, the rest (and derived jobs) from
        the store."""
        out = [runner.status() for runner in self.jobs.values()]
        out += [self._stored_status(job) for job in self.store.jobs() if job not in self.jobs]
        return {"jobs": out}

    def job_status(self, request: dict[str, Any]) -> dict[str, Any]:
        """``jobStatus``: one job's status, with its request and storage."""
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
            record = {"state": "unknown", "error": shorten(str(exc))}
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

    def set_job_max_size(self, request: dict[str, Any]) -> dict[str, Any]:
        """``setJobMaxSize``: set a job's retention cap and apply it now."""
        job_id = protocol.job_id_field(request)
        if job_id not in self.jobs and not self.store.exists(job_id):
            raise ProtocolError(f"no job {job_id!r} in the store at {self.store.root}", field="jobId")
        max_size = protocol.decode_max_size(request)
        if request.get("dryRun") is True:  # what it would delete, changing nothing (the shell asks first)
            doomed = self.store.retention_preview(job_id, max_size)
            return {"jobId": job_id, "maxSize": self.store.max_size(job_id), "dryRun": True,
                    "wouldDeleteFiles": len(doomed), "wouldDeleteBytes": sum(f.bytes for f in doomed)}
        force = request.get("force", False)  # delete files kept snapshots pin too (they are marked evicted)
        if not isinstance(force, bool):
            raise ProtocolError(f"force must be true or false, got {force!r}", field="force")
        deleted = self.store.set_max_size(job_id, max_size, force=force)
        return {"jobId": job_id, "maxSize": self.store.max_size(job_id), "deletedFiles": len(deleted),
                "deletedBytes": sum(f.bytes for f in deleted), "pinnedFiles": len(self.store.pinned(job_id).holders)}

    def ping(self, request: dict[str, Any]) -> dict[str, Any]:
        """``ping``: whether the collector answers, and a little about it."""
        return {"pong": True, "service": "collector", "pid": os.getpid(), "uptime": time.monotonic() - self.started,
                "jobs": len(self.jobs), "requests": self.requests, "badRequests": self.bad_requests,
                "writerPending": self.writer.pending(), "nomRoot": str(self.store.root)}
