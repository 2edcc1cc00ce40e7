"""Real service processes for tests and benchmarks: started on a random control port, stopped or killed, and
what a process holds (descriptors, ports, memory) as Linux's /proc tells it.

``ServiceProcess("collector", root).start()`` runs ``python -m collector`` (or ``dispatch``) on
``tcp://127.0.0.1:*`` and reads the endpoint from the line every service prints once it answers
(nom.net.service.READY_LINE); ``call`` sends it control requests. Tests (tests/) and benchmarks (bench/)
both use it, so it lives in the installed project where both reach it by import.
"""

from __future__ import annotations

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

__all__ = ["ServiceProcess", "held_fds", "listening_ports", "open_fds", "rss_bytes", "standing_synthetic_job"]


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
        cmd = [sys.executable, "-m", self.module, "--nom-root", str(self.nom_root), "--control", endpoint,
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
