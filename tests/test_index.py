"""The ``index`` reduce and ``search``: the index equals one built by a plain loop, however it is split, merged
and encoded; phrase queries over the three shared books find exactly the occurrences a plain scan finds (and
nothing for absent phrases), through a real Dispatch and again from the stored result after a restart; the query
language's errors name the problem."""

from __future__ import annotations

import random
from collections import defaultdict

import orjson
import pytest

from book_helpers import NAMES, store_book
from conftest import wait_for
from dispatch.functions import finish, fold_objects, merge_into, new_accumulator, resolve_map, resolve_reduce
from dispatch.functions.index import InvertedIndex
from dispatch.functions.text import term_spans, terms
from dispatch.query import QueryError, parse_query, run_query
from nectar.testing import ServiceProcess
from nom import Store


def reference_index(objs: list[dict]) -> dict[str, dict]:
    """The index by a plain loop: term -> {"df", "cf", "postings"}."""
    postings: dict[str, dict[int, list[int]]] = defaultdict(dict)
    for obj in objs:
        for pos, term in enumerate(terms(obj["data"]["text"])):
            postings[term].setdefault(obj["id"], []).append(pos)
    return {t: {"df": len(p), "cf": sum(map(len, p.values())), "postings": [[i, p[i]] for i in sorted(p)]}
            for t, p in postings.items()}


def words(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    vocab = ["whale", "sea", "Don’t", "don't", "to-morrow", "_ship_", "Ahab", "café", "cafe\u0301", "1851", "the"]
    return [{"id": 1000 + 7 * i, "type": "data.t", "data": {"text": " ".join(rng.choices(vocab, k=rng.randint(0, 9)))}}
            for i in range(n)]


def test_index_equals_a_plain_loop_however_it_is_split_merged_and_encoded() -> None:
    objs = words(400, 1)
    mapper, reducer = resolve_map("words"), resolve_reduce("index")
    expected = reference_index(objs)
    rng = random.Random(2)
    for turn in range(6):
        shuffled = objs[:]
        if turn % 2:
            rng.shuffle(shuffled)  # parts in any order, as workers and partitions finish
        else:
            shuffled.reverse()  # parts of runs of ids (as local workers fold them), merged in either order
        cuts = sorted(rng.sample(range(1, len(objs)), 4))
        total = new_accumulator(mapper, reducer)
        for part in (shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(objs)])):
            acc = new_accumulator(mapper, reducer)
            fold_objects(part, mapper, reducer, acc)
            way = rng.randrange(3)
            if way == 0:  # on the wire as JSON (Spark, checkpoints)
                merge_into(total, orjson.loads(orjson.dumps(acc.items())), reducer)
            elif way == 1:  # as a local worker sends it: JSON naming binary frames
                frames: list = []
                pairs = orjson.loads(orjson.dumps(acc.items(frames)))
                merge_into(total, pairs, reducer, [bytes(f) for f in frames])
            else:
                merge_into(total, acc, reducer)
        result = finish(total, reducer)
        assert dict(result[:]) == expected
        dfs = [v["df"] for _, v in result]
        assert dfs == sorted(dfs, reverse=True)  # ranked by documents
        assert len(total.docs) == len({o["id"] for o in objs})  # empty documents count too (BM25's N)
    twice = new_accumulator(mapper, reducer)  # an object folded twice (a file read again) counts once
    fold_objects(objs[:300], mapper, reducer, twice)
    fold_objects(objs[100:], mapper, reducer, twice)
    other = new_accumulator(mapper, reducer)
    fold_objects(objs[50:150], mapper, reducer, other)
    merge_into(twice, other, reducer)
    assert dict(finish(twice, reducer)[:]) == expected
    again = InvertedIndex.from_pairs(finish(total, reducer)[:])  # a stored result read back
    assert dict(finish(again, reducer)[:]) == expected
    frames: list = []
    encoded = total.encode(frames)
    for bad in ([], [bytes(f) for f in frames[:-1]], [b"\0\0\0" for _ in frames]):  # frames missing or cut
        with pytest.raises(ValueError):
            InvertedIndex.decode(encoded, bad)


def test_query_language_errors_name_the_problem() -> None:
    for text, message in [('"white whale', "not closed"), ("OR whale", "OR needs a term"),
                          ("whale OR", "OR needs a term"), ("whale OR OR sea", "OR needs a term"),
                          ("-whale", "not negated"), ("wh*le", "may only end a word"), ("*", "may only end"),
                          ("---", "holds no word"), ('""', "holds no word"), ("   ", "empty"),
                          ("whale OR -sea", "cannot be part of an OR"), ("whale -", "must be followed")]:
        with pytest.raises(QueryError, match=message):
            parse_query(text)
    assert parse_query('Whale OR sea -"the ship" ahab* To-morrow').describe() == \
        'whale OR sea ahab* "to morrow" -"the ship"'


