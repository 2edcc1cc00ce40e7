"""Live updates from the real web service: every event has an id, and a browser that reconnects with
Last-Event-ID misses no file the store holds, whether the same web process answers or a restarted one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import wait_for
from nectar.testing import SseReader, WebProcess
from web_helpers import JOB, Stack, running_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("events")) as s:
        yield s


@pytest.fixture(scope="module")
def job(stack: Stack) -> str:
    status, reply = stack.call("POST", "/api/v1/jobs", JOB)
    assert status == 201, reply
    job_id = reply["data"]["jobId"]
    wait_for(lambda: stack.call("GET", f"/api/v1/jobs/{job_id}")[1]["objects"] >= 100, 20, what="100 objects")
    return job_id


def _file_names(reader: SseReader, job: str, count: int | None = None, seconds: float = 30.0) -> list[int]:
    names: list[int] = []
    deadline = time.monotonic() + seconds
    for _, event, data in reader.events():
        if event == "file" and data["job"] == job:
            names.append(int(data["name"]))
        if (count is not None and len(names) >= count) or time.monotonic() > deadline:
            break
    return names


def _stored_names(stack: Stack, job: str) -> list[int]:
    _, reply = stack.call("GET", f"/api/v1/jobs/{job}/files?limit=5000")
    return [int(f["name"]) for f in reply["files"]]


def test_a_browser_that_reconnects_with_last_event_id_misses_no_file(stack: Stack, job: str) -> None:
    reader = SseReader(stack.web.url)
    first = _file_names(reader, job, count=5)
    reader.close()
    time.sleep(2)  # files stored meanwhile reach it on reconnection
    again = SseReader(stack.web.url, last_id=reader.last_id)
    second = _file_names(again, job, count=25)
    again.close()
    seen = set(first) | set(second)
    expected = [n for n in _stored_names(stack, job) if min(seen) <= n <= max(seen)]
    assert len(expected) >= 25 and set(expected) <= seen


def test_a_restarted_web_process_resumes_from_the_store(tmp_path: Path) -> None:
    with running_stack(tmp_path) as s:
        _, reply = s.call("POST", "/api/v1/jobs", JOB)
        job = reply["data"]["jobId"]
        reader = SseReader(s.web.url)
        first = _file_names(reader, job, count=5)
        reader.close()
        s.web.kill()  # SIGKILL: what it held in memory is gone
        time.sleep(1.5)
        s.web = WebProcess(s.web.collector, s.web.dispatch, s.web.home, port=s.web.port).start()
        again = SseReader(s.web.url, last_id=reader.last_id)
        second = _file_names(again, job, count=25)
        again.close()
        seen = set(first) | set(second)
        expected = [n for n in _stored_names(s, job) if min(seen) <= n <= max(seen)]
        assert len(expected) >= 25 and set(expected) <= seen
