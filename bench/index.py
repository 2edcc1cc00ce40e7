"""Index benchmark: ``apply words index`` over one million tweet-like objects and over the three shared books, then
1,000 ``search`` queries over each, against a baseline of Python dicts (the approach of an earlier attempt).

Generates 1,000,000 objects (15 Zipf-distributed words each, 50 per file: bench/words_dataset.py) in a fresh
store and stores the three books of ../shared/data/books as paragraph objects. Then, in one run:

- Nectar: a real Dispatch process (2 local workers), timed from the apply request until it is done (the
  index built by the workers, merged in Dispatch, hashed for its provenance and stored: its compact arrays
  in parts). Printed too: the workers' time (the apply's own clock), Dispatch's time to merge their indexes,
  to finish and hash the result (and encode its parts, in the same time: the hash runs in a thread) and to
  store it (from its log), and the first search's (it derives the document-level postings and BM25 impacts
  once). Peak RSS is the VmHWM of Dispatch and of each worker.
  Result size: the stored result's bytes, and the index's own arrays.
- Queries: 1,000 through the control socket, as the shell sends them (a new connection each), mixing the
  query forms: a term, two terms, ``a OR b``, ``a -b``, ``"a phrase"``, ``pre*``, and ``a "b c" -d``;
  p50/p95 of the time the client waited (snippets included), and of Dispatch's own time.
- Baseline: one process, a dict of term -> {id: [positions]}, over the first ``BENCH_BASELINE`` objects
  (200,000 by default: a million take several GB this way), and the same queries with Python sets.

Goals (issue 19): build >= 100k objects/s on 2 cores, peak RSS <= 1.5 GB for one million tweets, query p95 <=
50 ms. The machine is shared with other sessions: its load average is printed with the figures. The last line
is one JSON object with every figure.
"""

from __future__ import annotations

import bisect
import os
import random
import re
import resource
import shutil
import time
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

import orjson

from dispatch.functions.text import terms
from nectar.testing import ServiceProcess, rss_bytes
from nom import Store
from nom.books import paragraphs
from scratch_folder import scratch_dir
from words_dataset import generate

BOOKS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "books"
BOOK_NAMES = ("1342-0.txt", "244-0.txt", "105.txt")


def store_books(root: Path) -> int:
    store = Store(root, sync="none")
    count = 0
    for name in BOOK_NAMES:
        found = paragraphs((BOOKS / name).read_bytes(), name)  # the text source's reading (header left out)
        ids = store.new_ids("books", len(found))
        objs = [{"id": i, "type": "data.text-books", "data": p.to_data()} for i, p in zip(ids, found)]
        store.commit([("books", objs[s:s + 100]) for s in range(0, len(objs), 100)])
        count += len(objs)
    return count


def sample_texts(root: Path, job: str, files: int) -> list[str]:
    store = Store(root)
    out = []
    for info in store.files(job)[:files]:
        out += [o["data"]["text"] for o in store.read_file(job, info)]
    return out


def make_queries(texts: list[str], n: int, seed: int) -> list[str]:
    """``n`` queries of the forms above, from words and phrases of ``texts``."""
    rng = random.Random(seed)
    split = [t for t in (terms(x) for x in texts) if len(t) >= 3]
    vocab = sorted({w for t in split for w in t})

    def word() -> str:
        return rng.choice(rng.choice(split))

    def phrase() -> str:
        t = rng.choice(split)
        i = rng.randrange(len(t) - 1)
        return '"' + " ".join(t[i:i + rng.randint(2, 3)]) + '"'

    forms = [lambda: word(), lambda: f"{word()} {word()}", lambda: f"{word()} OR {word()}",
             lambda: f"{word()} -{word()}", phrase, lambda: rng.choice(vocab)[:3] + "*",
             lambda: f"{word()} {phrase()} -{word()}"]
    return [forms[i % len(forms)]() for i in range(n)]


