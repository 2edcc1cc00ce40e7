"""Functions documented where users look, through the real shell: help functions and the README table come
from one catalog; value:<path> numbers, words:stop, and warnings for pairs that make no sense."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from conftest import TWEETS, wait_for
from dispatch.functions import MAP_NAMES, REDUCE_NAMES
from dispatch.functions.catalog import BEGIN, END, FUNCTIONS, function_table
from dispatch.functions.stopwords import ENGLISH
from nectar.testing import ServiceProcess
from shell_helpers import world_fixture, write_job

REPO = Path(__file__).resolve().parent.parent


def test_the_catalog_documents_every_function_the_resolver_knows() -> None:
    assert sorted(f.name for f in FUNCTIONS if f.kind == "map") == sorted(MAP_NAMES)
    assert sorted(f.name for f in FUNCTIONS if f.kind == "reduce") == sorted(REDUCE_NAMES)
    readme = (REPO / "README.md").read_text()
    assert readme[readme.index(BEGIN) + len(BEGIN): readme.index(END)].strip() == function_table(), \
        "README is stale: run python -m dispatch.functions.catalog"


world = world_fixture("functions")


def run_json(world, *args):
    done = world.nectar("--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


@pytest.fixture(scope="module")
def job(world) -> str:
    write_job(world.base, "replay.json", source={"kind": "replay", "path": str(TWEETS / "brexit.jsonl"),
                                                 "rate": None})
    job = run_json(world, "start", "replay.json")[0]["jobId"]
    wait_for(lambda: run_json(world, "show", job)[0]["status"]["state"] == "finished", timeout=30, what="replay")
    return job


def test_help_functions_is_the_readme_table(world) -> None:
    listed = run_json(world, "help", "functions")[0]["functions"]
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index(BEGIN) + len(BEGIN): readme.index(END)].strip().splitlines()[2:]
    shown = [f"| `{f['name']}` | {f['kind']} | {f['summary']} | {f['emits']} | "
             f"{', '.join(f'`{p}`' for p in f['pairsWith'])} |" for f in listed]
    assert shown == table
    one = run_json(world, "help", "value:x")[0]["functions"]
    assert [f["name"] for f in one] == ["value:<dotted.path>"] and "stats" in one[0]["pairsWith"]
    text = world.nectar("help", "hashtags")
    assert text.returncode == 0 and "hashtags" in text.stdout and "topk" in text.stdout
    assert world.nectar("help", "nosuch").returncode != 0


def test_value_map_gives_numbers_to_stats(world, job) -> None:
    tweets = [t for line in (TWEETS / "brexit.jsonl").read_bytes().splitlines() for t in orjson.loads(line)["data"]]
    counts = {t["id"]: t["public_metrics"]["retweet_count"] for t in tweets}
    result, err = run_json(world, "apply", "value:data.public_metrics.retweet_count", "stats", job)
    (key, stats), = result["result"]
    assert key == "data.public_metrics.retweet_count" and not result["warnings"]
    assert stats["count"] == len(counts) and stats["sum"] == sum(counts.values())
    assert stats["max"] == max(counts.values())
    text = world.nectar("apply", "value:data.public_metrics.retweet_count", "stats", job)
    header = next(line for line in text.stdout.splitlines() if "mean" in line)
    assert all(name in header for name in ("count", "sum", "min", "max", "mean", "stddev"))  # spread into columns


def test_words_stop_leaves_stopwords_out(world, job) -> None:
    words = dict(run_json(world, "apply", "words", "sum", job, "--top", "0")[0]["result"])
    kept = dict(run_json(world, "apply", "words:stop", "sum", job, "--top", "0")[0]["result"])
    assert {"the", "rt", "to"} <= set(words) and not set(kept) & ENGLISH
    assert kept == {w: n for w, n in words.items() if w not in ENGLISH}
    top = Counter(kept).most_common(3)
    assert all(w not in ("the", "rt", "to", "s") for w, _ in top)
    # a user's own stopwords too, from the file Dispatch is given (never from a message)
    mine = [w for w, _ in top[:2]]
    (world.base / "stop.txt").write_text("# my stopwords\n" + "\n".join(w.upper() for w in mine) + "\n")
    other = ServiceProcess("dispatch", world.root, "--workers", "1", "--stopwords", str(world.base / "stop.txt"))
    other.start()
    try:
        env = {**world.env, "NECTAR_DISPATCH": other.endpoint}
        done = subprocess.run([sys.executable, "-m", "nectar.cli", "--json", "apply", "words:stop", "sum", job,
                               "--top", "0"], cwd=world.base, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert dict(json.loads(done.stdout)["result"]) == {w: n for w, n in kept.items() if w not in mine}
    finally:
        other.kill()


@pytest.mark.parametrize(("map_name", "reduce_name", "says"), [
    ("hashtags", "mean", "is 1 for every key"),
    ("field:data.public_metrics.retweet_count", "stats", "use value:data.public_metrics.retweet_count"),
    ("value:data.no.such.path", "stats", "no object of the"),
])
def test_senseless_pairs_and_unmatched_paths_warn(world, job, map_name, reduce_name, says) -> None:
    done = world.nectar("apply", map_name, reduce_name, job)
    assert done.returncode == 0 and "warning:" in done.stderr and says in done.stderr
