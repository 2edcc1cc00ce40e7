"""Every built-in map and reduce against a hand-computed answer; user functions; named errors."""

from __future__ import annotations


import pytest

from dispatch.dates import DateError, parse_date, parse_range
from dispatch.functions import (FoldError, FunctionError, finish, fold_objects, new_accumulator, resolve_map,
                                resolve_reduce, tokens)

T1 = {"id": 1, "type": "data.tweet-x", "data": {
    "id": "11", "text": "Hello #World, hello @Alice! https://t.co/abc Café café", "lang": "en",
    "author": {"username": "Bob"}, "author_id": "900", "created_at": "2026-11-23T10:15:00.000Z",
    "entities": {"hashtags": [{"tag": "World"}], "mentions": [{"username": "Alice"}],
                 "urls": [{"url": "https://t.co/abc", "expanded_url": "https://www.Example.com/a"}]}}}
T2 = {"id": 2, "type": "data.tweet-x", "data": {
    "id": "12", "text": "no entities here #Brexit #brexit @bob http://news.example.org/x", "lang": "fr",
    "author_id": "901", "created_at": "2026-11-23T11:59:59.000Z"}}
T3 = {"id": 3, "type": "data.tweet-x", "data": {"id": "13", "text": "日本語 テスト hello", "author_id": "901"}}
OBJS = [T1, T2, T3]


def run(map_name: str, reduce_name: str, objs=OBJS, per_object: bool = False):
    mapper, reducer = resolve_map(map_name), resolve_reduce(reduce_name)
    acc = new_accumulator(mapper, reducer)
    if per_object:
        acc = {}
        for obj in objs:
            fold_objects([obj], mapper, reducer, acc)
    else:
        fold_objects(objs, mapper, reducer, acc)
    return dict((k if not isinstance(k, list) else tuple(k), v) for k, v in finish(acc, reducer))


def test_words_are_unicode_lowercased_without_urls_and_mentions() -> None:
    assert tokens("Hello #World, hello @Alice! https://t.co/abc Café café") == [
        "hello", "world", "hello", "café", "café"]
    assert run("words", "sum") == {"hello": 3, "world": 1, "café": 2, "no": 1, "entities": 1, "here": 1,
                                   "brexit": 2, "日本語": 1, "テスト": 1}


@pytest.mark.parametrize(("map_name", "expected"), [
    ("hashtags", {"world": 1, "brexit": 2}),  # entities when present, else parsed; case-folded
    ("mentions", {"alice": 1, "bob": 1}),
    ("urls", {"https://www.Example.com/a": 1, "http://news.example.org/x": 1}),
    ("domains", {"example.com": 1, "news.example.org": 1}),
    ("lang", {"en": 1, "fr": 1, "und": 1}),
    ("authors", {"bob": 1, "901": 2}),
    ("count", {"data.tweet-x": 3}),
    ("hour", {"2026-11-23T10:00Z": 1, "2026-11-23T11:00Z": 1, "1970-01-01T00:00Z": 1}),
    ("field:data.author_id", {"900": 1, "901": 2}),
    ("field:data.lang", {"en": 1, "fr": 1}),
])
def test_key_maps_with_sum(map_name: str, expected: dict) -> None:
    assert run(map_name, "sum") == expected
    assert run(map_name, "sum", per_object=True) == expected  # the per-pair path agrees with the fast path


def test_length_map() -> None:
    lengths = [len(o["data"]["text"]) for o in OBJS]
    assert run("length", "sum") == {"length": sum(lengths)}
    assert run("length", "min") == {"length": min(lengths)}
    assert run("length", "max") == {"length": max(lengths)}
    assert run("length", "mean") == {"length": pytest.approx(sum(lengths) / 3)}
    stats = run("length", "stats")["length"]
    mean = sum(lengths) / 3
    assert stats["count"] == 3 and stats["sum"] == sum(lengths) and stats["min"] == min(lengths)
    assert stats["stddev"] == pytest.approx((sum((x - mean) ** 2 for x in lengths) / 3) ** 0.5)


def test_count_reduce_counts_values_whatever_they_are() -> None:
    assert run("length", "count") == {"length": 3}
    assert run("authors", "count") == {"bob": 1, "901": 2}


def test_topk_keeps_the_largest() -> None:
    assert list(run("words", "topk:2").items()) == [("hello", 3), ("brexit", 2)]


def test_distinct_and_postings() -> None:
    assert run("userfuncs.funcs:text_by_lang", "distinct")["en"] == [T1["data"]["text"]]
    assert run("hashtags", "postings") == {"brexit": [2, 2], "world": [1]}
    assert run("authors", "postings") == {"901": [2, 3], "bob": [1]}


