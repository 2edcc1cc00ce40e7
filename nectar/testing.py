"""Real service processes for tests and benchmarks: started on a random control port, stopped or killed, and
what a process holds (descriptors, ports, memory) as Linux's /proc tells it.

``ServiceProcess("collector", root).start()`` runs ``python -m collector`` (or ``dispatch``) on
``tcp://127.0.0.1:*`` and reads the endpoint from the line every service prints once it answers
(nom.net.service.READY_LINE); ``call`` sends it control requests. Tests (tests/) and benchmarks (bench/)
both use it, so it lives in the installed project where both reach it by import.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from nectar.client import Client

__all__ = ["ServiceProcess", "SseReader", "WebProcess", "held_fds", "listening_ports", "open_fds", "rss_bytes",
           "standing_synthetic_job"]


class ServiceProcess:
    """One service process (``python -m collector`` or ``python -m dispatch``) on a random control port."""

    def __init__(self, module: str, nom_root: Path, *args: str, log_dir: Path | None = None,
                 cwd: Path | None = None, preexec_fn: Callable[[], None] | None = None) -> None:
        """The service ``module`` over the store at ``nom_root`` with extra command-line ``args``; not started.
        ``preexec_fn`` runs in the child before it starts (e.g. to lower a resource limit)."""
        self.module = module
        self.preexec_fn = preexec_fn
        self.nom_root = nom_root
        self.args = list(args)
        self.log_dir = log_dir or nom_root.parent / "logs"
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        self.client: Client | None = None

    def start(self, endpoint: str = "tcp://127.0.0.1:*", timeout: float = 20.0) -> ServiceProcess:
        """Start the process and wait for it to print its control endpoint."""
        cmd = [sys.executable, "-P", "-m", self.module, "--nom-root", str(self.nom_root), "--control", endpoint,
               "--log-dir", str(self.log_dir), *self.args]
        self.proc = proc = subprocess.Popen(cmd, cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=self.preexec_fn)
        assert proc.stdout is not None and proc.stderr is not None
        deadline = time.monotonic() + timeout
        line = b""
        while b"\n" not in line:
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.poll() is not None else ""
                self.kill()
                raise RuntimeError(f"{self.module} did not start: {err[-2000:]}")
            ready, _, _ = select.select([proc.stdout], [], [], left)
            if ready:
                line += os.read(proc.stdout.fileno(), 4096)
        self.endpoint = line.split(b"control ")[1].split(b",")[0].decode()
        self.client = Client(self.endpoint, timeout=10)
        return self

    def call(self, action: str, **fields: Any) -> Any:
        """A control request."""
        assert self.client is not None, "start() first"
        return self.client.call(action, **fields)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        assert self.proc is not None, "start() first"
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL, if still running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class WebProcess:
    """``python -m nectar.web`` on a free port, a client of the given collector and Dispatch endpoints."""

    def __init__(self, collector: str, dispatch: str, home: Path, *, host: str = "127.0.0.1", token: str = "",
                 port: int = 0) -> None:
        """Not started; ``home`` isolates its configuration (XDG_CONFIG_HOME and the working folder)."""
        self.collector, self.dispatch, self.home = collector, dispatch, home
        self.host, self.token, self.port = host, token, port
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> WebProcess:
        """Start it and wait for the line saying where it listens."""
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "XDG_CONFIG_HOME": str(self.home / "config"),
               "NECTAR_WEB_TOKEN": self.token}
        cmd = [sys.executable, "-P", "-m", "nectar.web", "--host", self.host, "--port", str(self.port),
               "--collector", self.collector, "--dispatch", self.dispatch]
        self.proc = proc = subprocess.Popen(cmd, cwd=self.home, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            env=env)
        assert proc.stdout is not None and proc.stderr is not None
        deadline = time.monotonic() + timeout
        line = b""
        while b"\n" not in line:
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.poll() is not None else ""
                self.kill()
                raise RuntimeError(f"nectar web did not start: {err[-2000:]}")
            ready, _, _ = select.select([proc.stdout], [], [], left)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                line += chunk
        self.url = line.split(b" ")[1].decode().rstrip("/")
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        assert self.proc is not None, "start() first"
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL, if still running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class SseReader:
    """A server-sent event client over a plain socket (so a test or bench can also stop reading on purpose):
    ``events()`` yields ``(id, event, data)`` as they arrive."""

    def __init__(self, url: str, path: str = "/api/v1/events", *, last_id: str | None = None, token: str = "",
                 rcvbuf: int | None = None, timeout: float = 10.0) -> None:
        """Connect and send the request (``rcvbuf``: a small receive buffer, for a client that stalls)."""
        import socket
        host, port = url.split("//", 1)[1].rsplit(":", 1)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, int(port)))
        headers = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
        if last_id is not None:
            headers += f"Last-Event-ID: {last_id}\r\n"
        if token:
            headers += f"Authorization: Bearer {token}\r\n"
        self.sock.sendall((headers + "\r\n").encode())
        self.buffer = b""
        self.status = 0
        self.last_id: str | None = last_id

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def events(self) -> Any:
        """Yield ``(id, event, data)`` until the server closes the stream (socket timeouts propagate)."""
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                return
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ", 2)[1])
        body = b""
        while True:  # chunked transfer: undo the framing, then split events on blank lines
            while b"\r\n" not in self.buffer:
                if not self._fill():
                    return
            size_line, rest = self.buffer.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return
            while len(rest) < size + 2:
                if not self._fill():
                    return
                rest = self.buffer.split(b"\r\n", 1)[1]
            body += rest[:size]
            self.buffer = rest[size + 2:]
            while b"\n\n" in body:
                raw, body = body.split(b"\n\n", 1)
                fields: dict[str, str] = {}
                for line in raw.decode().split("\n"):
                    if line and not line.startswith(":") and ": " in line:
                        key, value = line.split(": ", 1)
                        fields[key] = value
                if "event" in fields:
                    self.last_id = fields.get("id", self.last_id)
                    yield fields.get("id"), fields["event"], json.loads(fields.get("data", "null"))

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()


def open_fds(pid: int) -> int:
    """How many file descriptors process ``pid`` has open (Linux /proc)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def held_fds(pid: int) -> dict[str, int]:
    """What process ``pid`` holds open that lasts, by kind: eventfds (one per ZeroMQ socket's mailbox) and id-clock
    files; the rest comes and goes (writes in flight, control connections)."""
    kinds = {"eventfd": 0, "clock": 0}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target == "anon_inode:[eventfd]":
            kinds["eventfd"] += 1
        elif target.endswith("/clock"):
            kinds["clock"] += 1
    return kinds


