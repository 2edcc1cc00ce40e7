"""Results that don't collide or pile up, through the real shell: result jobs named <job>.<map>.<reduce>,
hidden from show jobs unless --all, --no-store, and a standing apply keeping its last snapshots only."""

from __future__ import annotations

import time

import pytest

from conftest import wait_for
from dispatch.protocol import result_job
from nom import Store
from nom.store import is_data_name
from shell_helpers import ShellWorld, run_json, write_job


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    world = ShellWorld(tmp_path_factory.mktemp("results"))
    write_job(world.base, source={"kind": "synthetic", "rate": 2000, "seed": 5})
    yield world
    world.close()



def stored_applies(world, job: str) -> set[str]:
    store = Store(world.root)
    return {o["data"]["apply"] for o in store.scan(job)} if store.exists(job) else set()


@pytest.fixture(scope="module")
def job(world) -> str:
    job = run_json(world, "start", "job.json")["jobId"]
    wait_for(lambda: run_json(world, "disk", job)["objects"] >= 500, what="objects")
    return job


def test_results_of_two_maps_never_share_a_job(world, job) -> None:
    tags = run_json(world, "apply", "hashtags", "topk:10", job, "-1d", "-1s")["apply"]
    words = run_json(world, "apply", "words", "topk:10", job, "-1d", "-1s")["apply"]
    assert result_job(job, "topk:10", "hashtags") == f"{job}.hashtags.topk-10"
    wait_for(lambda: tags in stored_applies(world, f"{job}.hashtags.topk-10"), what="stored hashtags")
    wait_for(lambda: words in stored_applies(world, f"{job}.words.topk-10"), what="stored words")
    assert stored_applies(world, f"{job}.hashtags.topk-10") == {tags}
    shown = [j["jobId"] for j in run_json(world, "show", "jobs")["jobs"]]
    every = [j["jobId"] for j in run_json(world, "show", "jobs", "--all")["jobs"]]
    assert job in shown and f"{job}.hashtags.topk-10" not in shown
    assert {f"{job}.hashtags.topk-10", f"{job}.words.topk-10"} <= set(every)
    assert "result jobs not shown" in world.nectar("show", "jobs").stdout
    assert len(result_job("j" * 100, "topk:10", "field:" + "x" * 100)) <= 128


def test_no_store_shows_and_stores_nothing(world, job) -> None:
    done = run_json(world, "apply", "lang", "sum", job, "-1d", "-1s", "--no-store")
    assert done["result"] and done["objects"] > 0
    time.sleep(1.0)
    assert done["apply"] not in stored_applies(world, f"{job}.lang.sum")


def test_a_standing_apply_keeps_its_last_snapshots(world, job) -> None:
    standing = run_json(world, "apply", "hashtags", "sum", job, "-1h", "now")["apply"]
    target = f"{job}.hashtags.sum.standing"
    wait_for(lambda: Store(world.root).exists(target), what="the first snapshot")
    time.sleep(14)  # one snapshot a second while objects arrive
    files = sum(1 for p in (world.root / target).iterdir() if is_data_name(p.name))
    cap = run_json(world, "jobMaxSize", "show", target)["jobs"][0]["maxSize"]
    assert cap and files <= 12, files  # the newest ten or so, not fourteen and counting
    assert run_json(world, "cancel", standing)["state"] == "cancelled"
