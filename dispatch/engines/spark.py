"""The Spark engine: the same apply on Apache Spark through PySpark (``pip install -e '.[spark]'`` in the clone).

Dispatch picks the job's files in the range from the store (as for the local
engine) and hands Spark the explicit file list; executors read, clip and fold
whole files the one way Dispatch does (dispatch.reading), running Nectar's own map, reduce and finish functions
(built-ins and import-path functions alike), combining within each partition
before the shuffle (``reduceByKey``). Tokenising in Spark SQL would disagree
with the local engine (Java's ``\\w`` is ASCII-only), so it is not used.

One SparkSession lives as long as Dispatch: its start-up (seconds) is paid
once. The master and settings come from the configuration (``local[*]`` by
default; ``spark://host:7077``, YARN or Kubernetes for a cluster), and the
executors run the same interpreter as Dispatch (``PYSPARK_PYTHON``). On a
cluster, NOM_ROOT must be the same POSIX path on every executor (a shared
filesystem); hdfs:// and s3a:// store roots are not supported.

An apply runs on a thread of its own; ``step`` reports its progress from
Spark's status tracker.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from dispatch.cache import Cache
from dispatch.engines.base import ApplySpec, Engine, Run
from dispatch.errors import FoldError, FunctionError, SparkUnavailable
from dispatch.functions import merge_into, new_accumulator, resolve_map, resolve_reduce
from dispatch.reading import fold_files, read_range
from nom.store import FileInfo, JobFolders, Store

__all__ = ["INSTALL_HINT", "SparkEngine", "spark_available"]

INSTALL_HINT = ("the Spark engine needs PySpark and Java 17: from the clone, pip install -e '.[spark]' (the package "
                "index's 'nectar' is another project); Java: apt-get install openjdk-17-jre-headless")


def spark_available() -> bool:
    """True when PySpark can be imported."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True


def _fold_partition(parts: Iterator[tuple[str, str, list[list[int]], str, str | None, str, Any, Any, bool, str]]
                    ) -> Iterator[tuple[Any, Any]]:
    """On an executor: fold the files of one partition into one accumulator and emit its pairs."""
    acc: dict[Any, Any] | None = None
    for root, job, files, map_name, specifier, reduce_name, lo, hi, skip, by in parts:
        mapper, reducer = resolve_map(map_name, specifier), resolve_reduce(reduce_name)
        if acc is None:
            acc = new_accumulator(mapper, reducer)
        fold_files(Store(root), job, [FileInfo(*fields) for fields in files], lo, hi, mapper, reducer, acc,
                   skip_errors=skip, by=by)
    yield from (acc or {}).items()


