"""Starting, finding and stopping the collector and Dispatch for the shell.

When a command needs a service and none answers at its configured endpoint,
the shell starts it in the background (its own session, so Ctrl-C in the
shell does not reach it), with a pid file and a log under the state folder,
and says so.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from nectar.client import Client
from nectar.config import Config, state_dir
from nectar.errors import ServiceUnavailable
from nom.net import CurveKeys

__all__ = ["Services", "SERVICE_NAMES"]

SERVICE_NAMES = ("collector", "dispatch")


class Services:
    """The two services as the shell sees them."""

    def __init__(self, config: Config, notify: Callable[[str], None] = lambda message: None) -> None:
        self.config = config
        self.notify = notify
        self.keys = CurveKeys.load(config.keys) if config.keys else None
        self.clients = {name: Client(getattr(config, name), timeout=config.timeout, keys=self.keys)
                        for name in SERVICE_NAMES}
        self.state = state_dir()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}  # started by this shell: reaped when stopped

    @property
    def collector(self) -> Client:
        """The collector's control client (started first if needed)."""
        return self.ensure("collector")

    @property
    def dispatch(self) -> Client:
        """Dispatch's control client (started first if needed)."""
        return self.ensure("dispatch")

    def ensure(self, name: str) -> Client:
        """The client of ``name``, starting the service if none answers and auto_start is on."""
        client = self.clients[name]
        if not client.is_up(timeout=0.5):
            if not self.config.auto_start:
                raise ServiceUnavailable(f"no {name} answers at {client.endpoint} (run 'up', or set auto_start)")
            self.notify(self.start(name))
        return client

    def pid_file(self, name: str) -> Path:
        """Where the pid of a service the shell started is kept."""
        return self.state / f"{name}.pid"

    def start(self, name: str) -> str:
        """Start ``name`` in the background and wait until it answers."""
        client = self.clients[name]
        if client.is_up(timeout=0.5):
            return f"{name} already answers at {client.endpoint}"
        if _listening(client.endpoint):  # something holds the port but does not answer us: keys that differ
            mine = f"with the keys in {self.keys.folder}" if self.keys is not None else "without keys"
            raise ServiceUnavailable(
                f"something listens at {client.endpoint} but does not answer this shell ({mine}): most likely the "
                f"{name} there was started with other keys (or none) than the 'keys' setting now says. Make them "
                f"match: stop it with the setting it was started with ('nectar down'), then 'nectar up'; or point "
                f"'{name}' at another endpoint")
        logs = self.state / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        # -P: the current folder is not put on sys.path, so a folder there named like a package (a NOM_ROOT
        # called ./nom, a ./dispatch) can never stand in for Nectar's own (every process Nectar starts does so)
        cmd = [sys.executable, "-P", "-m", name, "--nom-root", str(self.config.nom_root_path),
               "--control", client.endpoint, "--log-dir", str(logs), "--pid-file", str(self.pid_file(name))]
        if self.keys is not None:
            cmd += ["--keys", str(self.keys.folder)]
        if name == "dispatch":
            if self.config.functions_path:  # the user's function modules, for Dispatch and its workers
                cmd += ["--functions-path", str(Path(self.config.functions_path).expanduser().absolute())]
            if self.config.stopwords:  # the user's stopwords for words:stop
                cmd += ["--stopwords", str(Path(self.config.stopwords).expanduser().absolute())]
            cmd += ["--workers", str(self.config.workers), "--engine", self.config.engine,
                    "--spark-master", self.config.spark_master, "--books", str(self.config.books_path)]
        with open(logs / f"{name}.out", "ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
        self._procs[name] = proc
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if client.is_up(timeout=0.5):
                return f"started {name} (pid {proc.pid}) at {client.endpoint}; log: {logs / (name + '.log')}"
            if proc.poll() is not None:
                tail = (logs / f"{name}.out").read_text(errors="replace")[-500:]
                raise ServiceUnavailable(f"{name} exited at start (status {proc.returncode}): {tail.strip()}")
            time.sleep(0.1)
        raise ServiceUnavailable(f"{name} did not answer at {client.endpoint} within 20 s; see {logs}")

    def stop(self, name: str) -> str:
        """Stop a service the shell started, gracefully (SIGTERM), and wait for it."""
        path = self.pid_file(name)
        client = self.clients[name]
        if not path.exists():
            if client.is_up(timeout=0.5):
                pid = client.call("ping").get("pid")
                return self._terminate(name, int(pid)) if pid else f"{name} was not started by nectar; left running"
            return f"{name} is not running"
        pid = int(path.read_text().strip() or 0)
        message = self._terminate(name, pid)
        path.unlink(missing_ok=True)
        return message

    def _terminate(self, name: str, pid: int) -> str:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return f"{name} was not running"
        proc = self._procs.pop(name, None)
        if proc is not None and proc.pid == pid:  # our child: wait for it (a zombie still answers kill -0)
            try:
                proc.wait(timeout=8)
                return f"stopped {name} (pid {pid})"
            except subprocess.TimeoutExpired:
                return f"{name} (pid {pid}) did not stop within 8 s"
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return f"stopped {name} (pid {pid})"
            time.sleep(0.05)
        return f"{name} (pid {pid}) did not stop within 8 s"

    def status(self) -> list[dict[str, object]]:
        """Each service: endpoint, up or down, pid and uptime."""
        rows = []
        for name, client in self.clients.items():
            try:
                ping = client.call("ping", timeout=0.5)
                rows.append({"service": name, "endpoint": client.endpoint, "up": True, "pid": ping.get("pid"),
                             "uptime": round(ping.get("uptime", 0.0), 1)})
            except Exception:  # noqa: BLE001 - down, whatever the reason
                rows.append({"service": name, "endpoint": client.endpoint, "up": False, "pid": None, "uptime": None})
        return rows


def _listening(endpoint: str) -> bool:
    """True when a TCP ``endpoint`` (tcp://host:port) accepts connections."""
    if not endpoint.startswith("tcp://"):
        return False
    host, _, port = endpoint[6:].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False