def test_query_semantics_over_a_small_index() -> None:
    objs = [{"id": i, "data": {"text": t}} for i, t in enumerate(
        ["the white whale", "a white ship", "whale and ship", "the whale is white", "whales of the sea"], start=1)]
    index = new_accumulator(resolve_map("words"), resolve_reduce("index"))
    fold_objects(objs, resolve_map("words"), resolve_reduce("index"), index)

    def ids(q: str) -> set[int]:
        return {int(index.docs[d]) for d in run_query(index, parse_query(q), limit=100).docs}

    assert ids("whale white") == {1, 4}
    assert ids('"white whale"') == {1}
    assert ids("whale OR ship") == {1, 2, 3, 4}
    assert ids("whale -white") == {3}
    assert ids("whal*") == {1, 3, 4, 5}
    assert ids("shi*") == {2, 3} and ids("shi* white") == {2}  # a prefix that only one term has
    assert ids('white -"white whale"') == {2, 4}
    assert ids("kraken") == set() and ids('"whale white"') == set()
    ranked = run_query(index, parse_query("white"), limit=2)
    assert ranked.total == 3 and len(ranked.docs) == 2


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    """The three books as paragraph objects, one job each, and a Dispatch over them."""
    root = tmp_path_factory.mktemp("books") / "root"
    store = Store(root)
    texts: dict[str, dict[int, dict]] = {}
    for name in NAMES:
        job = "book-" + name.split(".")[0]
        texts[job] = {o["id"]: o for o in store_book(store, job, name)}
    dispatch = ServiceProcess("dispatch", root, "--workers", "2").start()
    for job in texts:
        apply_id = dispatch.call("apply", map="words", reduce="index", jobId=job)["applyId"]
        wait_for(lambda a=apply_id: dispatch.call("status", applyId=a, top=1)["state"] == "done", timeout=60)
    yield root, dispatch, texts
    dispatch.kill()


_TERMS: dict[int, list[str]] = {}


def occurrences(objs: dict[int, dict], phrase: list[str]) -> set[tuple[int, int]]:
    """(object id, position) of every occurrence of ``phrase``, by a plain scan (of each text's terms, made once)."""
    found = set()
    for obj_id, obj in objs.items():
        if obj_id not in _TERMS:
            _TERMS[obj_id] = terms(obj["data"]["text"])
        found_terms = _TERMS[obj_id]
        if phrase[0] not in found_terms:
            continue
        for pos in range(len(found_terms) - len(phrase) + 1):
            if found_terms[pos:pos + len(phrase)] == phrase:
                found.add((obj_id, pos))
    return found


def test_phrases_from_the_books_are_found_where_they_are_and_absent_ones_nowhere(books) -> None:
    root, dispatch, texts = books
    rng = random.Random(19)
    checked = 0
    kept: list[tuple[str, str, list]] = []
    while checked < 100:
        job = rng.choice(sorted(texts))
        obj = rng.choice(list(texts[job].values()))
        found_terms = terms(obj["data"]["text"])
        if len(found_terms) < 4:
            continue
        size = rng.randint(2, 4)
        start = rng.randrange(len(found_terms) - size + 1)
        phrase = found_terms[start:start + size]
        reply = dispatch.call("search", jobId=job, query='"' + " ".join(phrase) + '"', limit=1000)
        expected = occurrences(texts[job], phrase)
        assert (obj["id"], start) in expected
        assert reply["total"] == len({i for i, _ in expected})
        got = set()
        for hit in reply["hits"]:
            data = texts[job][hit["id"]]["data"]
            assert (hit["book"], hit["paragraph"], hit["line"]) == (data["book"], data["paragraph"], data["line"])
            spans = term_spans(data["text"])
            for (pos, count), (a, b) in zip(hit["positions"], hit["matches"]):
                assert count == len(phrase) and [t for t, _, _ in spans[pos:pos + count]] == phrase
                assert (a, b) == (spans[pos][1], spans[pos + count - 1][2])  # offsets of the phrase in the text
                assert terms(data["text"][a:b]) == phrase
                got.add((hit["id"], pos))
            for a, b in hit["highlights"]:
                assert terms(hit["snippet"][a:b]) == phrase
        assert got == expected
        kept.append((job, reply["query"], reply["hits"]))
        checked += 1
    absent = 0
    vocab = {job: sorted({t for o in objs.values() for t in terms(o["data"]["text"])}) for job, objs in texts.items()}
    while absent < 100:
        job = rng.choice(sorted(texts))
        phrase = rng.sample(vocab[job], 2)
        if occurrences(texts[job], phrase):
            continue
        reply = dispatch.call("search", jobId=job, query='"' + " ".join(phrase) + '"')
        assert reply["total"] == 0 and reply["hits"] == []
        absent += 1
    # Dispatch killed: the same answers come from the stored results
    endpoint = dispatch.endpoint
    dispatch.kill()
    dispatch.start(endpoint=endpoint)
    for job, query, hits in kept[:10]:
        again = dispatch.call("search", jobId=job, query=query, limit=1000)
        assert [h["id"] for h in again["hits"]] == [h["id"] for h in hits]
        assert [h["matches"] for h in again["hits"]] == [h["matches"] for h in hits]


