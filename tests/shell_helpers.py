"""Running the real ``nectar`` command against real services on random ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import REPO
from nectar.testing import ServiceProcess


class ShellWorld:
    """A collector and a Dispatch on random ports, and the environment that points nectar at them."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.collector = ServiceProcess("collector", self.root).start()
        self.dispatch = ServiceProcess("dispatch", self.root, "--workers", "2").start()
        self.env = {**os.environ, "NOM_ROOT": str(self.root), "NECTAR_COLLECTOR": self.collector.endpoint,
                    "NECTAR_DISPATCH": self.dispatch.endpoint, "XDG_STATE_HOME": str(base / "state"),
                    "XDG_CONFIG_HOME": str(base / "config"), "COLUMNS": "160", "PYTHONUNBUFFERED": "1"}

    def nectar(self, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run ``nectar ARGS`` and capture what it prints."""
        return subprocess.run([sys.executable, "-m", "nectar.cli", *args], cwd=self.base, env=self.env,
                              input=stdin, capture_output=True, text=True, timeout=timeout)

    def close(self) -> None:
        """Stop both services."""
        self.dispatch.kill()
        self.collector.kill()


def write_job(folder: Path, name: str = "job.json", **overrides) -> Path:
    """A job file in ``folder``."""
    import json

    request = {"jobName": "shell test", "collectorObjectsPerFile": 20, "delayInMsBetweenObjects": 0,
               "searchTerms": "biden harris", "source": {"kind": "synthetic", "rate": 400, "seed": 1}}
    request.update(overrides)
    path = folder / name
    path.write_text(json.dumps(request, indent=2))
    return path


__all__ = ["REPO", "ShellWorld", "world_fixture", "write_job"]


def run_json(world: ShellWorld, *args: str):
    """Run ``nectar --json ARGS`` in ``world``, assert it succeeded, and return what it printed, parsed."""
    done = world.nectar("--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def world_fixture(folder: str) -> Callable[..., Iterator[ShellWorld]]:
    """A module's ``world`` fixture: one ShellWorld (its own store and services) in a temp folder named
    ``folder``, closed after the module's tests (``world = world_fixture("applies")``)."""

    @pytest.fixture(scope="module")
    def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShellWorld]:
        shell = ShellWorld(tmp_path_factory.mktemp(folder))
        yield shell
        shell.close()

    return world
