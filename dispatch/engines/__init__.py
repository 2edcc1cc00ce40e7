"""Engines: what runs an apply over a list of store files.

What lives here:

- ``base.py``: ``ApplySpec`` (what to compute), ``Run`` (one apply on an engine: progress, result) and
  ``Engine`` (start, step, cancel, forget, close, and ``fold``, a synchronous fold for standing reductions).
- ``local.py``: ``LocalEngine``, worker processes on this machine (the default).
- ``worker.py``: the worker process (``python -m dispatch.engines.worker``).
- ``spark.py``: ``SparkEngine``, Apache Spark through PySpark (imported only when asked for).

External-program tasks (a later issue) are another engine here, or another kind of worker.
"""

from __future__ import annotations

from dispatch.engines.base import ApplySpec, Engine, Run
from dispatch.engines.local import DEAD_AFTER, LocalEngine

__all__ = ["DEAD_AFTER", "ApplySpec", "Engine", "LocalEngine", "Run"]