def listening_ports(pid: int) -> list[int]:
    """The TCP ports process ``pid`` listens on: its sockets' inodes matched against /proc/net/tcp{,6}."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


def rss_bytes(pid: int, *, peak: bool = False) -> int:
    """The resident set size of process ``pid`` (VmRSS of /proc/<pid>/status), or its peak so far (VmHWM)."""
    key = "VmHWM:" if peak else "VmRSS:"
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} for process {pid}")


def standing_synthetic_job(collector: ServiceProcess, dispatch: ServiceProcess, sub: zmq.Socket, name: str, rate: int,
                           map_name: str) -> tuple[str, str]:
    """A synthetic job at ``rate`` objects/s (50 a file), ``sub`` subscribed to what it publishes, Dispatch
    attached and reducing ``map_name``/sum with toDate now. Returns the job id and the apply id."""
    reply = collector.call("newCollectorJob", jobName=name, searchTerms="biden harris",
                           collectorObjectsPerFile=50, delayInMsBetweenObjects=0,
                           source={"kind": "synthetic", "rate": rate})
    job = reply["data"]["jobId"]
    sub.setsockopt(zmq.SUBSCRIBE, job.encode())
    sub.connect(f"tcp://127.0.0.1:{reply['data']['dispatchPort']}")
    dispatch.call("attach", job=reply)
    return job, dispatch.call("apply", map=map_name, reduce="sum", jobId=job, toDate="now")["applyId"]
