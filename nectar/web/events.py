"""Live updates: one poller per web process, its events fanned out to every browser by server-sent events.

The poller (a thread) asks the services, not the browsers: every ``poll`` seconds the collector's ``jobFiles``
for each live job (the files stored since the last one it saw), every second ``listJobs``, ``listApplies``, the
standing reductions' top rows and the services' health. So ten dashboards cost the services what one costs.

Events (``event:`` names): ``file`` (a stored file of a live job: job, name, objects, bytes, id range),
``jobs`` (every job's counts, state and rate), ``applies`` (every apply with its progress), ``standing`` (a
standing reduction's top rows, when they change), ``health`` (the services and a line saying what the system
is doing), ``hello`` (all of these at once, first on every connection).

Event ids are positions in the store's time: a ``file`` event's id is its file's name (the write time in ns),
bumped by one when a late file would not be above the last id sent, so ids only grow. A browser that
reconnects sends ``Last-Event-ID``: if this process still holds the events after it (a ring of the recent
ones), they are sent again exactly; otherwise (this process restarted, or the browser was away long) the
files named after it (less ``LATE_WINDOW_NS``, as files of different jobs become visible slightly out of name
order) are read back from the store through ``jobFiles``: nothing the store still holds is missed, and the
page drops the few it already had by (job, name).

Each browser has a bounded queue (``queue_max`` events). A browser that stops reading fills it and is dropped
(its queue freed, its connection closed), without slowing the poller, the other browsers or the services; the
same frame bytes are shared by every queue, so a browser costs its queue's references, not copies.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from nectar.web.backend import ApiError, Backend, web_ids

__all__ = ["LATE_WINDOW_NS", "Hub", "Subscriber"]

log = logging.getLogger("nectar.web")

LATE_WINDOW_NS = 2 * 10**9
LIVE_STATES = ("running", "paused")
REPLAY_FILES = 5000  # per job, when a browser comes back from far behind


def frame(event: str, data: Any, event_id: int) -> bytes:
    """One server-sent event, encoded once for every browser."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, event.encode(), orjson.dumps(web_ids(data)))


@dataclass(eq=False)
class Subscriber:
    """One browser's stream: a bounded queue of frames; None in it ends the stream."""

    queue: asyncio.Queue[bytes | None]
    start: int  # events with ids up to this one reach it by replay, the rest by the queue
    dropped: bool = False
    sent: int = 0


@dataclass
class _State:
    jobs: list[dict[str, Any]] = field(default_factory=list)
    applies: list[dict[str, Any]] = field(default_factory=list)
    standing: dict[str, dict[str, Any]] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)


