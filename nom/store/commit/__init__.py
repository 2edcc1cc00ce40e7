"""The commit pipeline: how arrays become durable files in the store, in groups.

What lives here, in the order an array passes through it:

- ``arrays.py``: ``ArrayChecker`` checks an array and encodes it once; ``Encoded`` is the result.
- ``files.py``: ``TempFile``, an array written and not yet linked into place (an O_TMPFILE where the
  filesystem has it, else a ``.tmp-`` file); whole groups of them written and linked, through the C
  module ``_unnamed.c`` beside it where it was built (``GROUPS_IN_C``).
- ``steps.py``: ``GroupCommit``, the five steps of a group commit (write, sync data, link, sync names,
  record), run in a row by ``Store.commit`` or split over two threads by a writer.
- ``stages.py``: ``SyncStage``, a writer's second thread: one sync makes one group's data and the
  previous group's names durable together; ``MAX_GROUP`` arrays per group at most.
- ``writer.py``: ``Writer``, the interface both writers give producers (submit, futures, an fd to poll).
- ``thread.py``: ``ThreadWriter``, both stages in threads of this process.
- ``process.py``: ``ProcessWriter``, both stages in a child process (imported on first use: it brings in
  ZeroMQ).

``open_writer`` (and ``Store.writer``) picks one: "auto" takes threads where the C module is built (a
group's system calls then run with the interpreter lock released once), else a process of its own.
"""

from __future__ import annotations

from typing import Any

from nom.store.commit.arrays import ArrayChecker, Encoded, Objects
from nom.store.commit.files import GROUPS_IN_C, TempFile
from nom.store.commit.stages import MAX_GROUP, SyncStage
from nom.store.commit.steps import Arrays, GroupCommit
from nom.store.commit.thread import ThreadWriter
from nom.store.commit.writer import Writer
from nom.store.folders import JobFolders

__all__ = [
    "GROUPS_IN_C", "MAX_GROUP", "ArrayChecker", "Arrays", "Encoded", "GroupCommit", "Objects", "ProcessWriter",
    "SyncStage", "TempFile", "ThreadWriter", "Writer", "WRITER_KINDS", "open_writer",
]

WRITER_KINDS = ("auto", "process", "thread")


def open_writer(store: JobFolders, kind: str = "auto", **options: Any) -> Writer:
    """A writer for ``store``: "thread" (ThreadWriter), "process" (ProcessWriter) or "auto", which takes
    threads where the C module is built and a process otherwise; ``options`` go to its constructor."""
    if kind not in WRITER_KINDS:
        raise ValueError(f"writer must be 'auto', 'process' or 'thread', got {kind!r}")
    if kind == "auto":
        kind = "thread" if GROUPS_IN_C else "process"
    if kind == "thread":
        return ThreadWriter(store, **options)
    from nom.store.commit.process import ProcessWriter

    return ProcessWriter(store.root, **options)


def __getattr__(name: str) -> Any:
    """``ProcessWriter``, imported on first use (it brings in ZeroMQ, which the rest of the store does not need)."""
    if name == "ProcessWriter":
        from nom.store.commit.process import ProcessWriter

        return ProcessWriter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
