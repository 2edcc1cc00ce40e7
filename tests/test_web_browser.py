"""The dashboard in a real browser: Debian's Chromium driven by Playwright for Python (executable_path, no browser
download), against the real web service, collector and Dispatch on free ports."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from conftest import wait_for
from web_helpers import JOB, Stack, running_stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("browser")) as s:
        yield s


@pytest.fixture(scope="module")
def job(stack: Stack) -> str:
    _, reply = stack.call("POST", "/api/v1/jobs", {**JOB, "source": {"kind": "synthetic", "rate": 300}})
    job_id = reply["data"]["jobId"]
    wait_for(lambda: stack.call("GET", f"/api/v1/jobs/{job_id}")[1]["objects"] >= 100, 20, what="100 objects")
    return job_id


@pytest.fixture(scope="module")
def standing(stack: Stack, job: str) -> str:
    _, reply = stack.call("POST", "/api/v1/applies", {"map": "authors", "reduce": "topk:5", "jobId": job,
                                                      "toDate": "now"})
    return reply["applyId"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser: Browser, stack: Stack, job: str, standing: str) -> Iterator[tuple[Page, list[str]]]:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(stack.web.url + "/")
    page.wait_for_function("window.nectar && window.nectar.loaded === true", timeout=20000)
    yield page, errors
    page.close()


def objects_shown(page: Page, job: str) -> int:
    return int(page.inner_text(f'tr[data-job="{job}"] td.objects').replace(",", ""))


def test_a_running_job_s_object_count_rises_without_reloading(page: tuple[Page, list[str]], job: str) -> None:
    p, _ = page
    p.wait_for_selector(f'tr[data-job="{job}"]', timeout=10000)
    first = objects_shown(p, job)
    p.wait_for_function(f"""() => {{
        const cell = document.querySelector('tr[data-job="{job}"] td.objects');
        return cell && Number(cell.textContent.replaceAll(',', '')) > {first}; }}""", timeout=10000)
    assert p.evaluate("window.nectar.events") > 0
    history = p.evaluate(f"[...window.nectar.perSecond.get('{job}').values()].reduce((a, b) => a + b, 0)")
    assert history >= first  # the chart counts every object stored, from the store's history and then live


def test_a_standing_top_k_changes(page: tuple[Page, list[str]], standing: str) -> None:
    p, _ = page
    card = f'.card[data-apply="{standing}"]'
    p.wait_for_selector(f"{card} ol.top li", timeout=15000)
    before = p.inner_text(card)
    p.wait_for_function(f"document.querySelector('{card}') && document.querySelector('{card}').innerText !== "
                        f"{before!r}", timeout=15000)
    assert p.locator(f"{card} ol.top li").count() == 5


def test_an_apply_started_from_the_page_shows_its_result(page: tuple[Page, list[str]], stack: Stack,
                                                         job: str) -> None:
    p, _ = page
    p.select_option("#apply-job", job)
    p.fill("#apply-map", "lang")
    p.fill("#apply-reduce", "sum")
    p.fill("#apply-to", str(time.time_ns()))
    p.click("#apply-button")
    p.wait_for_function("document.getElementById('apply-message').dataset.applyId", timeout=10000)
    apply_id = p.eval_on_selector("#apply-message", "node => node.dataset.applyId")
    row = f'#applies tr[data-apply="{apply_id}"]'
    p.wait_for_selector(f"{row} button.show-result", timeout=20000)
    p.click(f"{row} button.show-result")
    p.wait_for_selector(".result-rows tr", timeout=10000)
    shown = [p.inner_text(f".result-rows tr:nth-child({i + 1}) td:nth-child(2)")
             for i in range(p.locator(".result-rows tr").count())]
    _, result = stack.call("GET", f"/api/v1/applies/{apply_id}/result?limit=20")
    assert [int(v) for v in shown] == [value for _, value in result["rows"]] and sum(map(int, shown)) > 0


def test_a_job_started_from_the_page_appears(page: tuple[Page, list[str]], stack: Stack) -> None:
    p, _ = page
    p.click("#start-job summary")
    p.fill("#job-request", '{"jobName": "from the page", "collectorObjectsPerFile": 20, '
                           '"delayInMsBetweenObjects": 0, "searchTerms": "biden", '
                           '"source": {"kind": "synthetic", "rate": 50}}')
    p.click("#start-job-button")
    p.wait_for_function("document.getElementById('start-job-message').textContent.startsWith('started ')",
                        timeout=10000)
    new_job = p.inner_text("#start-job-message").split()[1]
    p.wait_for_selector(f'tr[data-job="{new_job}"]', timeout=10000)
    stack.call("POST", f"/api/v1/jobs/{new_job}/stop")


def test_ids_beyond_2_53_round_trip_through_the_browser(page: tuple[Page, list[str]], stack: Stack,
                                                        job: str) -> None:
    p, _ = page
    first, again = p.evaluate(f"""async () => {{
        const one = await (await fetch('/api/v1/jobs/{job}/files?limit=1')).json();
        const name = one.files[0].name;
        const back = await (await fetch(`/api/v1/jobs/{job}/files?limit=1&after=${{BigInt(name) - 1n}}`)).json();
        return [name, back.files[0].name]; }}""")
    _, files = stack.call("GET", f"/api/v1/jobs/{job}/files?limit=1")
    assert first == again == files["files"][0]["name"] and int(first) > 2**53
    shown = p.inner_text(f'tr[data-job="{job}"] td.newest-id')
    _, every = stack.call("GET", f"/api/v1/jobs/{job}/files?limit=5000")
    assert shown in {f["maxId"] for f in every["files"]}  # exact, to the last digit


def test_the_page_redraws_a_few_times_a_second_at_most(page: tuple[Page, list[str]]) -> None:
    p, _ = page
    before = p.evaluate("window.nectar.renders")
    time.sleep(3)
    after = p.evaluate("window.nectar.renders")
    assert 0 < after - before <= 3 * 4 + 1


def test_no_console_errors_and_a_screenshot(page: tuple[Page, list[str]], tmp_path_factory: pytest.TempPathFactory,
                                            standing: str) -> None:
    p, errors = page
    path = Path(tmp_path_factory.mktemp("screenshot")) / "dashboard.png"
    p.screenshot(path=str(path), full_page=True)
    print(f"dashboard screenshot: {path}")
    assert path.stat().st_size > 10_000
    assert errors == []
