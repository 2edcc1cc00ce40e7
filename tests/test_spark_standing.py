"""A standing reduction on the Spark engine, with Dispatch killed and restarted twice, ends equal to a batch apply."""

from __future__ import annotations

import random
import time

from conftest import wait_for
from nectar.testing import ServiceProcess
from nom import Store


def test_standing_on_spark_survives_two_sigkills(tmp_path) -> None:
    root = tmp_path / "root"
    rng = random.Random(8)
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "1", "--engine", "spark", "--spark-master",
                              "local[2]").start(timeout=90)
    try:
        reply = collector.call("newCollectorJob", jobName="spark standing", searchTerms="biden harris",
                               collectorObjectsPerFile=50, delayInMsBetweenObjects=0,
                               source={"kind": "synthetic", "rate": 800, "count": 12_000, "seed": 4})
        job = reply["data"]["jobId"]
        dispatch.call("attach", job=reply)
        standing = dispatch.call("apply", map="hashtags", reduce="sum", jobId=job, toDate="now")
        assert standing["engine"] == "spark"
        for _ in range(2):
            time.sleep(rng.uniform(2.0, 4.0))
            endpoint = dispatch.endpoint
            dispatch.kill()
            dispatch = ServiceProcess("dispatch", root, "--workers", "1", "--engine", "spark", "--spark-master",
                               "local[2]").start(endpoint=endpoint, timeout=90)
        wait_for(lambda: collector.call("jobStatus", jobId=job)["state"] == "finished", timeout=60, what="source")
        assert Store(root).usage(job).objects == 12_000
        wait_for(lambda: dispatch.call("status", applyId=standing["applyId"])["objects"] == 12_000, timeout=60,
                 what="the standing reduction to catch up")
        now = dispatch.call("status", applyId=standing["applyId"], top=0)
        batch_id = dispatch.call("apply", map="hashtags", reduce="sum", jobId=job, engine="spark")["applyId"]
        wait_for(lambda: dispatch.call("status", applyId=batch_id)["state"] == "done", timeout=60, what="batch")
        batch = dispatch.call("status", applyId=batch_id, top=0)
    finally:
        dispatch.kill()
        collector.kill()
    assert now["state"] == "standing" and now["engine"] == "spark"
    assert batch["engine"] == "spark" and batch["objects"] == 12_000
    assert dict(map(tuple, now["result"])) == dict(map(tuple, batch["result"]))
