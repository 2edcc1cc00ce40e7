"""Where benchmarks put their data: ``$BENCH_DIR``, else ``.bench/`` in the repository (ignored by git).

Not the system temp folder: the store's default home (NOM_ROOT) is beside the repository, so the
benchmarks measure that filesystem unless told otherwise, and ``BENCH_DIR`` measures another disk. On the
development VM the folder mattered: creating an empty file cost 200-590 us of kernel time in the much-churned
/tmp and 10-23 us in other folders of the same disk, measured minutes apart.

A helper of the benchmarks, imported as a top-level module: ``python bench/NAME.py`` puts bench/ first
on ``sys.path``, and the project itself is imported as installed (``pip install -e .``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["scratch_dir"]


def scratch_dir(prefix: str) -> Path:
    """A new, empty folder for one benchmark run; the caller removes it."""
    root = Path(os.environ.get("BENCH_DIR") or Path(__file__).resolve().parent.parent / ".bench")
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))
