"""A JSON request/reply client for the services' control sockets (Lazy Pirate: a fresh socket per try)."""

from __future__ import annotations

from typing import Any

import orjson
import zmq

from nectar.errors import ServiceError, ServiceUnavailable
from nom.net import CurveKeys

__all__ = ["Client"]


class Client:
    """Sends JSON requests to one control endpoint."""

    def __init__(self, endpoint: str, *, timeout: float = 10.0, ctx: zmq.Context | None = None,
                 keys: CurveKeys | None = None) -> None:
        """A client of ``endpoint`` (``keys``: present the client certificate to CURVE services)."""
        self.endpoint = endpoint
        self.timeout = timeout
        self.ctx = ctx or zmq.Context.instance()
        self.keys = keys

    def call(self, action: str, timeout: float | None = None, **fields: Any) -> Any:
        """Send ``{"action": action, **fields}``; return the reply, or raise ServiceError with its message."""
        reply = self.send_raw(orjson.dumps({"action": action, **fields}), timeout)
        if isinstance(reply, dict) and "error" in reply:
            raise ServiceError(reply["error"], reply.get("field"))
        return reply

    def send_raw(self, payload: bytes, timeout: float | None = None) -> Any:
        """Send raw bytes as a request and return the decoded reply (errors included)."""
        sock = self.ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        if self.keys is not None:
            self.keys.connect_as_client(sock)
        try:
            sock.connect(self.endpoint)
            sock.send(payload)
            wait = self.timeout if timeout is None else timeout
            if not sock.poll(int(wait * 1000)):
                raise ServiceUnavailable(f"no answer from {self.endpoint} within {wait:g}s")
            return orjson.loads(sock.recv())
        finally:
            sock.close(linger=0)

    def is_up(self, timeout: float = 1.0) -> bool:
        """True when the service answers ``ping``."""
        try:
            return bool(self.call("ping", timeout=timeout).get("pong"))
        except ServiceError:
            return False
