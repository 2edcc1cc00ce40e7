"""Dispatch under live load and bad requests (issue 16): standing reductions started on a live job count every
object, no single request stops Dispatch, and a worker folding a slow file is not declared dead."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest
from conftest import wait_for
from services import Service

from nom.index import is_data_name


def count_in_files(folder: Path, from_id: int | None) -> int:
    """The stored objects with ids from ``from_id`` on, counted from the data files themselves."""
    total = 0
    for name in os.listdir(folder):
        if is_data_name(name):
            total += sum(1 for o in orjson.loads((folder / name).read_bytes()) if from_id is None or o["id"] >= from_id)
    return total


def test_standing_applies_started_on_a_live_job_count_every_object(tmp_path: Path) -> None:
    """Issue 16, defect 1: the batch part and the follower's consumed set come from one listing of the store."""
    root = tmp_path / "root"
    collector = Service("collector", root).start()
    dispatch = Service("dispatch", root, "--workers", "2").start()
    try:
        reply = collector.call("newCollectorJob", jobName="live", searchTerms="biden harris",
                               collectorObjectsPerFile=2, delayInMsBetweenObjects=0,
                               source={"kind": "synthetic", "rate": 10_000, "seed": 1})
        job = reply["data"]["jobId"]
        dispatch.call("attach", job=reply)

        def stored() -> int:
            return collector.call("jobStatus", jobId=job)["stored"]

        wait_for(lambda: stored() >= 4_000, timeout=60, what="2,000 files")
        applies: list[tuple[str, int | None]] = []
        for n in range(10):
            # half over the whole job, half from a moment ago (a NOM id as fromDate)
            from_id = None if n % 2 == 0 else time.time_ns() - 1_000_000_000
            request = {"map": "count", "reduce": "sum", "jobId": job, "toDate": "now"}
            if from_id is not None:
                request["fromDate"] = str(from_id)
            # a loaded Dispatch may take a while to answer: the point is what it counts, not how fast it answers
            applies.append((dispatch.call("apply", timeout=60, **request)["applyId"], from_id))
            before = stored()
            wait_for(lambda: stored() >= before + 500, timeout=30, what="the job to go on")  # noqa: B023
        # every apply started while files landed (500 objects were stored after the last one)
        collector.call("stopCollectorJob", jobId=job)
        wait_for(lambda: collector.call("jobStatus", jobId=job)["state"] != "running", timeout=30, what="the stop")
        expected = {apply_id: count_in_files(root / job, from_id) for apply_id, from_id in applies}

        def counted() -> dict[str, int]:
            return {apply_id: dispatch.call("status", timeout=60, applyId=apply_id)["objects"]
                    for apply_id, _ in applies}

        try:
            wait_for(lambda: counted() == expected, timeout=60, interval=0.2, what="every standing apply to catch up")
        except pytest.fail.Exception:
            now = counted()
            pytest.fail("standing applies short of the files' count: "
                        + ", ".join(f"{a}: {now[a]} of {expected[a]}" for a in expected if now[a] != expected[a]))
        for apply_id, _ in applies:
            status = dispatch.call("status", applyId=apply_id, top=0)
            assert status["state"] == "standing"
            assert status["result"] == [["data.tweet-biden-harris", expected[apply_id]]]
    finally:
        dispatch.kill()
        collector.kill()
