"""The Nectar Collector: job requests in, tweets stored and published out."""

from collector.job import JobRecord, JobState
from collector.protocol import CONTROL_ENDPOINT, JobRequest, ProtocolError
from collector.service import Collector

__all__ = ["CONTROL_ENDPOINT", "Collector", "JobRecord", "JobRequest", "JobState", "ProtocolError"]
