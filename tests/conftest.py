"""Shared fixtures: a store in a temporary folder, the shared tweet data, and a waiting helper."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nom import Store

# user functions for the tests live in tests/userfuncs; service processes started by tests import them too
_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_TESTS, os.environ.get("PYTHONPATH", "")) if p)

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
TWEETS = SHARED / "data" / "tweets"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store under a temporary NOM_ROOT."""
    return Store(tmp_path / "NOM_ROOT")


@pytest.fixture
def tweets_dir() -> Path:
    """../shared/data/tweets, which CI puts beside the clone."""
    assert TWEETS.is_dir(), f"the shared tweet data is missing: expected {TWEETS}"
    return TWEETS


def wait_for(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> object:
    """Poll ``condition`` until it is truthy; fail the test (never hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)
