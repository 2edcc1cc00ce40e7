"""The job index (nom/index.py) agrees with a plain dict of files under any mix of adds and removes."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from nom.index import FileInfo, JobIndex


def info(name: int) -> FileInfo:
    return FileInfo(name, name * 10, name * 10 + 9, name % 7 + 1, 100 + name, name % 2 == 0)


ops = st.lists(st.tuples(st.sampled_from(["add", "remove"]), st.lists(st.integers(1, 3000), max_size=40)),
               max_size=60)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_index_matches_a_dict_model_and_its_file(tmp_path_factory, operations) -> None:
    folder: Path = tmp_path_factory.mktemp("job")
    index, model = JobIndex(folder), {}
    seen_order: list[int] = []
    for op, names in operations:
        if op == "add":
            index.add(info(n) for n in names)
            for n in names:
                if n not in model:
                    seen_order.append(n)
                model[n] = info(n)
        else:
            index.remove(names)
            for n in names:
                model.pop(n, None)
        assert len(index) == len(model)
    expected = [model[n] for n in sorted(model)]
    assert index.infos() == expected
    assert index.overlapping(5000, 20009) == [i for i in expected if i.max_id >= 5000 and i.min_id <= 20009]
    assert index.totals() == (len(model), sum(i.objects for i in expected), sum(i.bytes for i in expected),
                              min((i.min_id for i in expected), default=None),
                              max((i.max_id for i in expected), default=None))
    reread = JobIndex(folder)
    reread.refresh()
    assert reread.infos() == expected  # the index file says the same, compactions included


def test_removing_most_files_keeps_lookups_and_cursors_right(tmp_path: Path) -> None:
    index = JobIndex(tmp_path)
    index.add(info(n) for n in range(1, 5001))
    index.refresh()  # as the store does: from here on the index follows its file
    fresh, cursor = index.added_since((index.epoch, 0))
    assert [i.name for i in fresh] == list(range(1, 5001))
    index.remove(range(1, 4901))  # dead rows outnumber live ones: the columns are rebuilt
    assert [i.name for i in index.infos()] == list(range(4901, 5001))
    assert index.get(4950) == info(4950) and index.get(10) is None and 10 not in index
    index.add([info(7), info(6000)])  # one out of order, one at the end
    fresh, _ = index.added_since(cursor)
    assert [i.name for i in fresh] == [7, 6000]
    assert index.oldest_beyond(info(6000).bytes + info(5000).bytes) == [info(7)] + [info(n) for n in range(4901, 5000)]


def oldest_beyond_model(model: dict[int, FileInfo], budget: int) -> list[FileInfo]:
    """Retention by its definition: drop the oldest files until the rest fit in ``budget`` bytes."""
    files, doomed = [model[n] for n in sorted(model)], []
    while files and sum(f.bytes for f in files) > budget:
        doomed.append(files.pop(0))
    return doomed


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "remove", "rewrite"]), st.lists(st.integers(1, 3000), max_size=40)),
                max_size=40), st.lists(st.integers(-500, 60_000), min_size=1, max_size=4))
def test_oldest_beyond_matches_its_definition_under_adds_removes_and_rewrites(tmp_path_factory, operations,
                                                                             budgets) -> None:
    index, model = JobIndex(tmp_path_factory.mktemp("job")), {}
    for op, names in operations:
        if op == "remove":
            index.remove(names)
            for n in names:
                model.pop(n, None)
        else:  # a rewrite records a file again with another size (the running total must follow)
            infos = [info(n) if op == "add" else FileInfo(n, n * 10, n * 10 + 9, 1, 5000 + n, True) for n in names]
            index.add(infos)
            model.update((i.name, i) for i in infos)
        for budget in budgets:
            assert index.oldest_beyond(budget) == oldest_beyond_model(model, budget)


def retention_model(model: dict[int, FileInfo], new: list[FileInfo], cap: int) -> tuple[list[FileInfo], list[FileInfo]]:
    """Retention by its definition: of the recorded and the new files together, keep the newest whose total fits
    in ``cap`` (and the newest one always); the recorded rest is deleted, the new rest never placed."""
    every = sorted([*model.values(), *new], key=lambda f: f.name)
    kept, total = set(), 0
    for f in reversed(every):
        total += f.bytes
        if total > cap and kept:
            break
        kept.add(f.name)
    fresh = {f.name for f in new}
    gone = [f for f in every if f.name not in kept]
    return [f for f in gone if f.name not in fresh], [f for f in gone if f.name in fresh]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 3000), max_size=60), st.lists(st.integers(1, 3000), max_size=20),
       st.lists(st.integers(3001, 6000), max_size=20), st.integers(-10, 20_000))
def test_retention_matches_its_definition_for_groups_of_any_size(tmp_path_factory, recorded, removed, later,
                                                                  cap) -> None:
    """A group of new files (newer than every recorded file, or interleaved with them as another writer's may
    be) larger or smaller than the cap: what is deleted and what is never placed follow the definition."""
    index, model = JobIndex(tmp_path_factory.mktemp("job")), {}
    index.add(info(n) for n in recorded)
    model.update((n, info(n)) for n in recorded)
    index.remove(removed)
    for n in removed:
        model.pop(n, None)
    for new in ([info(n) for n in sorted(set(later))], [info(n) for n in sorted(set(removed) - set(model))]):
        assert index.retention(cap, new) == retention_model(model, new, cap)
    assert index.retention(cap) == retention_model(model, [], cap)
