"""The Dispatch service: attach to collector jobs, cache their objects, map/reduce over them.

What lives here:

- ``service.py``: ``Dispatcher``, the service (on the skeleton nom.net.service): its control socket's
  actions, and the applies it runs.
- ``protocol.py``: every request and reply shape of Dispatch's control socket, and where results go.
- ``applies.py``: ``Apply``, an apply as Dispatch tracks it.
- ``books.py``: the ``applyBook`` action: a book by its file name in the books folder, stored if need be,
  then a word count or an inverted index over it.
- ``attach.py``: ``Attachment``, one attached collector job: its SUB socket, type matching, gap healing.
- ``cache.py``: ``Cache``, the newest objects of each attached job.
- ``standing.py``: ``StandingReduction``, an apply whose toDate is now, folding new files as they land.
- ``reading.py``: reading a job's files in an id range and folding them: the one path of every reader.
- ``dates.py``: date arguments as NOM ids.
- ``snapshots.py``: the snapshot, verify and watch actions, and each apply's inputs and provenance (issue 20).
- ``provenance.py``: provenance records, the standing hash chain, function source hashes, result hashes.
- ``events.py``: ``Events``, the PUB socket of change notifications (files added, snapshots, standing results).
- ``errors.py``: ``FunctionError``, ``FoldError``, ``DateError``, ``SparkUnavailable``.
- ``engines/``: what runs an apply: the local worker processes, Spark (see its docstring).
- ``functions/``: map and reduce functions, and folding with them (see its docstring).
"""

from __future__ import annotations

from typing import Any

from dispatch.errors import DateError, FoldError, FunctionError, SparkUnavailable
from dispatch.protocol import CONTROL_ENDPOINT

__all__ = ["CONTROL_ENDPOINT", "DateError", "Dispatcher", "FoldError", "FunctionError", "SparkUnavailable"]


def __getattr__(name: str) -> Any:
    """``Dispatcher``, imported on first use: worker processes and Spark executors import this package and need
    none of the service."""
    if name == "Dispatcher":
        from dispatch.service import Dispatcher

        return Dispatcher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
