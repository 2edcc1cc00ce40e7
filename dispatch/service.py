"""The Dispatch service: attaches to collector jobs, caches, runs applies on engines, keeps standing reductions.

Sockets:

- control: REP, bound at ``--control`` (default ``tcp://127.0.0.1:5556``); JSON
  requests and replies, see dispatch.protocol (served by the skeleton nom.net.service).
- per attached job, SUB connected to ``tcp://<hostName>:<dispatchPort>`` (objects in)
  and PUSH connected to ``tcp://<hostName>:<collectorPort>`` (results out), see dispatch.attach.
- the local engine's ROUTER on a random loopback port, one DEALER per worker process,
  see dispatch.engines.local and dispatch.engines.worker.
- events: PUB, bound at the control endpoint's host on any free port (``--events`` to choose); files added,
  snapshots made, standing results updated, see dispatch.events (the ``watch`` action says where).

One thread runs ``step``: requests, attachments, engine progress, standing
reductions, result emission and checkpoints. Results of jobs that are not
attached are written straight to the store.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import orjson
import zmq

from dispatch import protocol
from dispatch.applies import Apply, ApplyState
from dispatch.attach import LOOPBACK, Attachment
from dispatch.books import apply_book, list_books
from dispatch.cache import Cache
from dispatch.dates import parse_range
from dispatch.engines import DEAD_AFTER, ApplySpec, Engine, LocalEngine
from dispatch.events import Events
from dispatch.functions import MAP_NAMES, REDUCE_NAMES, finish, parse_specifier, resolve_map, resolve_reduce
from dispatch.functions.catalog import catalog, result_warnings
from dispatch.functions.index import IndexResult
from dispatch.functions.user import use_functions_path
from dispatch.protocol import result_job, result_type
from dispatch.provenance import CHAIN_START
from dispatch.search import Searcher
from dispatch.snapshots import SnapshotActions
from dispatch.standing import StandingReduction, checkpoint_name
from nom import CLOCKS, ProtocolError, StoreError, quote
from nom.net import ControlService, CurveKeys, Handler
from nom.store import GRACE_NS

__all__ = ["Dispatcher"]

EMIT_EVERY = 1.0  # seconds between stored updates of a standing result (while it changes)
CHECKPOINT_EVERY = 0.5
STANDING_EMIT_TOP = 1000
INDEX_POSTINGS_PER_OBJECT = 500_000  # an index's stored result: about this many postings (5 MB in base64) an object
STANDING_INDEX_POSTINGS = 100_000  # a standing index stores its top terms up to this many postings
KEEP_FINISHED = 50
STANDING_SNAPSHOTS_KEPT = 10  # result snapshots a standing apply keeps stored (the newest)


class Dispatcher(ControlService):
    """Attaches to jobs and runs applies."""

    name = "dispatch"
    prog = "nectar-dispatch"
    description = "The Nectar Dispatch service."
    default_control = protocol.CONTROL_ENDPOINT
    max_message_bytes: ClassVar[int] = protocol.MAX_MESSAGE_BYTES
    reply_options: ClassVar[int] = orjson.OPT_NON_STR_KEYS

    def __init__(self, nom_root: str | Path, *, control: str = protocol.CONTROL_ENDPOINT, workers: int | None = None,
                 cache_objects: int = 50_000, cache_bytes: int = 64 * 2**20, ctx: zmq.Context | None = None,
                 engine: str = "local", spark_master: str = "local[*]", spark_conf: dict[str, str] | None = None,
                 attach_hosts: frozenset[str] = LOOPBACK, keys: CurveKeys | None = None,
                 insecure: bool = False, events: str | None = None, events_hwm: int = 10_000,
                 events_sndbuf: int = -1, books: str | Path | None = None) -> None:
        """Open the store; nothing is bound and no engine started until ``start``."""
        super().__init__(nom_root, control=control, ctx=ctx, keys=keys, insecure=insecure)
        # the folder applyBook names books in (dispatch.books)
        self.books = Path(books).absolute() if books else Path(nom_root).absolute().parent / "books"
        self.cache = Cache(cache_objects, cache_bytes)
        self.workers = workers or os.cpu_count() or 2
        if engine not in protocol.ENGINES:
            raise ValueError(f"engine must be one of {', '.join(protocol.ENGINES)}, got {engine!r}")
        self.default_engine = engine
        self.spark_master = spark_master
        self.spark_conf = spark_conf or {}
        self.engines: dict[str, Engine] = {}
        self.attach_hosts = attach_hosts  # collectors it may connect to: no message sends it elsewhere
        self.attached: dict[str, Attachment] = {}
        self.applies: dict[str, Apply] = {}
        self._last_checkpoint = 0.0
        self.events_endpoint = events  # None: the control endpoint's host, any free port
        self.events_hwm, self.events_sndbuf = events_hwm, events_sndbuf
        self.events: Events | None = None
        self.snapshot_actions = SnapshotActions(self)

    def actions(self) -> dict[str, Handler]:
        """The table from action name to handler (the actions of dispatch.protocol)."""
        return {"attach": self.attach, "detach": self.detach, "apply": self.apply, "status": self.status,
                "cancel": self.cancel, "listApplies": self.list_applies, "showCache": self.show_cache,
                "ping": self.ping, "search": Searcher(self).search, **self.snapshot_actions.table(),
                "applyBook": lambda request: apply_book(self, request),
                "listBooks": lambda request: list_books(self, request),
                "functions": lambda request: catalog()}

    # -- life ---------------------------------------------------------------

    def on_start(self) -> None:
        """Start the engine, resume standing reductions."""
        host = self.control_endpoint.rsplit(":", 1)[0]
        self.events = Events(self.store, self.ctx, self.events_endpoint or f"{host}:*", self.keys,
                             hwm=self.events_hwm, sndbuf=self.events_sndbuf)
        self.engines["local"] = LocalEngine(str(self.store.root), self.workers, ctx=self.ctx)
        if self.default_engine == "spark":
            self._engine("spark").session  # pay Spark's start-up once, now  # noqa: B018
        self._resume()
        self.log.info("dispatch %d started: control %s, %d workers", os.getpid(), self.control_endpoint,
                      self.workers)

    def _resume(self) -> None:
        for job in self.store.jobs():
            for path in sorted(self.store.job_dir(job).glob("apply-*.json")):
                try:
                    record = self.store.read_meta(job, path.stem)
                    spec = ApplySpec(**record["spec"])
                    apply = Apply(spec, standing=True, engine=record.get("engine", "local"),
                                  store=record.get("store", True) is not False)
                    if record.get("phase") == "standing":
                        apply.reduction = StandingReduction(
                            self.store, spec, self.cache, acc=record["acc"], follower_state=record["follower"],
                            objects=record.get("objects", 0), skipped=record.get("skipped", 0),
                            engine=self._engine(apply.engine), chain=record.get("chain", CHAIN_START))
                        apply.provenance = record.get("provenance")
                        apply.state = ApplyState.STANDING
                    else:  # killed during the batch part: do it again over the same files
                        self._start_batch(apply, record["follower"])
                    self.applies[spec.apply_id] = apply
                    self.log.info("standing apply %s resumed (%s)", spec.apply_id, apply.state.value)
                except Exception as exc:  # noqa: BLE001 - one bad record must not keep the others from resuming
                    self.log.error("cannot resume %s/%s: %s: %s", job, path.name, type(exc).__name__, exc)

    def step(self, now: float | None = None, max_wait: float = 0.05) -> None:
        """One round: a request if one is waiting, attachments, engines, standing reductions, emission.
        ``now``: the loop's clock (time.monotonic() when None, read again after each wait)."""
        assert self.control is not None, "start() first"
        busy = any(a.state is ApplyState.RUNNING for a in self.applies.values())
        if any(a.state is ApplyState.STANDING for a in self.applies.values()):
            max_wait = min(max_wait, 0.01)  # new files are noticed within 10 ms
        behind = any(a.reduction is not None and a.reduction.is_behind() for a in self.applies.values())
        if self.control.poll(0 if busy or behind else int(max_wait * 1000)):
            self.answer()
        clock = time.monotonic() if now is None else now
        # whatever fails inside one attachment or apply fails that one thing, never the loop (issue 16)
        for attachment in self.attached.values():
            if attachment.error is None:
                try:
                    attachment.step(clock)
                except Exception as exc:
                    self.log.exception("attachment %s failed", attachment.job)
                    attachment.error = f"{type(exc).__name__}: {str(exc)[:500]}"
        for engine in self.engines.values():
            try:
                engine.step(0.005 if busy else 0, now)
            except Exception:
                self.log.exception("engine %s: step failed", engine.name)
        if now is None:
            clock = time.monotonic()  # the engines may have waited
        for apply in list(self.applies.values()):
            try:
                self._advance(apply, clock)
            except Exception as exc:
                self.log.exception("apply %s failed", apply.spec.apply_id)
                self._fail(apply, f"{type(exc).__name__}: {str(exc)[:2000]}")
        if self.events is not None:
            try:
                self.events.step(clock, {*self.attached, *(a.spec.job for a in self.applies.values()
                                                          if a.state is ApplyState.STANDING)})
            except Exception:
                self.log.exception("events: step failed")
        if clock - self._last_checkpoint >= CHECKPOINT_EVERY:
            self._checkpoint_all()
            self._last_checkpoint = clock

    def on_close(self) -> None:
        """Checkpoint standing reductions, stop following, close the attachments and the engines."""
        self._checkpoint_all(force=True)
        for apply in self.applies.values():
            if apply.reduction is not None:
                apply.reduction.close()
        for attachment in self.attached.values():
            attachment.close()
        for engine in self.engines.values():
            engine.close()
        if self.events is not None:
            self.events.close()

    # -- the command line ---------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Dispatch's own options."""
        parser.add_argument("--functions-path", default=os.environ.get("NECTAR_FUNCTIONS_PATH", ""),
                            help="a folder of your function modules (package.module:function), for Dispatch and "
                                 "its workers; modules edited there are reloaded for the next apply")
        parser.add_argument("--stopwords", default=os.environ.get("NECTAR_STOPWORDS", ""), metavar="FILE",
                            help="your stopwords for words:stop, one a line, beside the shipped English list")
        parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                            help="local engine worker processes (default: the number of cores)")
        parser.add_argument("--cache-objects", type=int, default=50_000, help="cache bound in objects")
        parser.add_argument("--cache-bytes", type=int, default=64 * 2**20, help="cache bound in bytes")
        parser.add_argument("--engine", choices=protocol.ENGINES, default=os.environ.get("NECTAR_ENGINE", "local"),
                            help="the default engine of applies (default: local worker processes)")
        parser.add_argument("--spark-master", default=os.environ.get("NECTAR_SPARK_MASTER", "local[*]"),
                            help="Spark master URL (default local[*]; spark://host:7077, yarn, k8s://...)")
        parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                            help="a Spark setting, repeatable (e.g. spark.executor.memory=4g)")
        parser.add_argument("--books", default=None,
                            help="the books folder applyBook names books in (default: books/ beside the NOM root)")
        parser.add_argument("--events", default=None, metavar="ENDPOINT",
                            help="where to publish change events (default: the control host, any free port)")
        parser.add_argument("--events-hwm", type=int, default=10_000, metavar="EVENTS",
                            help="events queued for a slow subscriber before it misses some (it heals from the store)")
        parser.add_argument("--events-sndbuf", type=int, default=-1, metavar="BYTES",
                            help="the kernel's send buffer per subscriber (default -1: the system's)")
        parser.add_argument("--attach-hosts", default="127.0.0.1,localhost,::1",
                            help="collector hosts that attach may connect to, comma-separated ('*': any); "
                                 "default: loopback only")

    @classmethod
    def from_args(cls, args: argparse.Namespace, keys: CurveKeys | None) -> Dispatcher:
        """The Dispatch the command line asks for."""
        conf = dict(item.split("=", 1) for item in args.spark_conf if "=" in item)
        use_functions_path(args.functions_path)  # before any engine starts: its workers inherit it
        if args.stopwords:  # the workers inherit it too
            os.environ["NECTAR_STOPWORDS"] = str(Path(args.stopwords).expanduser().absolute())
        return cls(args.nom_root, control=args.control, workers=args.workers, cache_objects=args.cache_objects,
                   cache_bytes=args.cache_bytes, engine=args.engine, spark_master=args.spark_master, spark_conf=conf,
                   attach_hosts=frozenset(h.strip() for h in args.attach_hosts.split(",") if h.strip()),
                   keys=keys, insecure=args.insecure, events=args.events, events_hwm=args.events_hwm,
                   events_sndbuf=args.events_sndbuf, books=args.books)

    # -- applies ------------------------------------------------------------

    def _engine(self, name: str) -> Engine:
        """The engine called ``name``; Spark's is made on first use (SparkUnavailable if it cannot be)."""
        engine = self.engines.get(name)
        if engine is None and name == "spark":
            from dispatch.engines.spark import SparkEngine

            engine = self.engines["spark"] = SparkEngine(str(self.store.root), master=self.spark_master,
                                                         conf=self.spark_conf)
        if engine is None:
            raise ProtocolError(f"engine must be one of {', '.join(protocol.ENGINES)}, got {quote(name)}",
                                field="engine")
        return engine

    def _start_batch(self, apply: Apply, follower_state: dict[str, Any] | None = None) -> None:
        spec = apply.spec
        # one listing serves the batch part and the follower's consumed set: a file that landed between two
        # listings would be counted by neither
        listed = self.store.files(spec.job)
        files = [f for f in listed if f.overlaps(spec.from_id, spec.to_id, spec.by)]
        if follower_state is not None:  # a resumed standing apply: exactly the files it had counted as its batch
            consumed = set(follower_state.get("recent", []))
            files = [f for f in files if f.name in consumed or f.name <= follower_state["watermark"] - GRACE_NS]
        files = self.snapshot_actions.inputs_of(apply, listed, files)  # --at: the snapshot's; provenance set
        apply.files, apply.total = len(files), sum(f.objects for f in files)
        apply.run = self._engine(apply.engine).start(spec, files)
        apply.state = ApplyState.RUNNING
        if apply.standing:
            state = follower_state or StandingReduction.consumed_state(listed)
            self.store.write_meta(spec.job, checkpoint_name(spec.apply_id),
                                  {**self._record(apply), "phase": "batch", "follower": state})
            apply.pending_follower = state

    def _advance(self, apply: Apply, now: float) -> None:
        run = apply.run
        if apply.state is ApplyState.RUNNING and run is not None and (run.done or run.error):
            self._engine(apply.engine).forget(apply.spec.apply_id)
            if run.error:
                apply.state, apply.error = ApplyState.FAILED, run.error
                self._drop_checkpoint(apply)
                self.log.error("apply %s failed: %s", apply.spec.apply_id, run.error)
                return
            if apply.standing:
                apply.reduction = StandingReduction(self.store, apply.spec, self.cache, acc=run.acc,
                                                    follower_state=apply.pending_follower,
                                                    objects=run.objects, skipped=run.skipped,
                                                    engine=self._engine(apply.engine),
                                                    chain=(apply.provenance or {}).get("inputs", {}).get(
                                                        "chain") or CHAIN_START)
                apply.state = ApplyState.STANDING
                apply.reduction.checkpoint(self._record(apply), wait=True)
                self._emit(apply, now)
            else:
                marks = [time.perf_counter()]
                apply.result = finish(run.acc, run.reducer, keep=apply.keep())
                if isinstance(apply.result, IndexResult) and apply.store:  # its parts encoded while it is hashed
                    apply.result.encode_parts(INDEX_POSTINGS_PER_OBJECT)
                apply.state = ApplyState.DONE
                self.snapshot_actions.finish(apply)
                marks.append(time.perf_counter())
                self._emit(apply, now)
                self._trim_finished()
                marks.append(time.perf_counter())
                self.log.info("apply %s: finished, hashed and encoded in %.3fs, stored in %.3fs", apply.spec.apply_id,
                              marks[1] - marks[0], marks[2] - marks[1])
            self.log.info("apply %s: %d objects in %.3fs", apply.spec.apply_id, run.objects,
                          run.progress()["seconds"])
        elif apply.state is ApplyState.STANDING and apply.reduction is not None:
            apply.reduction.step(now)
            if apply.reduction.changed and now - apply.last_emit >= EMIT_EVERY:
                self._emit(apply, now)

    def _fail(self, apply: Apply, error: str) -> None:
        """End an apply as failed: its run, its reduction and its checkpoint go."""
        if apply.state is ApplyState.RUNNING and apply.run is not None:
            self._engine(apply.engine).cancel(apply.spec.apply_id)
        if apply.reduction is not None:
            try:
                apply.reduction.close()
            except Exception:
                self.log.exception("apply %s: closing its reduction failed", apply.spec.apply_id)
        apply.state, apply.error = ApplyState.FAILED, error
        self._drop_checkpoint(apply)

    def _record(self, apply: Apply) -> dict[str, Any]:
        return {"spec": asdict(apply.spec), "engine": apply.engine, "provenance": apply.provenance,
                "store": apply.store}

    def _checkpoint_all(self, force: bool = False) -> None:
        for apply in self.applies.values():
            reduction = apply.reduction
            if apply.state is ApplyState.STANDING and reduction is not None and (
                    reduction.changed_since_checkpoint or force):
                try:
                    reduction.checkpoint(self._record(apply), wait=force)
                except Exception:
                    self.log.exception("apply %s: checkpoint not written", apply.spec.apply_id)

    def _drop_checkpoint(self, apply: Apply) -> None:
        path = self.store.job_dir(apply.spec.job) / f"{checkpoint_name(apply.spec.apply_id)}.json"
        path.unlink(missing_ok=True)

    def _emit(self, apply: Apply, now: float) -> None:
        """Store the result as NOM objects of type data.<jobId>.<reduce> under the derived job (an index's in its
        compact form, one object of about half a million postings a file: under the inlet's 16 MiB)."""
        spec = apply.spec
        if apply.standing:
            self.snapshot_actions.standing_update(apply)
        if not apply.store:  # apply --no-store: its result is shown (status), never stored
            apply.last_emit, apply.emitted = now, apply.emitted + 1
            if apply.reduction is not None:
                apply.reduction.changed = False
            return
        view = apply.view()
        pairs = view if isinstance(view, IndexResult) else apply.current(STANDING_EMIT_TOP if apply.standing else None)
        encoded: list[dict[str, Any]] = []
        if isinstance(pairs, IndexResult) and not apply.standing:
            # an index is stored in its compact form (search reads it back after a restart): its postings as
            # JSON pairs would take ten times the time and the memory; status gives the pairs
            encoded = pairs.take_parts(INDEX_POSTINGS_PER_OBJECT)
            count, chunks, per_write = len(encoded), ([] for _ in encoded), len(encoded)
        elif isinstance(pairs, IndexResult):  # a standing index: its top terms, within a bound of postings
            count, chunks, per_write = 1, [next(pairs.parts(STANDING_INDEX_POSTINGS, STANDING_EMIT_TOP), [])], 1
        else:
            listed = [pairs[i:i + protocol.RESULT_PAIRS_PER_OBJECT]
                      for i in range(0, len(pairs), protocol.RESULT_PAIRS_PER_OBJECT)] or [[]]
            count, chunks, per_write = len(listed), listed, len(listed)
        target = result_job(spec.job, spec.reduce, spec.map, standing=apply.standing)
        type_name = result_type(spec.job, spec.reduce)
        ids = iter(self.store.new_ids(target, count) if target not in self.attached else range(count))
        attachment = self.attached.get(spec.job)
        group: list[dict[str, Any]] = []
        written = 0
        try:
            for n, chunk in enumerate(chunks):
                group.append({"id": next(ids), "type": type_name, "data": {
                    "apply": spec.apply_id, "job": spec.job, "map": spec.map, "reduce": spec.reduce,
                    "from": spec.from_id, "to": "now" if apply.standing else spec.to_id, "by": spec.by,
                    "objects": apply.objects(), "engine": apply.engine, "final": not apply.standing, "part": n,
                    "parts": count, "provenance": apply.provenance, "result": chunk,
                    **({"index": encoded[n]} if encoded else {}),
                    **({"specifier": spec.specifier} if spec.specifier is not None else {})}})
                if len(group) >= per_write or n == count - 1:
                    written += self._store_results(attachment, target, group)
                    group = []
            if apply.standing and written:
                self._keep_last_snapshots(target, written)
        except (StoreError, zmq.ZMQError) as exc:
            self.log.error("apply %s: results not stored: %s", spec.apply_id, exc)
        apply.last_emit = now
        apply.emitted += 1
        if apply.reduction is not None:
            apply.reduction.changed = False

    def _keep_last_snapshots(self, target: str, snapshot_bytes: int) -> None:
        """A standing apply's result job keeps about its last ``STANDING_SNAPSHOTS_KEPT`` snapshots (a retention cap
        on it, for every standing apply storing there), not one a second forever."""
        sharing = sum(1 for a in self.applies.values() if a.state is ApplyState.STANDING and a.store
                      and result_job(a.spec.job, a.spec.reduce, a.spec.map, standing=True) == target)
        cap = max(1, sharing) * STANDING_SNAPSHOTS_KEPT * snapshot_bytes + 4096
        current = self.store.max_size(target)
        if current is None or not 0.8 * cap <= current <= 1.25 * cap:  # set again only when it is far off
            try:
                self.store.set_max_size(target, cap)
            except (StoreError, OSError) as exc:
                self.log.error("result job %s: retention not set: %s", target, exc)

    def _store_results(self, attachment: Attachment | None, target: str, objects: list[dict[str, Any]]) -> int:
        """Store ``objects`` under ``target`` (through the collector's inlet while the job runs); their bytes."""
        big = len(objects) > 1 and "index" in objects[0]["data"]  # an index's parts: a file each (5 MB)
        encoded: list[bytes] = []
        if big:  # plain JSON already (strings and lists): each part encoded once, for its size and the store
            encoded = [orjson.dumps([o]) for o in objects]
            size = sum(len(raw) - 2 for raw in encoded)
        else:
            raw = orjson.dumps(objects, option=orjson.OPT_NON_STR_KEYS)
            objects, size = orjson.loads(raw), len(raw)
        if attachment is not None and attachment.inlet_open():
            for part in ([[o] for o in objects] if big else [objects]):
                attachment.send_results(target, part)
        elif big:
            self.store.commit([(target, [o], raw) for o, raw in zip(objects, encoded)])  # one group: one sync
        else:
            self.store.append(target, objects)
        return size

    def _trim_finished(self) -> None:
        finished = [a for a in self.applies.values() if a.state in (ApplyState.DONE, ApplyState.FAILED,
                                                                      ApplyState.CANCELLED)]
        for apply in sorted(finished, key=lambda a: a.created)[:-KEEP_FINISHED]:
            del self.applies[apply.spec.apply_id]

    # -- requests -----------------------------------------------------------

    def attach(self, request: dict[str, Any]) -> dict[str, Any]:
        """``attach``: subscribe to a collector job's objects (its data.collector.job object)."""
        job_object = request.get("job")
        if job_object is None:
            raise ProtocolError("job is required: the data.collector.job object from newCollectorJob", field="job")
        attachment = Attachment(job_object, self.store, self.cache, self.ctx, self.attach_hosts, self.keys)
        old = self.attached.pop(attachment.job, None)
        if old is not None:
            old.close()
        self.attached[attachment.job] = attachment
        self.log.info("attached %s at %s:%s", attachment.job, attachment.data["hostName"],
                      attachment.data["dispatchPort"])
        return {"jobId": attachment.job, "attached": True}

    def detach(self, request: dict[str, Any]) -> dict[str, Any]:
        """``detach``: stop following a job and drop its cache."""
        job = protocol.job_id_of(request)
        attachment = self.attached.pop(job, None)
        if attachment is None:
            raise ProtocolError(f"job {job!r} is not attached", field="jobId")
        attachment.close()
        self.cache.drop(job)
        return {"jobId": job, "attached": False}

    def apply(self, request: dict[str, Any]) -> dict[str, Any]:
        """``apply``: start a map/reduce over a job's range (standing when toDate is now)."""
        job = protocol.job_id_of(request)
        map_name, reduce_name = protocol.field_text(request, "map"), protocol.field_text(request, "reduce")
        specifier = request.get("specifier")
        if specifier is not None:
            specifier = parse_specifier(specifier).text  # its canonical spelling: the result says it
        resolve_map(map_name, specifier)
        resolve_reduce(reduce_name)
        at = request.get("at")
        if at is not None:
            if not isinstance(at, str) or not at:
                raise ProtocolError(f"at must name a snapshot, got {quote(at)}", field="at")
            if request.get("fromDate") is not None or request.get("toDate") is not None:
                raise ProtocolError("at reduces exactly a snapshot's files and range: give no fromDate or toDate",
                                    field="at")
            snap = self.snapshot_actions.get(at, "at", job if self.store.exists(job) else None)
            if snap.job != job:
                raise ProtocolError(f"snapshot {snap.short} is of job {snap.job!r}, not {job!r}", field="at")
            lo, hi, standing = snap.manifest["from"], snap.manifest["to"], False
            by = "collected"  # a snapshot's range is of ids
        else:
            lo, hi, standing = parse_range(request.get("fromDate"), request.get("toDate"))
            by = request.get("by") or "written"
        if by not in CLOCKS:
            raise ProtocolError(f"by must be one of {', '.join(CLOCKS)} (the clock of the range), got {quote(by)}",
                                field="by")
        engine = request.get("engine") or self.default_engine
        if engine not in protocol.ENGINES:
            raise ProtocolError(f"engine must be one of {', '.join(protocol.ENGINES)}, got {quote(engine)}",
                                field="engine")
        self._engine(engine)  # a clear error now if it cannot run here
        if not self.store.exists(job):
            raise ProtocolError(f"no job {job!r} in the store at {self.store.root}", field="jobId")
        skip = request.get("skipErrors", False)
        if not isinstance(skip, bool):
            raise ProtocolError(f"skipErrors must be true or false, got {quote(skip)}", field="skipErrors")
        keep = request.get("store", True)
        if not isinstance(keep, bool):
            raise ProtocolError(f"store must be true or false, got {quote(keep)}", field="store")
        apply_id = secrets.token_hex(3)
        while apply_id in self.applies:
            apply_id = secrets.token_hex(3)
        spec = ApplySpec(apply_id, job, map_name, reduce_name, lo, hi, skip, by, specifier)  # type: ignore[arg-type]
        apply = Apply(spec, standing=standing, engine=engine, at=at, store=keep)
        try:
            self._start_batch(apply)
        except BaseException:  # a request that gets an error changes nothing: no run, no checkpoint
            self._engine(engine).cancel(apply_id)
            self._drop_checkpoint(apply)
            raise
        self.applies[apply_id] = apply
        self.log.info("apply %s: %s %s over %s (%d files)%s", apply_id, map_name, reduce_name, job, apply.files,
                      ", standing" if standing else "")
        reply = {"applyId": apply_id, "state": apply.state.value, "standing": standing, "from": lo,
                 "to": "now" if standing else hi, "by": by, "files": apply.files, "total": apply.total,
                 "engine": engine, "provenance": apply.provenance}
        if specifier is not None:
            reply["specifier"] = specifier
        return reply

    def _apply_of(self, request: dict[str, Any]) -> Apply:
        apply_id = protocol.field_text(request, "applyId")
        apply = self.applies.get(apply_id)  # type: ignore[arg-type]
        if apply is None:
            raise ProtocolError(f"no apply {quote(apply_id)} ('show applies' lists them)", field="applyId")
        return apply

    def status(self, request: dict[str, Any]) -> dict[str, Any]:
        """``status``: one apply (progress, and its result once there is one), or the service."""
        if request.get("applyId") is None:
            local = self.engines.get("local")
            now = time.monotonic()
            workers = [{"pid": w.pid, "lastSeenSecondsAgo": round(now - w.last_seen, 2), "outstanding": w.outstanding,
                        "alive": now - w.last_seen <= DEAD_AFTER} for w in getattr(local, "workers", {}).values()]
            return {"service": "dispatch", "pid": os.getpid(), "engine": self.default_engine,
                    "engines": sorted(self.engines), "workers": workers,
                    "workersReplaced": getattr(local, "replaced", 0), "workersLost": getattr(local, "lost", 0),
                    "attached": [
                        a.report() for a in self.attached.values()],
                    "applies": len(self.applies), "uptime": time.monotonic() - self.started}
        apply = self._apply_of(request)
        top = request.get("top", 20)
        if not isinstance(top, int) or isinstance(top, bool) or top < 0:
            raise ProtocolError(f"top must be a whole number (0: all), got {quote(top)}", field="top")
        offset = request.get("offset", 0)
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ProtocolError(f"offset must be a whole number (rows to skip), got {quote(offset)}", field="offset")
        info = apply.describe()
        if apply.state in (ApplyState.DONE, ApplyState.STANDING):
            info["keys"] = apply.keys()
            if offset:  # a page further on: the rows after the first ``offset`` (top of them; 0: all)
                rows = apply.current(None)[offset:offset + top] if top else apply.current(None)[offset:]
                info["result"] = rows
            else:
                info["result"] = apply.current(top or None)[:]  # a list (an index's result is lazy)
            if not info["objects"] and self.store.exists(apply.spec.job):  # say where the job's objects are
                info["jobSpan"] = self.store.spans(apply.spec.job)
            warnings = result_warnings(apply.spec.map, apply.spec.reduce, info["objects"], info["keys"])
            if warnings:
                info["warnings"] = warnings
        return info

    def cancel(self, request: dict[str, Any]) -> dict[str, Any]:
        """``cancel``: end a standing reduction or a running apply."""
        apply = self._apply_of(request)
        if apply.state in (ApplyState.RUNNING, ApplyState.STANDING):
            if apply.run is not None:
                self._engine(apply.engine).cancel(apply.spec.apply_id)
            if apply.reduction is not None:
                apply.reduction.close()
            apply.state = ApplyState.CANCELLED
            self._drop_checkpoint(apply)
            self.log.info("apply %s cancelled", apply.spec.apply_id)
        return {"applyId": apply.spec.apply_id, "state": apply.state.value}

    def list_applies(self, request: dict[str, Any]) -> dict[str, Any]:
        """``listApplies``: every apply this Dispatch knows."""
        return {"applies": [a.describe() for a in self.applies.values()]}

    def show_cache(self, request: dict[str, Any]) -> dict[str, Any]:
        """``showCache``: what the cache holds, per job."""
        return {"jobs": self.cache.report(), "objects": self.cache.objects, "bytes": self.cache.bytes,
                "maxObjects": self.cache.max_objects, "maxBytes": self.cache.max_bytes}

    def ping(self, request: dict[str, Any]) -> dict[str, Any]:
        """``ping``: whether Dispatch answers, its engines and the functions it knows."""
        return {"pong": True, "service": "dispatch", "pid": os.getpid(), "uptime": time.monotonic() - self.started,
                "workers": len(getattr(self.engines.get("local"), "workers", {})), "nomRoot": str(self.store.root),
                "engine": self.default_engine,
                "maps": MAP_NAMES, "reduces": REDUCE_NAMES}
