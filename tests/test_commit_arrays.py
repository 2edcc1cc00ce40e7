"""nom.store.commit.arrays: the check every array written through the store takes, in C where built and in
Python."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nom import MAX_ID, Nom, NomError
from nom.store.commit import ArrayChecker, Encoded, arrays


def objs(ids, type_name: str = "data.test") -> list[dict]:
    return [{"id": i, "type": type_name, "data": {"n": i}} for i in ids]


BAD = [
    ([], "empty"),
    ([{"type": "data.a"}], "no 'id'"),
    ([{"id": 1}], "no 'type'"),
    ([{"id": True, "type": "data.a"}], "id"),
    ([{"id": -1, "type": "data.a"}], "id"),
    ([{"id": MAX_ID + 1, "type": "data.a"}], "id"),
    ([{"id": "7", "type": "data.a"}], "id"),
    ([{"id": 1.0, "type": "data.a"}], "id"),
    ([{"id": 1, "type": "Data..bad"}], "type"),
    ([{"id": 1, "type": 5}], "type"),
    ([{"id": 1, "type": "data.test"}, [1, 2]], "objects\\[1\\]"),
    ([{"id": 1, "type": "data.test"}, {"id": 2, "type": "no pe!"}], "objects\\[1\\]"),
]


@pytest.fixture(params=["c", "python"])
def checker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ArrayChecker:
    if request.param == "python":
        monkeypatch.setattr(arrays, "_ascending_ids", None)
    else:
        assert arrays._ascending_ids is not None, "nom.store.commit._unnamed is built here"
    checker = ArrayChecker()
    checker.encode(objs([1]))  # "data.test" is a type it has seen, so the fast path is taken from now on
    return checker


@pytest.mark.parametrize(("array", "message"), BAD)
def test_bad_arrays_are_refused_naming_the_problem(checker: ArrayChecker, array: list, message: str) -> None:
    with pytest.raises(NomError, match=message):
        checker.encode(array)


def test_good_arrays_encode_alike_and_in_id_order(checker: ArrayChecker) -> None:
    for array in (objs([5, 6, 9]), objs([3, 3, 4]), objs([9, 2, 5]), objs([0, MAX_ID]), objs([7], "data.new-type")):
        encoded = checker.encode(array)
        ordered = sorted(array, key=lambda o: o["id"])
        # no created_at: each object's written time is its id (nom.written)
        assert encoded == Encoded(orjson.dumps(ordered), ordered[0]["id"], ordered[-1]["id"], len(array),
                                  (ordered[0]["id"], ordered[-1]["id"]))
    noms = [Nom(1, "data.test", "x"), Nom(2, "data.test", "y")]
    assert checker.encode(noms).raw == orjson.dumps(noms)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(min_value=-3, max_value=MAX_ID + 3), st.booleans(), st.text(max_size=3)),
                min_size=1, max_size=8),
       st.sampled_from(["data.test", "data.other", "bad type"]))
def test_the_c_check_agrees_with_the_python_check(ids: list, type_name: str) -> None:
    array = [{"id": i, "type": type_name, "data": None} for i in ids]
    outcomes = []
    for fast in (arrays._ascending_ids, None):
        saved, arrays._ascending_ids = arrays._ascending_ids, fast
        try:
            checker = ArrayChecker()
            checker.encode(objs([1]))
            outcomes.append(checker.encode(array))
        except NomError as exc:
            outcomes.append(str(exc))
        finally:
            arrays._ascending_ids = saved
    assert outcomes[0] == outcomes[1]
