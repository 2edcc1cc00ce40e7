"""The JSON and .nom text forms round-trip every JSON value; errors name the line and field."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nom import Nom, NomError, dumps, dumps_nom, loads, loads_nom

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text() | st.floats(
    allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)
type_names = st.from_regex(r"data(\.[A-Za-z0-9_-]{1,12}){1,3}", fullmatch=True)
noms = st.builds(Nom, st.integers(0, 2**63 - 1), type_names, json_values)


@settings(max_examples=300)
@given(st.lists(noms, max_size=6))
def test_json_round_trip(objects: list[Nom]) -> None:
    assert loads(dumps(objects)) == objects


@settings(max_examples=300)
@given(st.lists(noms, max_size=6))
def test_nom_text_round_trip(objects: list[Nom]) -> None:
    assert loads_nom(dumps_nom(objects)) == objects


def test_nom_text_reads_the_seed_example() -> None:
    text = ("245242342423424\ndata.jobId.reducerOutputType\n0.45\n1.34\n2.2\n50.5\n\n"
            "1\ndata.list.integers\n31034\n1032\n")
    first, second = loads_nom(text)
    assert first == Nom(245242342423424, "data.jobId.reducerOutputType", [0.45, 1.34, 2.2, 50.5])
    assert second.data == [31034, 1032]


def test_nom_text_keeps_list_and_scalar_apart() -> None:
    objects = [Nom(1, "data.a", []), Nom(2, "data.a", [[1]]), Nom(3, "data.a", [1]), Nom(4, "data.a", "x\ny")]
    text = dumps_nom(objects)
    assert '=' in text and loads_nom(text) == objects


@pytest.mark.parametrize(("text", "message", "field"), [
    ("abc\ndata.x\n1\n", "line 1: id must be an integer", "id"),
    ("12\n", "line 1: a stanza needs an id line and a type line", "type"),
    ("12\ndata x\n", "line 2: type must be a dotted name", "type"),
    ("12\ndata.x\n1\n{oops\n", "line 4: data item is not valid JSON", "data"),
])
def test_nom_text_errors_name_line_and_field(text: str, message: str, field: str) -> None:
    with pytest.raises(NomError, match=message) as err:
        loads_nom(text, where="x.nom")
    assert err.value.field == field
    assert "x.nom" in str(err.value)


def test_json_errors_name_the_element() -> None:
    with pytest.raises(NomError, match=r"input\[1\] has no 'id'"):
        loads(b'[{"id": 1, "type": "data.a"}, {"type": "data.b"}]')
    with pytest.raises(NomError, match="not valid JSON"):
        loads(b'[{"id": 1,')