def test_results_are_sorted_by_value_largest_first() -> None:
    mapper, reducer = resolve_map("words"), resolve_reduce("sum")
    acc = new_accumulator(mapper, reducer)
    fold_objects(OBJS, mapper, reducer, acc)
    values = [v for _, v in finish(acc, reducer)]
    assert values == sorted(values, reverse=True)


def test_user_functions_by_import_path() -> None:
    assert run("userfuncs.funcs:first_letter", "sum") == {"h": 1, "n": 1, "日": 1}
    assert run("lang", "userfuncs.funcs:longest") == {"en": 1, "fr": 1, "und": 1}


@pytest.mark.parametrize(("name", "field", "message"), [
    ("nosuchmap", "map", "neither a built-in"),
    ("os.system", "map", "neither a built-in"),
    ("__import__('os')", "map", "neither a built-in"),
    ("nosuchmodule.x:f", "map", "cannot import module 'nosuchmodule.x'"),
    ("userfuncs.funcs:missing", "map", "has no 'missing'"),
    ("userfuncs.funcs:NOT_CALLABLE", "map", "is a int, not a function"),
    ("field:", "map", "dotted path"),
    ("", "map", "map must be a name"),
])
def test_bad_map_names(name: str, field: str, message: str) -> None:
    with pytest.raises(FunctionError, match=message) as err:
        resolve_map(name)
    assert err.value.field == field


@pytest.mark.parametrize(("name", "message"), [
    ("topk:0", "topk needs a count"), ("topk:x", "topk needs a count"), ("average", "neither a built-in"),
    ("userfuncs.funcs:gone", "has no 'gone'"),
])
def test_bad_reduce_names(name: str, message: str) -> None:
    with pytest.raises(FunctionError, match=message) as err:
        resolve_reduce(name)
    assert err.value.field == "reduce"


def test_user_function_error_names_the_object_and_keeps_its_traceback() -> None:
    objs = [{"id": i, "type": "data.n", "data": i} for i in range(5, 10)]
    mapper, reducer = resolve_map("userfuncs.funcs:explode_on_seven"), resolve_reduce("sum")
    with pytest.raises(FoldError) as err:
        fold_objects(objs, mapper, reducer, {})
    assert err.value.obj_id == 7 and "seven is not allowed" in err.value.trace and "funcs.py" in err.value.trace
    acc: dict = {}
    assert fold_objects(objs, mapper, reducer, acc, skip_errors=True) == 1
    assert acc == {"n": 5 + 6 + 8 + 9}


NOW = 1_795_000_000_000_000_000  # a fixed "now" in ns


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-23", 1795392000 * 10**9),
    ("2026-11-23T10:00:00", (1795392000 + 36000) * 10**9),
    ("2026-11-23T10:00:00+01:00", (1795392000 + 32400) * 10**9),
    ("2026-11-23T10:00:00Z", (1795392000 + 36000) * 10**9),
    ("1700000000", 1_700_000_000 * 10**9),
    ("1700000000.5", 1_700_000_000_500_000_000),
    ("1795000000123456789", 1_795_000_000_123_456_789),
    ("-15m", NOW - 900 * 10**9), ("-2h", NOW - 7200 * 10**9), ("-7d", NOW - 7 * 86400 * 10**9),
    ("now", NOW), ("today", (NOW // (86400 * 10**9)) * 86400 * 10**9),
    ("2262-04-11", 9_223_286_400 * 10**9),  # the last day a NOM id can name
])
def test_dates(text: str, expected: int) -> None:
    assert parse_date(text, field="fromDate", now_ns=NOW) == expected


@pytest.mark.parametrize(("args", "field", "message"), [
    (("yesterday-ish", None), "fromDate", "is not a date"),
    (("2026-13-45", None), "fromDate", "is not a date"),
    ((None, "-5x"), "toDate", "is not a date"),
    (("2026-11-24", "2026-11-23"), "fromDate", "is after toDate"),
    ((None, "9999-12-31"), "toDate", "outside the dates a NOM id can name"),  # beyond 64 bits (issue 16)
    ((None, "2262-04-12"), "toDate", "outside the dates a NOM id can name"),  # beyond a signed 64-bit id
    (("0001-01-01", None), "fromDate", "outside the dates a NOM id can name"),
    (("9999999999999999999", "now"), "fromDate", "outside the dates a NOM id can name"),
])
def test_bad_dates_and_ranges_are_named(args, field: str, message: str) -> None:
    with pytest.raises(DateError, match=message) as err:
        parse_range(*args, now_ns=NOW)
    assert err.value.field == field


def test_range_to_now_is_standing() -> None:
    assert parse_range("-1h", "now", now_ns=NOW) == (NOW - 3600 * 10**9, None, True)
    assert parse_range(None, None) == (None, None, False)