def test_search_errors_name_the_job_or_the_query(books) -> None:
    root, dispatch, texts = books
    job = sorted(texts)[0]
    from nectar.errors import ServiceError

    for fields, message in [({"jobId": job, "query": '"dear sister'}, "not closed"),
                            ({"jobId": "no-such-book", "query": "whale"}, "no job 'no-such-book'"),
                            ({"jobId": job, "query": "whale", "applyId": "nope00"}, "no index 'nope00'"),
                            ({"jobId": job, "query": "whale", "limit": -1}, "limit")]:
        with pytest.raises(ServiceError, match=message):
            dispatch.call("search", **fields)
    Store(root).append("tweets-unindexed", [{"id": 1, "type": "data.t", "data": {"text": "x"}}])
    with pytest.raises(ServiceError, match="has no index: build one with 'apply words index"):
        dispatch.call("search", jobId="tweets-unindexed", query="x")


def test_ranking_is_bm25(books) -> None:
    """A rare term outranks a common one, and a shorter paragraph with the same count ranks higher."""
    _, dispatch, texts = books
    job = "book-1342-0"
    reply = dispatch.call("search", jobId=job, query="pemberley", limit=1000)
    scores = [h["score"] for h in reply["hits"]]
    assert scores == sorted(scores, reverse=True) and "BM25" in reply["ranking"]
    lengths = {h["id"]: len(terms(texts[job][h["id"]]["data"]["text"])) for h in reply["hits"]}
    once = [h for h in reply["hits"] if len(h["positions"]) == 1]
    for better, worse in zip(once, once[1:]):  # same frequency: shorter (or equal) paragraphs first
        assert lengths[better["id"]] <= lengths[worse["id"]]



def test_every_query_form_matches_a_plain_scan_of_a_book() -> None:
    """Terms, AND, OR, -term, prefix* and phrases over a book, against sets made by a plain loop."""
    from book_helpers import BOOKS, book_paragraphs

    objs = [{"id": n, "data": p} for n, p in enumerate(book_paragraphs(BOOKS / "244-0.txt"))]
    index = new_accumulator(resolve_map("words"), resolve_reduce("index"))
    fold_objects(objs, resolve_map("words"), resolve_reduce("index"), index)
    split = {o["id"]: terms(o["data"]["text"]) for o in objs}
    vocab = sorted({t for ts in split.values() for t in ts})
    rng = random.Random(7)

    def has(doc: int, item: str) -> bool:
        if item.endswith("*"):
            return any(t.startswith(item[:-1]) for t in split[doc])
        words = item.strip('"').split()
        found = split[doc]
        return any(found[i:i + len(words)] == words for i in range(len(found) - len(words) + 1))

    def word() -> str:
        return rng.choice(split[rng.choice([d for d in split if split[d]])])

    for n in range(150):
        a, b, c = word(), word(), word()
        pre = rng.choice(vocab)[:rng.randint(1, 4)] + "*"
        form = n % 7
        query = [a, f"{a} {b}", f"{a} OR {b}", f"{a} -{b}", pre, f"{pre} {a} OR {c}", f'"{a} {b}" -{c}'][form]

        def expect(d: int, form: int = form, a: str = a, b: str = b, c: str = c, pre: str = pre) -> bool:
            if form == 0:
                return has(d, a)
            if form == 1:
                return has(d, a) and has(d, b)
            if form == 2:
                return has(d, a) or has(d, b)
            if form == 3:
                return has(d, a) and not has(d, b)
            if form == 4:
                return has(d, pre)
            if form == 5:
                return has(d, pre) and (has(d, a) or has(d, c))
            return has(d, f"{a} {b}") and not has(d, c)

        ranked = run_query(index, parse_query(query), limit=10**6)
        got = {int(index.docs[d]) for d in ranked.docs}
        assert got == {d for d in split if expect(d)}, query
        assert ranked.total == len(got) and list(ranked.scores) == sorted(ranked.scores, reverse=True)


def test_stored_parts_read_back_equal_with_narrow_and_wide_positions() -> None:
    mapper, reducer = resolve_map("words"), resolve_reduce("index")
    objs = words(300, 5)
    long_text = " ".join(["whale"] * 70_000 + ["sea"])  # a position past 65,535: 4-byte positions
    for extra in ([], [{"id": 999, "type": "data.t", "data": {"text": long_text}}]):
        acc = new_accumulator(mapper, reducer)
        fold_objects(objs + extra, mapper, reducer, acc)
        parts = orjson.loads(orjson.dumps(acc.encode_parts(50)))  # as stored: JSON
        assert len(parts) > 3 and {p.get("posWidth") for p in parts} == ({2} if not extra else {None})
        again = InvertedIndex.decode_parts(parts)
        assert dict(finish(again, reducer)[:]) == dict(finish(acc, reducer)[:]) == reference_index(objs + extra)
    parts[1]["posWidth"] = 3
    with pytest.raises(ValueError):
        InvertedIndex.decode_parts(parts)