class SparkEngine(Engine):
    """Applies on Spark."""

    name = "spark"
    remote = True

    def __init__(self, nom_root: str, *, master: str = "local[*]", conf: dict[str, str] | None = None,
                 files_per_partition: int = 5000) -> None:
        """Check that PySpark is there (SparkUnavailable if not); the session starts on first use."""
        if not spark_available():
            raise SparkUnavailable(INSTALL_HINT, field="engine")
        self.nom_root = str(nom_root)
        self.master = master
        self.conf = dict(conf or {})
        self.files_per_partition = files_per_partition
        self.runs: dict[str, Run] = {}
        self._jobs: dict[str, str] = {}  # apply id -> Spark job group
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def session(self) -> Any:
        """The SparkSession, made on first use and kept for the life of Dispatch."""
        with self._lock:
            if self._session is None:
                os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
                os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
                from pyspark.sql import SparkSession

                builder = SparkSession.builder.appName("nectar-dispatch").master(self.master)
                settings = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                            "spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1",
                            "spark.python.worker.reuse": "true", **self.conf}
                for key, value in settings.items():
                    builder = builder.config(key, value)
                try:
                    self._session = builder.getOrCreate()
                except Exception as exc:  # noqa: BLE001 - no Java, bad master...: say so plainly
                    raise SparkUnavailable(f"cannot start Spark ({self.master}): {exc}; {INSTALL_HINT}",
                                           field="engine") from None
                self._session.sparkContext.setLogLevel("ERROR")
            return self._session

    def fold(self, store: JobFolders, spec: ApplySpec, files: list[FileInfo], acc: dict[Any, Any], *,
             cache: Cache | None = None) -> tuple[int, int]:
        """Fold ``files`` into ``acc`` on Spark, now (a standing reduction's micro-batch); returns the objects
        folded, and 0 skipped (executors do not count them). Executors read the files from the store
        themselves: ``store`` and ``cache`` are not used."""
        folded, objects = self.run_on_spark(spec, files)
        merge_into(acc, folded.items(), resolve_reduce(spec.reduce))
        return objects, 0

    def run_on_spark(self, spec: ApplySpec, files: list[FileInfo], group: str | None = None
                     ) -> tuple[dict[Any, Any], int]:
        """Run the map/reduce of ``spec`` over ``files`` on Spark; returns the accumulator and the objects read."""
        mapper, reducer = resolve_map(spec.map, spec.specifier), resolve_reduce(spec.reduce)
        acc = new_accumulator(mapper, reducer)
        if not files:
            return acc, 0
        sc = self.session.sparkContext
        if group:
            sc.setJobGroup(group, f"nectar apply {spec.apply_id}", interruptOnCancel=True)
        # a few partitions per core: each emits one combined accumulator, so fewer partitions shuffle less
        per = max(1, min(self.files_per_partition, -(-len(files) // (2 * sc.defaultParallelism))))
        chunks = [[list(f.fields()) for f in files[i:i + per]] for i in range(0, len(files), per)]
        tasks = [(self.nom_root, spec.job, chunk, spec.map, spec.specifier, spec.reduce, spec.from_id, spec.to_id,
                  spec.skip_errors, spec.by) for chunk in chunks]
        merge = reducer.merge
        pairs = (sc.parallelize(tasks, len(tasks)).mapPartitions(_fold_partition)
                 .reduceByKey(merge).collect())
        merge_into(acc, pairs, reducer)
        ranged = spec.from_id is not None or spec.to_id is not None
        return acc, _count_in_range(self.nom_root, spec, files) if ranged else sum(f.objects for f in files)

    def start(self, spec: ApplySpec, files: list[FileInfo]) -> Run:
        """Run the apply on a thread; ``step`` follows it."""
        mapper, reducer = resolve_map(spec.map, spec.specifier), resolve_reduce(spec.reduce)
        run = Run(spec, reducer, sum(f.objects for f in files), new_accumulator(mapper, reducer))
        self.runs[spec.apply_id] = run
        group = f"nectar-{spec.apply_id}"
        self._jobs[spec.apply_id] = group

        def work() -> None:
            try:
                acc, objects = self.run_on_spark(spec, files, group)
                merge_into(run.acc, acc.items(), reducer)
                run.objects = objects
                run.done = True
            except (FoldError, FunctionError, SparkUnavailable) as exc:
                run.error = str(exc)
            except Exception as exc:  # noqa: BLE001 - a Spark failure carries the executor's traceback
                text = str(exc)
                run.error = "Spark: " + (text[text.find("FoldError"):][:2000] if "FoldError" in text else text[:2000])
            finally:
                run.finished = time.monotonic()

        threading.Thread(target=work, name=f"spark-{spec.apply_id}", daemon=True).start()
        return run

    def step(self, max_wait: float = 0.05, now: float | None = None) -> None:
        """Update progress from Spark's status tracker (it keeps its own time: ``now`` is not needed)."""
        if max_wait:
            time.sleep(min(max_wait, 0.01))
        if self._session is None:
            return
        tracker = self._session.sparkContext.statusTracker()
        for apply_id, run in list(self.runs.items()):
            if run.done or run.error:
                continue
            done = total = 0
            for job_id in tracker.getJobIdsForGroup(self._jobs.get(apply_id)):
                job = tracker.getJobInfo(job_id)
                for stage_id in (job.stageIds if job else []):
                    stage = tracker.getStageInfo(stage_id)
                    if stage:
                        done += stage.numCompletedTasks
                        total += stage.numTasks
            if total:
                run.objects = int(run.total_objects * done / total)

    def cancel(self, apply_id: str) -> None:
        """Cancel the Spark jobs of an apply."""
        group = self._jobs.pop(apply_id, None)
        self.runs.pop(apply_id, None)
        if group and self._session is not None:
            self._session.sparkContext.cancelJobGroup(group)

    def forget(self, apply_id: str) -> None:
        """Drop a finished run's bookkeeping."""
        self.runs.pop(apply_id, None)
        self._jobs.pop(apply_id, None)

    def close(self) -> None:
        """Stop the SparkSession."""
        if self._session is not None:
            self._session.stop()
            self._session = None


def _count_in_range(root: str, spec: ApplySpec, files: list[FileInfo]) -> int:
    """Objects of ``files`` inside the range (only boundary files are opened)."""
    lo, hi = spec.from_id, spec.to_id
    inside = sum(info.objects for info in files if info.within(lo, hi, spec.by))
    boundary = [info for info in files if not info.within(lo, hi, spec.by)]
    return inside + sum(len(objs) for _, objs in read_range(Store(root), spec.job, boundary, lo, hi, by=spec.by))
