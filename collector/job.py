"""A collector job as stored beside its data (``NOM_ROOT/<jobId>/job.json``), and its states.

A job never runs itself: the collector moves it between states.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from nom import slug

__all__ = ["JobRecord", "JobState", "new_job_id"]


class JobState(str, Enum):
    """Where a job is in its life."""

    RUNNING = "running"  # collecting
    PAUSED = "paused"  # the store refused a write (disk full, ...); retried until it succeeds
    FINISHED = "finished"  # the source has nothing more
    STOPPED = "stopped"  # stopped by a request
    FAILED = "failed"  # the source cannot go on (see error)

    @property
    def is_live(self) -> bool:
        """True for states a restarted collector resumes."""
        return self in (JobState.RUNNING, JobState.PAUSED)


@dataclass
class JobRecord:
    """What the store keeps about a job."""

    job_id: str
    request: dict[str, Any]
    reply: dict[str, Any]  # the data.collector.job NOM object
    state: JobState = JobState.RUNNING
    error: str | None = None
    dispatch_port: int = 0
    collector_port: int = 0
    created: int = 0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        record = asdict(self)
        record["state"] = self.state.value
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> JobRecord:
        """Read back ``to_dict``'s form."""
        record = dict(record)
        record["state"] = JobState(record.get("state", "running"))
        return cls(**{k: v for k, v in record.items() if k in cls.__dataclass_fields__})


def new_job_id(search_terms: str) -> str:
    """A readable, unique job id: the slug of the search terms and six random hex digits."""
    ascii_slug = "".join(c for c in slug(search_terms) if c.isascii())[:40].strip("-")
    return f"{ascii_slug or 'job'}-{secrets.token_hex(3)}"
