"""Issue 20 on Spark (PySpark, local[2]): verify of a Spark result and of a local one both say identical,
each re-run on the other engine too (the result hash is of the canonical result, whatever order ties came in)."""

from __future__ import annotations

from pathlib import Path

from conftest import wait_for
from nectar.testing import ServiceProcess
from nom.store import Store


def wait_done(dispatch: ServiceProcess, apply_id: str) -> dict:
    return wait_for(lambda: (r := dispatch.call("status", applyId=apply_id, top=0))["state"] in ("done", "failed")
                    and r, timeout=120, what=f"apply {apply_id}")


def test_verify_of_a_spark_and_a_local_result_says_identical(tmp_path: Path) -> None:
    root = tmp_path / "NOM_ROOT"
    store = Store(root)
    words = "the of and to in a is that for it as was with be by on not he this are or".split()
    for n in range(12):
        store.append("s1", [{"id": i, "type": "data.tweet", "data": {"text": " ".join(words[(i + k) % 21] for k in
                                                                                      range(n % 7 + 3))}}
                            for i in store.new_ids("s1", 40)])
    dispatch = ServiceProcess("dispatch", root, "--workers", "1", "--engine", "spark", "--spark-master",
                              "local[2]").start(timeout=90)
    dispatch.client.timeout = 60  # type: ignore[union-attr]
    try:
        spark = wait_done(dispatch, dispatch.call("apply", map="words", reduce="sum", jobId="s1")["applyId"])
        local = wait_done(dispatch, dispatch.call("apply", map="words", reduce="sum", jobId="s1",
                                                  engine="local")["applyId"])
        assert spark["engine"] == "spark" and local["engine"] == "local" and spark["objects"] == 480
        assert spark["provenance"]["resultSha256"] == local["provenance"]["resultSha256"]
        assert spark["provenance"]["inputs"]["snapshot"] == local["provenance"]["inputs"]["snapshot"]
        for original, engine in ((spark, None), (local, None), (local, "spark")):
            request = {"applyId": original["applyId"], **({"engine": engine} if engine else {})}
            rerun = wait_done(dispatch, dispatch.call("verifyApply", **request)["applyId"])
            verification = rerun["verification"]
            assert verification["identical"] is True, verification
            assert rerun["engine"] == (engine or original["engine"])
    finally:
        dispatch.kill()
