"""The OpenAPI document validates, and a property-based fuzz of every endpoint (schemathesis, used as a library
against the running app's own document: 500 cases in all) gets no 5xx and leaves the services serving."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error

from nectar.testing import SseReader
from web_helpers import JOB, Stack, http, running_stack

CASES = 500
EVENTS = "/api/v1/events"  # a stream that never ends: fuzzed below by its one input, Last-Event-ID


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("fuzz")) as s:
        status, reply = s.call("POST", "/api/v1/jobs", {**JOB, "source": {"kind": "synthetic", "rate": 100}})
        assert status == 201
        yield s


@pytest.fixture(scope="module")
def web_schema(stack: Stack) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(stack.web.url + "/api/v1/openapi.json").exclude(path=EVENTS)


def test_the_openapi_document_validates(stack: Stack) -> None:
    status, document = stack.call("GET", "/api/v1/openapi.json")
    assert status == 200
    validate(document)
    paths = set(document["paths"])
    assert {"/", "/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/applies", "/api/v1/applies/{apply_id}/result",
            "/api/v1/standing", "/api/v1/cache", EVENTS} <= paths


def test_no_endpoint_answers_a_5xx(stack: Stack, web_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in web_schema.get_all_operations()]
    per_operation = math.ceil(CASES / len(operations))
    calls: list[int] = []
    rounds = 0
    while len(calls) < CASES and rounds < 6:  # operations without inputs give one case a round: go on to CASES
        rounds += 1
        for operation in operations:
            @given(case=operation.as_strategy())
            @seed(rounds)
            @settings(max_examples=per_operation, deadline=None, suppress_health_check=list(HealthCheck),
                      database=None)
            def fuzz(case: schemathesis.Case) -> None:
                response = case.call(base_url=stack.web.url, timeout=60)
                calls.append(response.status_code)
                case.validate_response(response, checks=(not_a_server_error,))

            fuzz()
    print(f"{len(calls)} cases over {len(operations)} operations in {rounds} rounds: "
          f"{ {code: calls.count(code) for code in sorted(set(calls))} }")
    assert len(calls) >= CASES and not [code for code in calls if code >= 500]


def test_the_operations_add_up_to_the_cases_and_the_services_still_serve(stack: Stack,
                                                                         web_schema: schemathesis.BaseSchema) -> None:
    status, health = stack.call("GET", "/api/v1/health")
    assert status == 200 and health["services"]["collector"]["up"] and health["services"]["dispatch"]["up"]
    status, jobs = stack.call("GET", "/api/v1/jobs")
    assert status == 200 and any(r["state"] == "running" for r in jobs["jobs"])
    running = [r["jobId"] for r in jobs["jobs"] if r["state"] == "running"]
    for job in running:  # whatever the fuzz may have started
        http(stack.web.url, "POST", f"/api/v1/jobs/{job}/stop")


@given(st.one_of(st.none(), st.text(max_size=30).filter(lambda t: "\r" not in t and "\n" not in t),
                 st.integers(min_value=0, max_value=2**64).map(str)))
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_event_stream_takes_any_last_event_id(stack: Stack, last: str | None) -> None:
    reader = SseReader(stack.web.url, last_id=None if last is None else last.encode("latin-1", "replace").decode(
        "latin-1"))
    try:
        for _, event, data in reader.events():
            if event == "hello":
                assert "jobs" in data
                break
        assert reader.status in (200, 400)  # 400: a header value HTTP does not allow (control characters)
    finally:
        reader.close()
