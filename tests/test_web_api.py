"""The web service's JSON API against the real collector, Dispatch and web processes: jobs, applies, results
with paging and a specifier, errors with statuses and fields, ids as strings, the token gate, /docs."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import wait_for
from nectar.testing import WebProcess
from web_helpers import JOB, Stack, http, running_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("web")) as s:
        yield s


@pytest.fixture(scope="module")
def job(stack: Stack) -> str:
    status, reply = stack.call("POST", "/api/v1/jobs", JOB)
    assert status == 201, reply
    job_id = reply["data"]["jobId"]
    wait_for(lambda: stack.call("GET", f"/api/v1/jobs/{job_id}")[1]["objects"] >= 300, 20, what="300 objects")
    return job_id


def test_jobs_are_listed_shown_and_their_files_paged_with_ids_as_strings(stack: Stack, job: str) -> None:
    status, listing = stack.call("GET", "/api/v1/jobs")
    assert status == 200
    row = next(r for r in listing["jobs"] if r["jobId"] == job)
    assert row["state"] == "running" and isinstance(row["newestId"], str) and int(row["newestId"]) > 2**53
    status, one = stack.call("GET", f"/api/v1/jobs/{job}")
    assert status == 200 and one["request"]["jobName"] == "web test" and one["standing"] == []
    status, first = stack.call("GET", f"/api/v1/jobs/{job}/files?limit=3")
    assert status == 200 and len(first["files"]) == 3 and first["more"] is True
    assert all(isinstance(f[k], str) for f in first["files"] for k in ("name", "minId", "maxId"))
    _, after = stack.call("GET", f"/api/v1/jobs/{job}/files?limit=2&after={first['files'][-1]['name']}")
    assert int(after["files"][0]["name"]) > int(first["files"][-1]["name"])
    _, everything = stack.call("GET", f"/api/v1/jobs/{job}/files?limit=5000")
    assert [f["name"] for f in everything["files"][3:5]] == [f["name"] for f in after["files"]]
    status, disk = stack.call("GET", f"/api/v1/jobs/{job}/disk")
    assert status == 200 and disk["objects"] >= 300 and disk["files"] >= 6 and isinstance(disk["oldestId"], str)


def test_an_apply_runs_and_its_result_pages_and_filters(stack: Stack, job: str) -> None:
    status, started = stack.call("POST", "/api/v1/applies", {"map": "words", "reduce": "sum", "jobId": job})
    assert status == 201 and started["state"] == "running", started
    apply_id = started["applyId"]
    wait_for(lambda: stack.call("GET", f"/api/v1/applies/{apply_id}")[1]["state"] == "done", 30, what="done")
    status, whole = stack.call("GET", f"/api/v1/applies/{apply_id}/result?limit=100000")
    assert status == 200 and whole["keys"] == len(whole["rows"]) > 10
    _, page = stack.call("GET", f"/api/v1/applies/{apply_id}/result?offset=5&limit=4")
    assert page["rows"] == whole["rows"][5:9]
    word, count = whole["rows"][7]
    _, one = stack.call("GET", f"/api/v1/applies/{apply_id}/result?specifier={word}")
    assert one["rows"] == [[word, count]]
    status, listing = stack.call("GET", "/api/v1/applies")
    assert status == 200 and apply_id in [a["applyId"] for a in listing["applies"]]


def test_a_standing_apply_is_listed_with_its_top_rows_and_cancelled(stack: Stack, job: str) -> None:
    _, started = stack.call("POST", "/api/v1/applies", {"map": "hashtags", "reduce": "topk:5", "jobId": job,
                                                        "toDate": "now"})
    apply_id = started["applyId"]

    def listed() -> list:
        return [s for s in stack.call("GET", "/api/v1/standing")[1]["standing"] if s["applyId"] == apply_id]

    row = wait_for(listed, 30, what="the standing apply")[0]
    assert row["state"] == "standing" and 0 < len(row["top"]) <= 5
    status, reply = stack.call("POST", f"/api/v1/applies/{apply_id}/cancel")
    assert status == 200 and reply["state"] == "cancelled"
    assert not listed()


def test_errors_are_json_with_a_code_a_message_and_the_field(stack: Stack, job: str) -> None:
    status, reply = stack.call("GET", "/api/v1/jobs/..bad")
    assert status == 400 and reply["field"] == "jobId" and reply["code"] == "bad_request"
    status, reply = stack.call("GET", "/api/v1/jobs/no-such-job")
    assert status == 404 and reply["field"] == "jobId" and "no-such-job" in reply["message"]
    status, reply = stack.call("GET", "/api/v1/applies/abc123/result")
    assert status == 404 and reply["field"] == "applyId"
    status, reply = stack.call("GET", f"/api/v1/jobs/{job}/files?limit=0")
    assert status == 400 and reply["field"] == "limit"
    status, reply = stack.call("POST", "/api/v1/jobs", {"jobName": "x"})
    assert status == 400 and reply["field"] == "searchTerms"
    status, reply = stack.call("POST", "/api/v1/applies", {"map": "nope", "reduce": "sum", "jobId": job})
    assert status == 400 and reply["field"] == "map"
    status, reply = stack.call("GET", "/?method=word-count&book=../../etc/passwd")
    assert status == 400 and reply["field"] == "book"
    status, reply = stack.call("GET", "/?method=frobnicate&book=1342-0.txt")
    assert status == 400 and reply["field"] == "method"
    status, reply = stack.call("GET", "/no/such/page")
    assert status == 404 and reply["code"] == "not_found"


def test_a_service_that_does_not_answer_is_a_503(tmp_path: Path) -> None:
    (tmp_path / "nectar.toml").write_text("timeout = 2.0\n")  # the web process's config: wait 2 s, not 10
    web = WebProcess("tcp://127.0.0.1:9", "tcp://127.0.0.1:9", tmp_path).start()
    try:
        status, reply = http(web.url, "GET", "/api/v1/jobs")
        assert status == 503 and reply["code"] == "unavailable" and "collector" in reply["message"]
        status, reply = http(web.url, "GET", "/api/v1/health")
        assert status == 200 and reply["services"]["dispatch"]["up"] is False
    finally:
        web.kill()


def test_a_job_is_stopped(stack: Stack) -> None:
    _, reply = stack.call("POST", "/api/v1/jobs", {**JOB, "jobName": "to stop"})
    job_id = reply["data"]["jobId"]
    status, stopped = stack.call("POST", f"/api/v1/jobs/{job_id}/stop")
    assert status == 200 and stopped["state"] == "stopped"
    assert stack.call("GET", f"/api/v1/jobs/{job_id}")[1]["state"] == "stopped"


def test_docs_serves_the_readme_as_html(stack: Stack) -> None:
    status, page = stack.call("GET", "/docs")
    assert status == 200 and "<table>" in page and "<h1>Nectar</h1>" in page and "<!--" not in page
    assert "/?method=word-count&amp;book=" in page


def test_binding_beyond_loopback_without_a_token_is_refused(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "NECTAR_WEB_TOKEN": ""}
    done = subprocess.run([sys.executable, "-m", "nectar.web", "--host", "0.0.0.0", "--port", "0"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "token" in done.stderr and "0.0.0.0" in done.stderr


def test_with_a_token_a_request_without_it_gets_401_and_no_data(tmp_path: Path) -> None:
    token = "s3cret-token-for-the-test"
    with running_stack(tmp_path, token=token, host="0.0.0.0") as s:
        url = f"http://127.0.0.1:{s.web.port}"
        _, job_reply = http(url, "POST", "/api/v1/jobs", JOB, {"Authorization": f"Bearer {token}"})
        job_id = job_reply["data"]["jobId"]
        for path in ("/api/v1/jobs", f"/api/v1/jobs/{job_id}", "/api/v1/events", "/", "/docs",
                     "/api/v1/openapi.json", "/static/app.js"):
            status, reply = http(url, "GET", path, timeout=10)
            assert status == 401, path
            assert reply["code"] == "unauthorized" and job_id not in str(reply)
        status, reply = http(url, "GET", "/api/v1/jobs", headers={"Authorization": "Bearer wrong"})
        assert status == 401
        status, reply = http(url, "GET", "/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
        assert status == 200 and job_id in [r["jobId"] for r in reply["jobs"]]
        status, reply = http(url, "GET", "/api/v1/jobs", headers={"Cookie": f"nectar_token={token}"})
        assert status == 200
        shell = str(Path(sys.executable).parent / "nectar")
        env = {"NECTAR_WEB_TOKEN": token, "PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path)}
        config = subprocess.run([shell, "--json", "config"], cwd=tmp_path, text=True, capture_output=True, env=env,
                                timeout=60)
        assert token not in config.stdout and '"(set)"' in config.stdout


def test_ids_beyond_2_53_stay_exact(stack: Stack, job: str) -> None:
    _, files = stack.call("GET", f"/api/v1/jobs/{job}/files?limit=1")
    name = files["files"][0]["name"]
    assert int(name) > 2**53  # beyond what a JavaScript number holds exactly
    _, again = stack.call("GET", f"/api/v1/jobs/{job}/files?limit=1&after={int(name) - 1}")
    assert again["files"][0]["name"] == name


def test_search_over_a_job_s_index(stack: Stack, job: str) -> None:
    _, started = stack.call("POST", "/api/v1/applies", {"map": "words", "reduce": "index", "jobId": job,
                                                        "toDate": str(time.time_ns())})
    apply_id = started["applyId"]
    wait_for(lambda: stack.call("GET", f"/api/v1/applies/{apply_id}")[1]["state"] == "done", 30, what="index")
    _, rows = stack.call("GET", f"/api/v1/applies/{apply_id}/result?limit=1")
    term, value = rows["rows"][0]
    assert all(isinstance(doc, str) for doc, _ in value["postings"])  # NOM ids: strings
    status, found = stack.call("GET", f"/api/v1/jobs/{job}/search?q={term}&limit=3&applyId={apply_id}")
    assert status == 200 and found["total"] == value["df"] and 0 < len(found["hits"]) <= 3
    assert {hit["id"] for hit in found["hits"]} <= {doc for doc, _ in value["postings"]}
    status, reply = stack.call("GET", f"/api/v1/jobs/{job}/search?q=%22")
    assert status == 400 and reply["field"] == "query"


def test_snapshots_and_provenance(stack: Stack, job: str) -> None:
    status, snap = stack.call("POST", f"/api/v1/jobs/{job}/snapshots", {"toDate": str(time.time_ns())})
    assert status == 201 and snap["files"] > 0, snap
    status, listing = stack.call("GET", f"/api/v1/jobs/{job}/snapshots")
    assert status == 200 and snap["id"] in [s["id"] for s in listing["snapshots"]]
    status, checked = stack.call("POST", f"/api/v1/snapshots/{snap['id']}/verify")
    assert status == 200 and checked["ok"] is True and checked["files"] == snap["files"]
    status, same = stack.call("GET", f"/api/v1/snapshots/{snap['id']}/diff/{snap['id']}")
    assert status == 200 and same["added"] == same["removed"] == []
    _, started = stack.call("POST", "/api/v1/applies", {"map": "count", "reduce": "sum", "jobId": job,
                                                        "at": snap["id"]})
    apply_id = started["applyId"]
    wait_for(lambda: stack.call("GET", f"/api/v1/applies/{apply_id}")[1]["state"] == "done", 30, what="done")
    status, prov = stack.call("GET", f"/api/v1/applies/{apply_id}/provenance")
    assert status == 200 and prov["provenance"] and snap["id"] in str(prov["provenance"])
    status, reply = stack.call("GET", "/api/v1/snapshots/no-such-snapshot/diff/x")
    assert status in (400, 404) and reply["field"]

