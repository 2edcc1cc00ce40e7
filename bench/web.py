"""Web benchmark: what the web service (nectar web) costs and how live it is, with real processes throughout.

One run, on a fresh store, with a real collector, Dispatch and web process (and Debian's Chromium through
Playwright for the browser figures):

- live delay: a synthetic job collecting 1,000 objects/s (50 a file); for every file, the time from its
  commit (its name is its write time, in ns, taken before the data is synced, so the figure includes the
  commit itself) until an SSE client receives its ``file`` event, and until a real browser page's
  EventSource does; p50/p95 (goal: p95 <= 1 s);
- 50 SSE clients: the web process's RSS before and after they connect and read for a while (goal: <= 50 MB
  added);
- a client that stops reading (a 4 kB receive buffer it never empties) beside 5 that read, with a job
  storing 200 files/s: whether it is dropped and when, and the share of the files stored before, during and
  after the stall that reached every reading client (goal: all of them);
- restart: 10 clients reading; the web process is killed (SIGKILL) mid-stream and started again on the same
  port; each client reconnects with its Last-Event-ID; every file the store holds between the first and the
  last file a client saw must have reached it (goal: 0 missing);
- 10 dashboards: bench/apply.py's standing fold rate (in-process, over 200k objects) with no dashboard open
  and with 10 real dashboard pages open on a live job, alternated 5 times each (medians); the baseline runs the
  same job, services and web process, only the pages differ (goal: drop <= 5%); and the CPU the 10 pages
  (Chromium) and the web process take meanwhile, in cores.

The fold's rate is given twice: per second of wall time (the goal's figure), and per second of CPU the
folding thread got, which says what the pages cost the fold itself apart from the 2 cores they share, and
beside a control: a plain process that keeps busy the share of a core the pages took (what any neighbour of
that size costs the fold on this machine).
BENCH_PARTS=live or BENCH_PARTS=dashboards runs one half.

The machine is shared and loaded (2 cores, several sessions): the figures say so (load average printed).
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from playwright.sync_api import sync_playwright

from apply import fold_rates
from nectar.client import Client
from nectar.testing import ServiceProcess, SseReader, WebProcess, rss_bytes
from scratch_folder import scratch_dir
from words_dataset import generate

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def start_job(collector: Client, dispatch: Client, name: str, rate: int, per_file: int) -> str:
    reply = collector.call("newCollectorJob", jobName=name, searchTerms="biden harris",
                           collectorObjectsPerFile=per_file, delayInMsBetweenObjects=0,
                           source={"kind": "synthetic", "rate": rate})
    dispatch.call("attach", job=reply)
    return reply["data"]["jobId"]


class Reader(threading.Thread):
    """An SSE client in a thread: records (received ns, event) of file events; reconnects when asked to."""

    def __init__(self, url: str, job: str | None = None, reconnect: bool = False) -> None:
        super().__init__(daemon=True)
        self.url, self.job, self.reconnect = url, job, reconnect
        self.files: list[tuple[int, str]] = []  # (received ns, file name)
        self.running = True
        self.reader: SseReader | None = None
        self.reconnects = 0

    def run(self) -> None:
        last = None
        while self.running:
            try:
                self.reader = SseReader(self.url, last_id=last, timeout=5)
                for event_id, event, data in self.reader.events():
                    last = event_id or last
                    if event == "file" and (self.job is None or data["job"] == self.job):
                        self.files.append((time.time_ns(), data["name"]))
                    if not self.running:
                        break
            except OSError:
                pass
            if not self.reconnect:
                return
            if self.running:
                self.reconnects += 1
                time.sleep(0.2)

    def stop(self) -> None:
        self.running = False
        if self.reader is not None:
            self.reader.close()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def live_delay(web: WebProcess, job: str, seconds: float) -> dict[str, Any]:
    reader = Reader(web.url, job)
    reader.start()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.goto(web.url + "/")
        page.evaluate(f"""() => {{ window.delays = []; const source = new EventSource('/api/v1/events');
            source.addEventListener('file', (m) => {{ const d = JSON.parse(m.data);
              if (d.job === '{job}') window.delays.push(Date.now() - Number(BigInt(d.name) / 1000000n)); }}); }}""")
        time.sleep(seconds)
        browser_delays = page.evaluate("window.delays")
        browser.close()
    reader.stop()
    sse = [(received - int(name)) / 1e9 for received, name in reader.files]
    return {"delay_files": len(sse), "delay_sse_p50_s": round(pct(sse, 0.5), 3),
            "delay_sse_p95_s": round(pct(sse, 0.95), 3), "delay_browser_files": len(browser_delays),
            "delay_browser_p50_s": round(pct(browser_delays, 0.5) / 1000, 3),
            "delay_browser_p95_s": round(pct(browser_delays, 0.95) / 1000, 3)}


def fifty_clients(web: WebProcess, job: str, seconds: float) -> dict[str, Any]:
    assert web.proc is not None
    time.sleep(1)
    before = rss_bytes(web.proc.pid)
    readers = [Reader(web.url, job) for _ in range(50)]
    for r in readers:
        r.start()
    time.sleep(seconds)
    after = rss_bytes(web.proc.pid)
    for r in readers:
        r.stop()
    counts = [len(r.files) for r in readers]
    return {"clients": 50, "rss_before_mb": round(before / 2**20, 1), "rss_with_50_mb": round(after / 2**20, 1),
            "rss_added_mb": round((after - before) / 2**20, 1), "events_per_client_min": min(counts),
            "events_per_client_max": max(counts)}


def stalled_client(web: WebProcess, collector: Client, job: str) -> dict[str, Any]:
    readers = [Reader(web.url, job) for _ in range(5)]
    for r in readers:
        r.start()
    time.sleep(3)
    stall_started = time.time_ns()
    stalled = SseReader(web.url, rcvbuf=4096)  # connects, never reads
    started = time.monotonic()
    dropped_after = None
    while time.monotonic() - started < 90:
        if orjson.loads(http_get(web.url + "/api/v1/health"))["dropped"] >= 1:
            dropped_after = time.monotonic() - started
            break
        time.sleep(0.5)
    dropped_at = time.time_ns()
    time.sleep(5)
    for r in readers:
        r.stop()
    stalled.close()
    time.sleep(1)
    stored = [int(name) for name in all_files(collector, job)]
    # every file stored in each window should reach every reading client: their share of the files, by name
    windows = {"before": (stall_started - 3 * 10**9, stall_started), "during": (stall_started, dropped_at),
               "after": (dropped_at, dropped_at + 4 * 10**9)}
    out: dict[str, Any] = {"stalled_dropped": dropped_after is not None,
                           "stalled_dropped_after_s": None if dropped_after is None else round(dropped_after, 1)}
    for label, (low, high) in windows.items():
        names = {n for n in stored if low <= n < high}
        got = [len(names & {int(n) for _, n in r.files}) / max(1, len(names)) for r in readers]
        out[f"others_files_received_share_{label}"] = round(min(got), 4)
        out[f"files_stored_per_s_{label}"] = round(len(names) / ((high - low) / 1e9), 1)
    return out


def all_files(collector: Client, job: str) -> list[int]:
    """Every file name of ``job``, paging through the collector's jobFiles."""
    names: list[int] = []
    after = None
    while True:
        reply = collector.call("jobFiles", jobId=job, after=after, limit=5000)
        names += [f["name"] for f in reply["files"]]
        if not reply["more"]:
            return names
        after = names[-1]


