"""The Nectar Collector: job requests in, tweets stored and published out.

What lives here:

- ``service.py``: ``Collector``, the service (on the skeleton nom.net.service): its control socket's
  actions, and a ``JobRunner`` per job, stepped by one loop.
- ``runner.py``: ``JobRunner``, one job: source, dedup, arrays submitted to the store's writer, publish,
  checkpoint, the storage inlet; a step at a time.
- ``batch.py``: ``Item``, ``Batch`` and ``encode_array``: items as a source gives them and as the runner
  writes them into stored arrays (bytes templates included).
- ``dedup.py``: a job's dedup memory (``RecentKeys``, ``AscendingKeys``).
- ``job.py``: ``JobRecord`` and ``JobState``, what the store keeps about a job.
- ``protocol.py``: every request, reply and message shape of the collector's sockets.
- ``errors.py``: ``SourceError``.
- ``sources/``: where items come from: synthetic, replay of files, the X API (see its docstring).
"""

from __future__ import annotations

from collector.errors import SourceError
from collector.job import JobRecord, JobState
from collector.protocol import CONTROL_ENDPOINT, JobRequest
from collector.service import Collector

__all__ = ["CONTROL_ENDPOINT", "Collector", "JobRecord", "JobRequest", "JobState", "SourceError"]