def build(dispatch: ServiceProcess, job: str) -> dict:
    started = time.perf_counter()
    apply_id = dispatch.call("apply", map="words", reduce="index", jobId=job)["applyId"]
    while True:  # listApplies: the state without a result row (an index's top row is a million postings)
        status = next(a for a in dispatch.client.call("listApplies")["applies"] if a["applyId"] == apply_id)
        if status["state"] != "running":
            break
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    assert status["state"] == "done", status
    log = "".join(p.read_text() for p in dispatch.log_dir.glob("*.log"))
    phases = re.findall(rf"apply {apply_id}: finished(?: and hashed|, hashed and encoded) in ([\d.]+)s, "
                        r"stored in ([\d.]+)s", log)
    hashed, stored = (float(x) for x in phases[-1]) if phases else (0.0, 0.0)
    started = time.perf_counter()  # the first search derives the document-level postings: timed on its own
    keys = dispatch.client.call("search", jobId=status["job"], query="zzzz", applyId=apply_id)["terms"]
    return {"apply": apply_id, "seconds": elapsed, "build_seconds": status["progress"]["seconds"],
            "objects": status["objects"], "terms": keys, "first_search_s": round(time.perf_counter() - started, 2),
            "hashed_s": hashed, "stored_s": stored}


def run_queries(dispatch: ServiceProcess, job: str, queries: list[str]) -> dict:
    waited, inside, hits = [], [], 0
    for q in queries:
        started = time.perf_counter()
        reply = dispatch.client.call("search", jobId=job, query=q, limit=10)
        waited.append(time.perf_counter() - started)
        inside.append(reply["seconds"])
        hits += reply["total"] > 0
    return {"p50_ms": round(1000 * _pct(waited, 0.5), 2), "p95_ms": round(1000 * _pct(waited, 0.95), 2),
            "dispatch_p50_ms": round(1000 * _pct(inside, 0.5), 2),
            "dispatch_p95_ms": round(1000 * _pct(inside, 0.95), 2), "queries_with_hits": hits}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- the baseline: Python dicts ------------------------------------------------------------------------------------

def _baseline(args: tuple[list[str], int, list[str]]) -> dict:
    paths, limit, queries = args
    started = time.perf_counter()
    index: dict[str, dict[int, list[int]]] = defaultdict(dict)
    docs = 0
    for path in paths:
        with open(path, "rb") as fh:
            for obj in orjson.loads(fh.read()):
                for pos, term in enumerate(terms(obj["data"]["text"])):
                    index[term].setdefault(obj["id"], []).append(pos)
                docs += 1
        if docs >= limit:
            break
    elapsed = time.perf_counter() - started
    vocab = sorted(index)
    latencies = []
    for q in queries:
        t0 = time.perf_counter()
        _baseline_query(index, vocab, q)
        latencies.append(time.perf_counter() - t0)
    return {"objects": docs, "objects_per_s": round(docs / elapsed),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "query_p50_ms": round(1000 * _pct(latencies, 0.5), 2),
            "query_p95_ms": round(1000 * _pct(latencies, 0.95), 2)}


def _docs_of(index: dict, vocab: list[str], item: str) -> set[int]:
    if item.endswith("*"):
        lo = bisect.bisect_left(vocab, item[:-1])
        hi = bisect.bisect_left(vocab, item[:-1] + "\U0010ffff")
        return set().union(*(index[t].keys() for t in vocab[lo:hi]))
    words = item.strip('"').split()
    if len(words) == 1:
        return set(index.get(words[0], {}))
    found = set()
    first = index.get(words[0], {})
    for doc in set(first).intersection(*(index.get(w, {}) for w in words[1:])):
        if any(all(p + i in index[w][doc] for i, w in enumerate(words)) for p in first[doc]):
            found.add(doc)
    return found


def _baseline_query(index: dict, vocab: list[str], query: str) -> set[int]:
    items: list[str] = []
    negated: list[str] = []
    for part in _split(query):
        (negated if part.startswith("-") else items).append(part.lstrip("-"))
    groups: list[set[int]] = []
    i = 0
    while i < len(items):
        docs = _docs_of(index, vocab, items[i])
        while i + 2 < len(items) and items[i + 1] == "OR":
            docs |= _docs_of(index, vocab, items[i + 2])
            i += 2
        groups.append(docs)
        i += 1
    result = set.intersection(*groups) if groups else set()
    for item in negated:
        result -= _docs_of(index, vocab, item)
    return result


def _split(query: str) -> list[str]:
    out, i = [], 0
    while i < len(query):
        if query[i] == " ":
            i += 1
            continue
        neg = query[i] == "-"
        j = i + neg
        if j < len(query) and query[j] == '"':
            k = query.index('"', j + 1)
            out.append(("-" if neg else "") + query[j:k + 1])
            i = k + 1
        else:
            k = query.find(" ", i)
            k = len(query) if k < 0 else k
            out.append(query[i:k])
            i = k
    return out