def http_get(url: str) -> bytes:
    import urllib.request
    with urllib.request.urlopen(url, timeout=30) as reply:
        return reply.read()


def restart(web: WebProcess, collector: Client, job: str) -> tuple[WebProcess, dict[str, Any]]:
    readers = [Reader(web.url, job, reconnect=True) for _ in range(10)]
    for r in readers:
        r.start()
    time.sleep(4)
    assert web.proc is not None
    web.proc.send_signal(signal.SIGKILL)
    web.proc.wait()
    killed = time.monotonic()
    time.sleep(1)
    fresh = WebProcess(web.collector, web.dispatch, web.home, port=web.port).start()
    back = time.monotonic() - killed
    time.sleep(5)
    for r in readers:
        r.stop()
    stored = all_files(collector, job)
    missing = 0
    seen_total = 0
    for r in readers:
        names = {name for _, name in r.files}
        seen_total += len(names)
        low, high = min(int(n) for n in names), max(int(n) for n in names)
        missing += sum(1 for n in stored if low <= n <= high and str(n) not in names)
    return fresh, {"restart_clients": len(readers), "restart_down_s": round(back, 1),
                   "restart_reconnects": sum(r.reconnects for r in readers), "restart_files_seen": seen_total,
                   "restart_missing_files": missing}


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds of these processes so far (Linux /proc; gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def chromium_pids() -> list[int]:
    """Every Chromium process on the machine (the bench's own: nothing else here runs one)."""
    pids = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and open(f"/proc/{name}/comm").read().startswith("chrom"):
                pids.append(int(name))
        except OSError:
            continue
    return pids


def _burn(share: float) -> None:
    """Keep ``share`` of one core busy, in 100-ms periods (the control beside the fold), until killed."""
    while True:
        started = time.monotonic()
        while time.monotonic() - started < share * 0.1:
            pass
        time.sleep(max(0.0, (1 - share) * 0.1))


def dashboards_vs_fold(base: Path, web: WebProcess, rounds: int = 5) -> dict[str, Any]:
    root = base / "fold"
    generate(root, int(os.environ.get("BENCH_FOLD_OBJECTS", 200_000)))
    fold_rates(root)  # warm the page cache and the index
    assert web.proc is not None
    without, with_ten, with_burner, browser_cpu, web_cpu = [], [], [], [], []
    with sync_playwright() as p:
        for _ in range(rounds):
            without.append(fold_rates(root))
            if browser_cpu:  # the control: a plain process taking the CPU the pages took last round, no browser
                burner = multiprocessing.Process(target=_burn, args=(browser_cpu[-1],), daemon=True)
                burner.start()
                with_burner.append(fold_rates(root))
                burner.kill()
                burner.join()
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            pages = [browser.new_page() for _ in range(10)]
            for page in pages:
                page.goto(web.url + "/")
            for page in pages:
                page.wait_for_function("window.nectar && window.nectar.loaded === true", timeout=60000)
            time.sleep(2)
            pids = chromium_pids()
            before, web_before, started = cpu_seconds(pids), cpu_seconds([web.proc.pid]), time.monotonic()
            with_ten.append(fold_rates(root))
            elapsed = time.monotonic() - started
            browser_cpu.append((cpu_seconds(pids) - before) / elapsed)
            web_cpu.append((cpu_seconds([web.proc.pid]) - web_before) / elapsed)
            browser.close()
    a, b = statistics.median(r[0] for r in without), statistics.median(r[0] for r in with_ten)
    a_cpu, b_cpu = statistics.median(r[1] for r in without), statistics.median(r[1] for r in with_ten)
    return {"fold_objects_per_s_no_dashboard": round(a), "fold_objects_per_s_10_dashboards": round(b),
            "fold_drop_pct": round(100 * (a - b) / a, 1),
            "fold_runs": {"without": [round(r[0]) for r in without], "with_10": [round(r[0]) for r in with_ten]},
            # per second of CPU the fold got: the pages' cost to the fold itself, apart from sharing 2 cores
            "fold_objects_per_cpu_s_no_dashboard": round(a_cpu), "fold_objects_per_cpu_s_10_dashboards": round(b_cpu),
            "fold_cpu_drop_pct": round(100 * (a_cpu - b_cpu) / a_cpu, 1),
            # a plain process taking the same share of a core beside the fold: what any neighbour that size costs
            "fold_objects_per_s_same_cpu_burner": round(statistics.median(r[0] for r in with_burner)),
            "fold_drop_pct_same_cpu_burner": round(100 * (a - statistics.median(r[0] for r in with_burner)) / a, 1),
            "dashboards_10_chromium_cores": round(statistics.median(browser_cpu), 3),
            "dashboards_10_web_process_cores": round(statistics.median(web_cpu), 3)}


def main() -> None:
    # BENCH_PARTS: "live" (delay, 50 clients, a stalled client, restart) and/or "dashboards" (the fold beside
    # 10 pages); both by default
    parts = os.environ.get("BENCH_PARTS", "live,dashboards").split(",")
    base = scratch_dir("nectar-bench-web-")
    root = base / "root"
    root.mkdir()
    collector = ServiceProcess("collector", root).start()
    dispatch = ServiceProcess("dispatch", root, "--workers", "2").start()
    web = WebProcess(collector.endpoint, dispatch.endpoint, base / "web").start()
    figures: dict[str, Any] = {"load_average_at_start": os.getloadavg()[0]}
    try:
        assert collector.client is not None and dispatch.client is not None
        job = start_job(collector.client, dispatch.client, "live", 1000, 50)
        dispatch.call("apply", map="hashtags", reduce="topk:10", jobId=job, toDate="now")
        time.sleep(2)
        if "live" in parts:
            figures.update(live_delay(web, job, float(os.environ.get("BENCH_DELAY_SECONDS", 20))))
            print(figures, flush=True)
            figures.update(fifty_clients(web, job, 10))
            print(figures, flush=True)
            fast = start_job(collector.client, dispatch.client, "fast", 2000, 10)
            figures.update(stalled_client(web, collector.client, fast))
            collector.call("stopCollectorJob", jobId=fast)
            print(figures, flush=True)
            web, part = restart(web, collector.client, job)
            figures.update(part)
            print(figures, flush=True)
        if "dashboards" in parts:
            figures.update(dashboards_vs_fold(base, web))
        figures["load_average_at_end"] = os.getloadavg()[0]
        figures["goals"] = {"delay_browser_p95_s": 1.0, "rss_added_mb": 50, "stalled_dropped": True,
                            "others_files_received_share_during": 1.0, "restart_missing_files": 0, "fold_drop_pct": 5}
        for key, value in figures.items():
            print(f"{key:40} {value}")
        print(orjson.dumps(figures).decode())
    finally:
        web.kill()
        dispatch.kill()
        collector.kill()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