class Hub:
    """The poller and the subscribers; ``start`` it from the event loop that serves the browsers."""

    def __init__(self, backend: Backend, *, poll: float = 0.2, slow_poll: float = 1.0, queue_max: int = 1000,
                 ring: int = 10000) -> None:
        self.backend = backend
        self.poll = poll
        self.slow_poll = slow_poll
        self.queue_max = queue_max
        self.lock = threading.Lock()
        self.ring: deque[tuple[int, bytes, bool]] = deque(maxlen=ring)
        self.ring_floor = time.time_ns()  # every event with an id above it is in the ring
        self.last_id = self.ring_floor
        self.cursors: dict[str, int | None] = {}  # live job -> name of the newest file sent
        self.state = _State()
        self.subscribers: set[Subscriber] = set()
        self.dropped = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first = True

    # -- life ---------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start polling; events go to the subscribers on ``loop``."""
        self.loop = loop
        self._thread = threading.Thread(target=self._run, name="nectar-web-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and end every stream."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for sub in list(self.subscribers):
            self.end(sub)

    # -- subscribers (on the event loop) -------------------------------------

    def subscribe(self) -> Subscriber:
        """A new subscriber; what happened up to its ``start`` comes from ``replay``."""
        with self.lock:
            sub = Subscriber(asyncio.Queue(self.queue_max), self.last_id)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget a subscriber (its connection ended)."""
        self.subscribers.discard(sub)

    def end(self, sub: Subscriber) -> None:
        """End a stream: its queue is emptied and closed (None), and it gets no more events."""
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)
        self.subscribers.discard(sub)

    def _fanout(self, frames: list[tuple[int, bytes, bool]]) -> None:
        for sub in list(self.subscribers):
            for event_id, data, is_file in frames:
                if is_file and event_id <= sub.start:
                    continue  # it has (or will have) this file by replay
                try:
                    sub.queue.put_nowait(data)
                except asyncio.QueueFull:
                    sub.dropped = True
                    self.dropped += 1
                    log.warning("a browser stopped reading (%d events queued): dropped", self.queue_max)
                    self.end(sub)
                    break

    def replay(self, last: int | None, sub: Subscriber) -> list[bytes]:
        """What ``sub`` missed after event ``last`` (None: a first connection), then the ``hello`` snapshot.
        Blocking (it may ask the collector): run it in a worker thread."""
        out: list[bytes] = []
        if last is not None and last < sub.start:
            with self.lock:
                covered = last >= self.ring_floor
                ring = [data for event_id, data, _ in self.ring if last < event_id <= sub.start] if covered else []
                jobs = set(self.cursors)
            if covered:
                out.extend(ring)
            else:
                out.extend(self._from_store(last - LATE_WINDOW_NS, sub.start, jobs))
        with self.lock:
            hello = {"jobs": self.state.jobs, "applies": self.state.applies,
                     "standing": list(self.state.standing.values()), "health": self.state.health}
        out.append(frame("hello", hello, sub.start))
        return out

    def _from_store(self, after: int, upto: int, jobs: set[str]) -> list[bytes]:
        """The files of the live jobs named in ``(after, upto]``: what a browser missed that this process never
        held. Files named above ``upto`` reach the browser live (they are sent after it subscribed)."""
        try:  # the live jobs now: this process may have started a moment ago, before its poller's first round
            rows = self.backend.call("collector", "listJobs", timeout=5.0)["jobs"]
            jobs |= {row["jobId"] for row in rows if row.get("state") in LIVE_STATES}
        except ApiError:
            pass
        files = []
        for job in sorted(jobs):
            try:
                reply = self.backend.call("collector", "jobFiles", jobId=job, after=max(after, 0),
                                          limit=REPLAY_FILES)
            except ApiError:
                continue
            files += [(f["name"], job, f) for f in reply["files"] if f["name"] <= upto]
        files.sort(key=lambda item: item[0])
        return [frame("file", {"job": job, **info}, name) for name, job, info in files]

    # -- the poller (its own thread) -----------------------------------------

    def _publish(self, events: list[tuple[str, Any, int | None]]) -> None:
        """Give ids, keep in the ring, hand to the loop. ``events``: (name, data, file name or None)."""
        if not events:
            return
        frames = []
        with self.lock:
            for name, data, file_name in events:
                if file_name is not None:
                    self.last_id = file_name if file_name > self.last_id else self.last_id + 1
                frames.append((self.last_id, frame(name, data, self.last_id), file_name is not None))
            for item in frames:
                if len(self.ring) == self.ring.maxlen:
                    self.ring_floor = self.ring[0][0]
                self.ring.append(item)
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._fanout, frames)

    def _run(self) -> None:
        next_slow = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_slow:
                    next_slow = now + self.slow_poll
                    self._slow_round()
                self._file_round()
            except Exception:
                log.exception("web poller round failed")
            self._stop.wait(self.poll)

    def _file_round(self) -> None:
        events: list[tuple[str, Any, int | None]] = []
        for job in list(self.cursors):
            after = self.cursors[job]
            try:
                reply = self.backend.call("collector", "jobFiles", jobId=job, after=after, limit=2000)
            except ApiError:
                continue
            for info in reply["files"]:
                events.append(("file", {"job": job, **info}, info["name"]))
            if reply["files"]:
                self.cursors[job] = reply["files"][-1]["name"]
        events.sort(key=lambda e: e[2] or 0)
        self._publish(events)

    def _slow_round(self) -> None:
        events: list[tuple[str, Any, int | None]] = []
        health = self.backend.health()
        try:
            jobs = self.backend.call("collector", "listJobs", timeout=2.0)["jobs"]
        except ApiError:
            jobs = None
        try:
            applies = self.backend.call("dispatch", "listApplies", timeout=2.0)["applies"]
        except ApiError:
            applies = None
        if jobs is not None:
            live = {row["jobId"]: row for row in jobs if row.get("state") in LIVE_STATES}
            for job in live:
                if job not in self.cursors:  # found running at start: files from this process's start on are
                    # sent live (those before are history, read on load, or replayed to a browser that had them)
                    self.cursors[job] = self.ring_floor if self._first else None
            for job in [j for j in self.cursors if j not in live]:
                del self.cursors[job]
            rows = [{k: row.get(k) for k in ("jobId", "jobName", "state", "objects", "files", "bytes", "rate",
                                             "maxSize", "newestId", "source", "lastError")} for row in jobs]
            if rows != self.state.jobs:
                self.state.jobs = rows
                events.append(("jobs", {"jobs": rows}, None))
        if applies is not None:
            slim = [{k: a.get(k) for k in ("applyId", "job", "map", "reduce", "state", "standing", "objects",
                                           "files", "total", "lastError", "progress", "lag")} for a in applies]
            if slim != self.state.applies:
                self.state.applies = slim
                events.append(("applies", {"applies": slim}, None))
            events += self._standing([a for a in applies if a.get("state") == "standing"])
        line = activity(jobs, applies, health)
        state = {"services": health, "activity": line}
        if state != self.state.health:
            self.state.health = state
            events.append(("health", state, None))
        self._first = False
        self._publish(events)

    def _standing(self, applies: list[dict[str, Any]]) -> list[tuple[str, Any, int | None]]:
        events: list[tuple[str, Any, int | None]] = []
        seen = set()
        for a in applies:
            seen.add(a["applyId"])
            try:
                reply = self.backend.call("dispatch", "status", applyId=a["applyId"], top=10, timeout=2.0)
            except ApiError:
                continue
            view = {"applyId": a["applyId"], "job": a["job"], "map": a["map"], "reduce": a["reduce"],
                    "objects": reply.get("objects"), "keys": reply.get("keys"), "top": reply.get("result", [])}
            old = self.state.standing.get(a["applyId"])
            if old is None or old["top"] != view["top"] or old["objects"] != view["objects"]:
                self.state.standing[a["applyId"]] = view
                events.append(("standing", view, None))
        for gone in [k for k in self.state.standing if k not in seen]:
            del self.state.standing[gone]
        return events


def activity(jobs: list[dict[str, Any]] | None, applies: list[dict[str, Any]] | None,
             health: dict[str, Any]) -> str:
    """One line saying what the system is doing now."""
    down = [name for name, h in health.items() if not h["up"]]
    parts = [f"{' and '.join(down)} not answering"] if down else []
    if jobs is not None:
        live = [j for j in jobs if j.get("state") == "running"]
        rate = sum(float(j.get("rate") or 0) for j in live)
        parts.append(f"collecting {len(live)} job{'s' * (len(live) != 1)} at {rate:,.0f} objects/s" if live
                     else "no job collecting")
    if applies is not None:
        standing = sum(1 for a in applies if a.get("state") == "standing")
        running = [a for a in applies if a.get("state") == "running"]
        if standing:
            parts.append(f"{standing} standing reduction{'s' * (standing != 1)}")
        for a in running[:3]:
            progress = a.get("progress") or {}
            total = max(1, progress.get("total") or a.get("total") or 1)
            parts.append(f"apply {a['applyId']} ({a['map']} {a['reduce']}) "
                         f"{100 * (progress.get('objects') or 0) / total:.0f}%")
    return "; ".join(parts) or "idle"
