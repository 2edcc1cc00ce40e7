"""One control-service skeleton for both services (the collector and Dispatch), and their common ``main``.

Socket: control, REP, bound at ``--control``: one JSON request, one JSON reply (nom.net.wire). A service
names its actions in one table, ``actions()``, from action name to a snake_case handler that takes the
request and returns the reply; ``handle`` decodes a request, finds its handler there and turns any error
into an error reply (``FieldError``: the message and the field to blame; anything else: "internal
error"), so no request can stop a service. A request that gets an error reply changes nothing.

A service's loop is ``step(now=None)``: one round per call, ``now`` the loop's clock (time.monotonic())
passed down to everything the round moves, so a test can drive a whole service by the clock. ``run``
steps until ``running`` is cleared (SIGTERM, SIGINT), then ``close``s.

``main`` is both services' command line: the store root, the control endpoint, logging, CurveZMQ keys
and the refusal to bind beyond loopback without them, a pid file, signals, and the line a service prints
once it answers (``<prog>: control <endpoint>, store <root>``), which nectar.testing reads.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import orjson
import zmq

from nom.errors import FieldError, InsecureBinding, failure, shorten
from nom.net.keys import CurveKeys, check_binding, refuse_if_in_use
from nom.net.wire import decode_request, error_reply
from nom.store import Store

__all__ = ["Handler", "ControlService", "READY_LINE"]

Handler = Callable[[dict[str, Any]], dict[str, Any]]
READY_LINE = "{prog}: control {endpoint}, store {root}"  # printed (flushed) once the service answers


class ControlService(ABC):
    """A service with one control socket: start, run, close, answer, handle; see the module docstring."""

    name: ClassVar[str] = "service"  # its logger, its log file (<name>.log) and its messages
    prog: ClassVar[str] = "nectar-service"  # its command
    description: ClassVar[str] = ""
    default_control: ClassVar[str] = "tcp://127.0.0.1:0"
    max_message_bytes: ClassVar[int] = 16 * 2**20  # the control socket refuses bigger requests
    reply_options: ClassVar[int] = 0  # orjson options of replies

    def __init__(self, nom_root: str | Path, *, control: str, ctx: zmq.Context | None = None,
                 keys: CurveKeys | None = None, insecure: bool = False) -> None:
        """Open the store; nothing is bound until ``start``."""
        self.store = Store(nom_root)
        self.ctx = ctx or zmq.Context.instance()
        self.control_endpoint = control
        self.keys = keys
        self.insecure = insecure
        self.auth: Any = None
        self.control: zmq.Socket | None = None
        self.running = False
        self.started = time.monotonic()
        self.requests = 0
        self.bad_requests = 0
        self.log = logging.getLogger(self.name)
        self._table: dict[str, Handler] | None = None  # actions(), made on the first request

    # -- what a service defines ----------------------------------------------------

    @abstractmethod
    def actions(self) -> dict[str, Handler]:
        """The table from action name to handler."""

    @abstractmethod
    def step(self, now: float | None = None, max_wait: float = 0.05) -> Any:
        """One round of the loop; wait at most ``max_wait`` seconds for a request."""

    def endpoints(self) -> list[str]:
        """Every endpoint the service binds (checked against the loopback rule before anything is bound)."""
        return [self.control_endpoint]

    def on_start(self) -> None:
        """What the service does once its control socket is bound (resume jobs, start engines...)."""

    def on_close(self) -> None:
        """What the service does before its control socket closes (checkpoint, stop jobs...)."""

    # -- life ----------------------------------------------------------------------

    def start(self) -> None:
        """Bind the control socket (refusing an endpoint in use, or beyond loopback without keys), then
        ``on_start``."""
        check_binding(self.endpoints(), self.keys, self.insecure)
        if self.keys is not None:
            self.auth = self.keys.start_authenticator(self.ctx)
        refuse_if_in_use(self.control_endpoint, self.ctx)
        self.control = self.ctx.socket(zmq.REP)
        if self.keys is not None:
            self.keys.serve(self.control)
        self.control.setsockopt(zmq.LINGER, 0)
        self.control.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        self.control.bind(self.control_endpoint)
        self.control_endpoint = self.control.getsockopt_string(zmq.LAST_ENDPOINT)
        self.running = True
        self.on_start()

    def run(self) -> None:
        """Step until ``running`` is cleared (by SIGTERM, SIGINT or a test), then shut down cleanly."""
        try:
            while self.running:
                self.step()
        finally:
            self.close()

    def close(self) -> None:
        """``on_close``, then close the control socket and stop the authenticator."""
        self.running = False
        self.on_close()
        if self.control is not None:
            self.control.close(linger=0)
            self.control = None
        if self.auth is not None:
            self.auth.stop()
            self.auth = None
        self.log.info("%s %d stopped", self.name, os.getpid())

    # -- requests ------------------------------------------------------------------

    def answer(self) -> None:
        """Answer the request waiting on the control socket, if any."""
        assert self.control is not None, "start() first"
        try:
            raw = self.control.recv(zmq.NOBLOCK)
        except zmq.Again:
            return
        reply = self.handle(raw)
        try:
            encoded = orjson.dumps(reply, option=self.reply_options, default=str)
        except TypeError as exc:  # a reply that JSON cannot hold (an integer beyond 64 bits): say so, keep serving
            self.log.exception("reply not encodable")
            encoded = orjson.dumps(error_reply(f"internal error: the reply could not be encoded: {exc}"))
        self.control.send(encoded)

    def handle(self, raw: bytes) -> dict[str, Any]:
        """Serve one control request (a JSON document) and return the reply; never raises."""
        self.requests += 1
        try:
            if self._table is None:
                self._table = self.actions()
            action, request = decode_request(raw, self._table)
            return self._table[action](request)
        except FieldError as exc:
            self.bad_requests += 1
            self.log.warning("bad request: %s", shorten(str(exc)))  # it may quote megabytes a client sent
            return error_reply(str(exc), exc.field)
        except Exception as exc:  # noqa: BLE001 - the service stays up whatever a request does
            self.bad_requests += 1
            self.log.error("request failed: %s", failure(exc))
            return error_reply(f"internal error: {type(exc).__name__}: {exc}")

    # -- the command line ----------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """The service's own options (beside the common ones ``main`` adds)."""

    @classmethod
    @abstractmethod
    def from_args(cls, args: argparse.Namespace, keys: CurveKeys | None) -> ControlService:
        """The service the command line asks for (and this process tuned for it)."""

    @classmethod
    def main(cls, argv: list[str] | None = None) -> int:
        """Run the service until SIGTERM or SIGINT; exit 0 after a clean shutdown, 2 when it cannot start."""
        parser = argparse.ArgumentParser(prog=cls.prog, description=cls.description)
        parser.add_argument("--nom-root", default=os.environ.get("NOM_ROOT", "NOM_ROOT"),
                            help="the store's root folder (default: $NOM_ROOT, else ./NOM_ROOT)")
        parser.add_argument("--control", default=cls.default_control,
                            help=f"control endpoint (default {cls.default_control})")
        cls.add_arguments(parser)
        parser.add_argument("--log-dir", default=None, help=f"write {cls.name}.log there (default: stderr)")
        parser.add_argument("--keys", default=None, help="CurveZMQ key folder from 'nectar keys init': every socket "
                            "then checks its peers' keys, and peers are reached with them (required to bind "
                            "beyond loopback)")
        parser.add_argument("--insecure", action="store_true",
                            help="allow binding beyond loopback without keys (anyone who can reach the ports can "
                                 "use them)")
        parser.add_argument("--pid-file", default=None, help="write the process id there")
        args = parser.parse_args(argv)
        handlers: list[logging.Handler] = [logging.StreamHandler()]
        if args.log_dir:
            Path(args.log_dir).mkdir(parents=True, exist_ok=True)
            handlers = [logging.FileHandler(Path(args.log_dir) / f"{cls.name}.log")]
        logging.basicConfig(level=logging.INFO, handlers=handlers,
                            format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
        try:
            keys = CurveKeys.load(args.keys) if args.keys else None
        except (OSError, ValueError) as exc:
            print(f"{cls.prog}: --keys: {exc}", file=sys.stderr)
            return 2
        service = cls.from_args(args, keys)
        try:
            service.start()
        except InsecureBinding as exc:
            print(f"{cls.prog}: refusing to start: {exc}", file=sys.stderr)
            service.close()
            return 2
        except zmq.ZMQError as exc:
            print(f"{cls.prog}: cannot bind {args.control}: {exc} (is another {cls.name} running?)", file=sys.stderr)
            service.close()
            return 2
        if args.pid_file:
            Path(args.pid_file).write_text(f"{os.getpid()}\n")

        def stop(signum: int, frame: object) -> None:
            service.running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        print(READY_LINE.format(prog=cls.prog, endpoint=service.control_endpoint, root=service.store.root), flush=True)
        service.run()
        return 0
