"""What the web tests share: the real services and the real web service on free ports, and HTTP calls."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nectar.testing import ServiceProcess, WebProcess

JOB = {"jobName": "web test", "searchTerms": "biden harris", "collectorObjectsPerFile": 50,
       "delayInMsBetweenObjects": 0, "source": {"kind": "synthetic", "rate": 500}}


@dataclass
class Stack:
    """The collector, Dispatch and the web service, running."""

    collector: ServiceProcess
    dispatch: ServiceProcess
    web: WebProcess
    root: Path

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             timeout: float = 60.0) -> tuple[int, Any]:
        """An HTTP request to the web service: (status, decoded JSON body or the text)."""
        return http(self.web.url, method, path, body, headers, timeout)


def http(url: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 60.0) -> tuple[int, Any]:
    """An HTTP request: (status, decoded JSON body, or the text when it is not JSON)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


@contextmanager
def running_stack(tmp: Path, *, token: str = "", host: str = "127.0.0.1",
                  dispatch_args: tuple[str, ...] = ()) -> Iterator[Stack]:
    """Start the three processes; stop them after."""
    root = tmp / "NOM_ROOT"
    root.mkdir(parents=True, exist_ok=True)
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "1", *dispatch_args).start()
    stack = Stack(collector, dispatch, WebProcess(collector.endpoint, dispatch.endpoint, tmp / "web", token=token,
                                                  host=host), root)
    try:
        stack.web.start()
        yield stack
    finally:
        stack.web.kill()  # the one running now: a test may have restarted it
        for service in (collector, dispatch):
            service.kill()
