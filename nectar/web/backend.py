"""What the web service asks of the collector and Dispatch, and how their answers become HTTP.

Errors: every error the API sends is ``{"code", "message", "field"}`` with a proper status: ``ApiError``
carries them. A service's error reply becomes 404 when it names something that does not exist, 409 when the
request clashes with the state (something that already is), else 400; no answer within the timeout is 503.

Ids: NOM ids and file names are nanosecond integers beyond JavaScript's exact range (2^53), so everything
the API sends passes through ``web_ids``: known id fields become strings, and so does any other integer a
browser could not hold exactly.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from nectar.client import Client
from nectar.config import Config
from nectar.errors import ServiceError, ServiceUnavailable
from nom import NomError, check_job_id
from nom.net import CurveKeys

__all__ = ["ID_FIELDS", "ApiError", "Backend", "check_job", "web_ids"]

# fields that hold NOM ids or file names (ns): always strings on the web
ID_FIELDS = frozenset({"id", "name", "minId", "maxId", "newestId", "oldestId", "from", "to", "position", "newest",
                       "after", "file", "fromId", "toId"})
JS_SAFE = 2**53 - 1


class ApiError(Exception):
    """An error the API answers with: HTTP status, a code, a message and the field to blame."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> dict[str, Any]:
        """The JSON body of the error."""
        return {"code": self.code, "message": self.message, "field": self.field}


def web_ids(value: Any, key: str | None = None) -> Any:
    """``value`` with ids (and any integer beyond 2^53) as strings, recursively."""
    if isinstance(value, dict):
        return {k: web_ids(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [web_ids(v, key) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and (key in ID_FIELDS or abs(value) > JS_SAFE):
        return str(value)
    return value


def check_job(value: str, field: str = "jobId") -> str:
    """A job id from a URL, or a 400 naming the field."""
    try:
        return check_job_id(value, field=field)
    except NomError as exc:
        raise ApiError(400, "bad_request", str(exc), field) from None


def _status_of(exc: ServiceError) -> tuple[int, str]:
    if isinstance(exc, ServiceUnavailable):
        return 503, "unavailable"
    text = str(exc).lower()
    if text.startswith("no ") or "no such" in text or "unknown job" in text:
        return 404, "not_found"
    if "already" in text or "in use" in text:
        return 409, "conflict"
    return 400, "bad_request"


class Backend:
    """Clients of both services, called from worker threads (a fresh socket per call: thread-safe)."""

    def __init__(self, config: Config, timeout: float | None = None) -> None:
        """Clients of the configured endpoints (with the CURVE client keys when the config names some)."""
        keys = CurveKeys.load(config.keys) if config.keys else None
        wait = config.timeout if timeout is None else timeout
        self.collector = Client(config.collector, timeout=wait, keys=keys)
        self.dispatch = Client(config.dispatch, timeout=wait, keys=keys)

    def call(self, service: str, action: str, timeout: float | None = None, **fields: Any) -> Any:
        """One request to ``service`` ("collector" or "dispatch"); errors as ApiError."""
        client = self.collector if service == "collector" else self.dispatch
        try:
            return client.call(action, timeout=timeout, **fields)
        except orjson.JSONEncodeError as exc:  # integers beyond 64 bits, lone surrogates: nothing a service takes
            raise ApiError(400, "bad_request", f"the request holds a value no service takes: {exc}") from None
        except ServiceError as exc:
            status, code = _status_of(exc)
            if status == 503:
                raise ApiError(503, code, f"{service} does not answer at {client.endpoint}: {exc}") from None
            raise ApiError(status, code, str(exc), exc.field) from None

    def health(self) -> dict[str, Any]:
        """Whether each service answers (0.5 s each), with its pid and uptime."""
        out = {}
        for name, client in (("collector", self.collector), ("dispatch", self.dispatch)):
            try:
                ping = client.call("ping", timeout=0.5)
                out[name] = {"up": True, "endpoint": client.endpoint, "pid": ping.get("pid"),
                             "uptime": round(ping.get("uptime", 0.0), 1)}
            except ServiceError:
                out[name] = {"up": False, "endpoint": client.endpoint, "pid": None, "uptime": None}
        return out

    def wait_apply(self, apply_id: str, timeout: float, top: int = 0) -> dict[str, Any]:
        """Poll an apply's status until it is no longer running (its batch part is done); 504 past ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.call("dispatch", "status", applyId=apply_id, top=top)
            if reply["state"] == "failed":
                raise ApiError(400, "apply_failed", f"apply {apply_id} failed: {reply.get('lastError')}", "applyId")
            if reply["state"] != "running":
                return reply
            if time.monotonic() > deadline:
                raise ApiError(504, "timeout", f"apply {apply_id} still running after {timeout:g} s "
                               f"(GET /api/v1/applies/{apply_id} follows it)", "applyId")
            time.sleep(0.05)
