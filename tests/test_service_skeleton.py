"""nom.net.service.ControlService: requests through one table, every error answered (with its field), none raised."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from collector.errors import SourceError
from collector.service import Collector
from dispatch.errors import DateError, FunctionError, SparkUnavailable
from dispatch.service import Dispatcher
from nom import FieldError, NomError, ProtocolError
from nom.net import ControlService


class Probe(ControlService):
    """A service whose actions raise what they are told to."""

    name = "probe"

    def actions(self):
        return {"echo": lambda request: {"echo": request.get("text")}, "raise": self.raise_}

    def raise_(self, request):
        kinds = {"spark": SparkUnavailable("no Spark here", field="engine"),
                 "date": DateError("fromDate 'x' is not a date", field="fromDate"),
                 "source": SourceError("source.rate must be positive", field="source.rate"),
                 "bug": KeyError("oops")}
        raise kinds[request["kind"]]

    def step(self, now=None, max_wait=0.05):
        return None

    @classmethod
    def from_args(cls, args, keys):
        raise NotImplementedError


def test_field_errors_of_every_package_are_answered_with_their_field(tmp_path: Path) -> None:
    probe = Probe(tmp_path / "root", control="tcp://127.0.0.1:*")
    assert probe.handle(b'{"action": "echo", "text": "hi"}') == {"echo": "hi"}
    assert probe.handle(b'{"action": "raise", "kind": "spark"}') == {"error": "no Spark here", "field": "engine"}
    assert probe.handle(b'{"action": "raise", "kind": "date"}')["field"] == "fromDate"
    assert probe.handle(b'{"action": "raise", "kind": "source"}')["field"] == "source.rate"
    assert probe.handle(b'{"action": "raise", "kind": "bug"}') == {"error": "internal error: KeyError: 'oops'"}
    assert probe.handle(b'{"action": "nope"}') == {
        "error": "action must be one of echo, raise, got 'nope'", "field": "action"}
    assert probe.handle(b'{"action": ["not", "hashable"]}')["field"] == "action"
    assert probe.handle(b"[1")["error"].startswith("request is not valid JSON")
    assert (probe.requests, probe.bad_requests) == (8, 7)


def test_errors_outside_the_object_model_are_not_nom_errors() -> None:
    for error in (SparkUnavailable, DateError, FunctionError, SourceError, ProtocolError):
        assert issubclass(error, FieldError) and not issubclass(error, NomError), error


@pytest.mark.parametrize("service", [Collector, Dispatcher])
def test_each_service_answers_every_action_through_its_table_with_snake_case_handlers(tmp_path: Path, service) -> None:
    instance = service(tmp_path / "root", control="tcp://127.0.0.1:*")
    try:
        table = instance.actions()
        assert all(handler.__name__.islower() for handler in table.values())
        assert instance.handle(orjson.dumps({"action": "ping"}))["pong"] is True
        unknown = instance.handle(b'{"action": "_on_ping"}')
        assert unknown["field"] == "action" and ", ".join(table) in unknown["error"]
    finally:
        instance.close()