def main() -> None:
    objects = int(os.environ.get("BENCH_OBJECTS", 1_000_000))
    baseline_objects = int(os.environ.get("BENCH_BASELINE", 200_000))
    base = scratch_dir("nectar-bench-index-")
    figures: dict = {"objects": objects}
    try:
        root = base / "root"
        started = time.perf_counter()
        paths = generate(root, objects)
        book_objects = store_books(root)
        print(f"generated {objects} objects in {len(paths)} files and {book_objects} paragraphs of 3 books "
              f"in {time.perf_counter() - started:.0f}s", flush=True)
        tweet_queries = make_queries(sample_texts(root, "bench", 200), 1000, 1)
        book_queries = make_queries(sample_texts(root, "books", 1000), 1000, 2)
        with Pool(1) as pool:  # the baseline in a process of its own: its peak RSS is its own
            figures["baseline_dicts"] = pool.apply(_baseline, ((paths, baseline_objects, tweet_queries),))
        print("baseline:", figures["baseline_dicts"], flush=True)
        dispatch = ServiceProcess("dispatch", root, "--workers", "2").start()
        try:
            dispatch.client.timeout = 600
            while len(dispatch.call("status")["workers"]) < 2:  # the workers say ready
                time.sleep(0.1)
            workers = [w["pid"] for w in dispatch.call("status")["workers"]]
            load_before = os.getloadavg()
            tweets = build(dispatch, "bench")
            peak = {"dispatch_mb": round(rss_bytes(dispatch.proc.pid, peak=True) / 2**20),
                    "workers_mb": [round(rss_bytes(pid, peak=True) / 2**20) for pid in workers]}
            print("tweets index:", tweets, peak, flush=True)
            queries = run_queries(dispatch, "bench", tweet_queries)
            print("tweets queries:", queries, flush=True)
            books = build(dispatch, "books")
            book_q = run_queries(dispatch, "books", book_queries)
            print("books:", books, book_q, flush=True)
            index_bytes = dispatch.call("search", jobId="bench", query="ka*", limit=1)["indexBytes"]
        finally:
            dispatch.terminate(timeout=120)
        stored = Store(root).usage("bench.index").bytes
        rate = objects / tweets["seconds"]
        figures.update({
            "load_average_before": [round(x, 2) for x in load_before], "load_average_after": [
                round(x, 2) for x in os.getloadavg()], "cores": os.cpu_count(),
            "tweets_build_objects_per_s": round(rate), "tweets_build_s": round(tweets["seconds"], 2),
            "tweets_workers_s": round(tweets["build_seconds"], 2),
            "tweets_merged_in_dispatch_s": round(tweets["seconds"] - tweets["build_seconds"] - tweets["hashed_s"]
                                                 - tweets["stored_s"], 2),
            "tweets_finished_and_hashed_s": tweets["hashed_s"], "tweets_result_stored_s": tweets["stored_s"],
            "tweets_built_without_storing_objects_per_s": round(objects / (tweets["seconds"] - tweets["stored_s"])),
            "tweets_terms": tweets["terms"], "tweets_first_search_s": tweets["first_search_s"],
            "tweets_peak_rss_mb": peak,
            "tweets_peak_rss_total_mb": peak["dispatch_mb"] + sum(peak["workers_mb"]),
            "tweets_index_arrays_mb": round(index_bytes / 2**20, 1),
            "tweets_stored_result_mb": round(stored / 2**20, 1),
            "tweets_query_p50_ms": queries["p50_ms"], "tweets_query_p95_ms": queries["p95_ms"],
            "tweets_query_dispatch_p95_ms": queries["dispatch_p95_ms"],
            "tweets_queries_with_hits": queries["queries_with_hits"],
            "books_objects": books["objects"], "books_build_objects_per_s": round(books["objects"] / books["seconds"]),
            "books_query_p50_ms": book_q["p50_ms"], "books_query_p95_ms": book_q["p95_ms"],
            "books_queries_with_hits": book_q["queries_with_hits"],
            "build_speedup_over_baseline": round(rate / figures["baseline_dicts"]["objects_per_s"], 2),
            "goals": {"tweets_build_objects_per_s": 100_000, "tweets_peak_rss_total_mb": 1536,
                      "tweets_query_p95_ms": 50},
        })
        for key, value in figures.items():
            print(f"{key:34} {value}")
        print(orjson.dumps(figures).decode())
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
