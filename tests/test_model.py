"""NOM objects: ids, type names, matching, job ids."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest

from nom import IdClock, Nom, NomError, check_job_id, is_job_id, slug, tweet_type, type_matches


def test_nom_checks_fields_and_names_the_offender() -> None:
    assert Nom(1, "data.list.integers", [1, 2]).to_dict() == {"id": 1, "type": "data.list.integers", "data": [1, 2]}
    with pytest.raises(NomError, match="id must be an integer") as err:
        Nom("12", "data.x")
    assert err.value.field == "id"
    with pytest.raises(NomError, match=r"type must be a dotted name.*'data..x'") as err:
        Nom(1, "data..x")
    assert err.value.field == "type"
    with pytest.raises(NomError, match="between 0"):
        Nom(-5, "data.x")
    with pytest.raises(NomError, match="has no 'type'"):
        Nom.from_dict({"id": 3})


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    ("data.tweet-biden-harris", "data.tweet-biden-harris", True),
    ("data.tweet-biden-harris", "data.tweet-biden", False),
    ("data.tweet-*", "data.tweet-biden-harris", True),
    ("data.tweet-*", "data.collector.job", False),
    ("data.*.words", "data.job1.words", True),
    ("data.tweet-?iden", "data.tweet-biden", True),
])
def test_type_matching(pattern: str, name: str, expected: bool) -> None:
    assert type_matches(pattern, name) is expected


def test_slug_and_tweet_type() -> None:
    assert slug("Biden  Harris!") == "biden-harris"
    assert tweet_type("biden harris") == "data.tweet-biden-harris"
    assert tweet_type("Élection 2024") == "data.tweet-élection-2024"
    assert Nom(1, tweet_type("케이팝 BTS")).type == "data.tweet-케이팝-bts"
    assert slug("!!!") == "all"


@pytest.mark.parametrize("bad", ["", "..", "../x", "a/b", "/etc", "a\x00b", ".hidden", "-x", "a..b", "x" * 129, 5,
                                 None])
def test_bad_job_ids_are_refused(bad: object) -> None:
    assert not is_job_id(bad)
    with pytest.raises(NomError, match="jobId must be"):
        check_job_id(bad)


@pytest.mark.parametrize("good", ["a", "job1", "A.b_c-d", "x" * 128, "j1.words"])
def test_good_job_ids(good: str) -> None:
    assert check_job_id(good) == good


def test_clock_never_repeats_when_time_stands_still_or_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = IdClock()
    now = [1_000_000]
    monkeypatch.setattr(time, "time_ns", lambda: now[0])
    first = [clock.next() for _ in range(5)]
    now[0] = 10  # the clock steps back
    later = [clock.next() for _ in range(5)]
    ids = first + later
    assert ids == sorted(ids) and len(set(ids)) == 10
    block = clock.take(100)
    assert block == ids[-1] + 1 and clock.next() == block + 100


def _take_ids(path: str, count: int, queue: mp.Queue[list[int]]) -> None:
    clock = IdClock(path)
    queue.put([clock.next() for _ in range(count)])


def test_clock_is_shared_between_processes(tmp_path) -> None:
    path = str(tmp_path / "clock")
    queue: mp.Queue[list[int]] = mp.Queue()
    procs = [mp.Process(target=_take_ids, args=(path, 5000, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    batches = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    every = [i for batch in batches for i in batch]
    assert len(set(every)) == 15000
    for batch in batches:
        assert batch == sorted(batch)
    # a clock opened later (a restart) continues above all of them
    assert IdClock(path).next() > max(every)


def test_clock_leases_keep_processes_unique_and_in_order_within_a_lease(tmp_path) -> None:
    from nom.store.clock import LEASE_NS

    path = str(tmp_path / "clock")
    a, b = IdClock(path), IdClock(path)  # two processes sharing a job's clock
    issued = []
    for n in range(3000):
        issued.append((a if n % 3 else b).take(1 + n % 50))
    assert len(set(issued)) == len(issued)
    assert all(later > earlier - LEASE_NS for earlier, later in zip(issued, issued[1:]))
    assert IdClock(path).next() > max(issued)  # a restart starts above every lease handed out
