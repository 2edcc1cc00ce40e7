"""Group commit in a process of its own, for a producer that needs its own core: ``ProcessWriter``.

A Writer (nom.store.commit.writer): ``submit`` arrays, get futures that resolve when they are durable,
poll ``fileno()``. Arrays are checked and encoded in the producer's process and written by a child
process (``python -m nom.store.commit.process``) in groups, the sync stage (nom.store.commit.stages)
overlapping the next group's writing, so writing files does not compete with the producer for one
interpreter lock.

Sockets (ZeroMQ over ipc, in a private 0700 folder; the parent binds, the child connects)::

    parent PUSH -> child PULL   [header, json bytes]  header: epoch seq first_id last_id count retry, written
                                                      bounds (struct
                                                      _HEADER), then the job id
                                [exit header]         epoch only (struct _EXIT): commit what is queued, answer, exit
    child PUSH -> parent PULL   [results]  JSON: [[seq, file fields], ...] or [[seq, null, errno, message], ...]
                                two PUSH sockets: the sync stage's thread answers for the groups it made
                                durable, the main thread for retries found stored and writes that failed

Failure: when the child dies, every unanswered future fails with StoreError and a new child
(a new epoch; it drops whatever was sent to the old one) takes later arrays. An array sent
again after such a failure is marked as a retry; if the dead child had stored it already, the
new one finds it by its ids (``GroupCommit.find_stored``) and answers with that file, so a retry
never stores an object twice. The child dies with its
parent (PR_SET_PDEATHSIG), so a restarted collector never races a writer left from before.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import orjson
import zmq

from nom.errors import StoreError
from nom.model import Nom
from nom.store.commit.arrays import ArrayChecker, Encoded
from nom.store.commit.stages import MAX_GROUP, SyncStage
from nom.store.commit.steps import GroupCommit
from nom.store.commit.writer import Writer
from nom.store.folders import JobFolders
from nom.store.index import FileInfo

__all__ = ["ProcessWriter"]

# epoch, seq, first_id, last_id, count, retry, written known, min and max written; the job id follows
_HEADER = struct.Struct("<qqqqq??qq")
_EXIT = struct.Struct("<q")  # epoch


class ProcessWriter(Writer):
    """Commits submitted arrays in a child process; see the module docstring."""

    kind = "process"

    def __init__(self, root: str | Path, *, max_pending: int = 1024) -> None:
        """Start the writer process for the store at ``root``; block producers past ``max_pending`` arrays."""
        super().__init__(max_group=MAX_GROUP, max_pending=max_pending)  # groups: answers (one a group committed)
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self._arrays = ArrayChecker()  # checks and encodes here; the child writes
        self.restarts = 0
        self._cond = threading.Condition()
        self._futures: dict[int, Future[FileInfo]] = {}
        self._spans: dict[int, tuple[str, int, int]] = {}  # seq -> (job, first_id, last_id), while unanswered
        self._failed: set[tuple[str, int, int]] = set()  # arrays failed by a dying child: a resend is a retry
        self._seq = 0
        self._epoch = 0
        self._closed = False
        self._dir = tempfile.mkdtemp(prefix="nom-writer-")  # 0700: only this user can reach the sockets
        self._ctx = zmq.Context()
        self._outbox = self._ctx.socket(zmq.PUSH)  # used by producers, under _cond
        self._outbox.setsockopt(zmq.LINGER, 0)
        self._outbox.bind(f"ipc://{self._dir}/arrays")
        self._inbox = self._ctx.socket(zmq.PULL)  # used by the reader thread only
        self._inbox.setsockopt(zmq.LINGER, 0)
        self._inbox.bind(f"ipc://{self._dir}/results")
        self._proc = self._spawn()
        self._thread = threading.Thread(target=self._read, name="nom-writer-results", daemon=True)
        self._thread.start()

    # -- the Writer interface ----------------------------------------------------------

    def submit(self, job: str, objects: Sequence[Nom | dict[str, Any]] | Encoded,
               encoded: bytes | None = None) -> Future[FileInfo]:
        """Queue one array for ``job``; the future resolves when it is durable (or fails with StoreError)."""
        self._check_job(job)
        array = self._arrays.encode(objects, encoded)  # a bad array fails here, in the caller's hands
        future: Future[FileInfo] = Future()
        with self._cond:
            while len(self._futures) >= self.max_pending and not self._closed:
                self._cond.wait()
            if self._closed:
                raise RuntimeError("the writer is closed")
            self._seq += 1
            self._futures[self._seq] = future
            span = self._spans[self._seq] = (job, array.first_id, array.last_id)
            retry = span in self._failed
            self._failed.discard(span)
            written = array.written or (0, 0)
            header = _HEADER.pack(self._epoch, self._seq, array.first_id, array.last_id, array.count, retry,
                                  array.written is not None, *written)
            self._outbox.send(header + job.encode(), zmq.SNDMORE)
            self._outbox.send(array.raw)  # copied: cheaper than zero-copy below 64 KB (pyzmq's advice)
        return future

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is answered; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._futures, timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Commit what was submitted, then stop the child and the reader thread."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._outbox.send(_EXIT.pack(self._epoch))
            self._cond.notify_all()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._thread.join(timeout)
        self._fail_all("the writer was closed")
        if self._thread.is_alive():
            self._ctx.destroy(linger=0)
        else:
            self._outbox.close()
            self._ctx.term()
        shutil.rmtree(self._dir, ignore_errors=True)
        self.wakeup.close()

    def pending(self) -> int:
        """Arrays submitted and not answered yet."""
        with self._cond:
            return len(self._futures)

    @property
    def pid(self) -> int:
        """The writer process's pid."""
        return self._proc.pid

    # -- internals -----------------------------------------------------------------

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_source_root(),
                                                                       os.environ.get("PYTHONPATH")])))
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "nom.store.commit.process", "--nom-root", str(self.root),
             "--sockets", self._dir, "--epoch", str(self._epoch), "--parent", str(os.getpid())],
            env=env, stdin=subprocess.DEVNULL)

    def _read(self) -> None:
        """Resolve futures from the child's answers; replace the child when it dies."""
        poller = zmq.Poller()
        poller.register(self._inbox, zmq.POLLIN)
        while True:
            if poller.poll(100):
                self._answer(orjson.loads(self._inbox.recv()))
                continue
            code = self._proc.poll()
            if code is None:
                continue
            with self._cond:
                if self._closed:
                    break
                self._epoch += 1  # what was sent to the dead child is dropped by the next one
                self.restarts += 1
            self._proc = self._spawn()  # before the failures are told, so a retry finds the new one
            self._fail_all(f"the store's writer process exited with code {code}; retry the write")
        while poller.poll(0):  # answers sent just before exiting
            self._answer(orjson.loads(self._inbox.recv()))
        self._inbox.close()

    def _answer(self, results: list[list[Any]]) -> None:
        with self._cond:
            answered = [(self._futures.pop(seq, None), rest) for seq, *rest in results]
            for seq, *_ in results:
                self._spans.pop(seq, None)
            self.groups += 1
            self._cond.notify_all()
        for future, rest in answered:
            if future is None:  # failed already (its child died); the retry gets its own answer
                continue
            if rest[0] is not None:
                future.set_result(FileInfo(*rest[0]))
            else:
                future.set_exception(StoreError(rest[1], rest[2]))
        self.wakeup.signal()

    def _fail_all(self, message: str) -> None:
        with self._cond:
            futures, self._futures = list(self._futures.values()), {}
            self._failed.update(self._spans.values())
            self._spans = {}
            self._cond.notify_all()
        for future in futures:
            future.set_exception(StoreError(5, message))  # EIO
        if futures:
            self.wakeup.signal()


def _source_root() -> str:
    """The folder holding the ``nom`` package, so the child imports this very code."""
    return str(Path(__file__).resolve().parents[3])


# -- the child ---------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to kill us when our parent dies (Linux), and check it has not died already."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere: the loop below checks the parent each turn
    if os.getppid() != parent:
        sys.exit(0)


def serve(root: str, sockets: str, epoch: int, parent: int) -> None:
    """Write arrays from ``sockets`` into the store at ``root`` until told to exit or orphaned.

    Two threads, as in ThreadWriter but without its queue and futures: this one receives whatever has
    arrived (at most MAX_GROUP arrays) and writes it as a group; the sync stage makes each group durable
    and answers for it on a socket of its own (a ZeroMQ socket is used by one thread only).
    """
    steps = GroupCommit(JobFolders(root))
    ctx = zmq.Context()
    arrays = ctx.socket(zmq.PULL)
    arrays.connect(f"ipc://{sockets}/arrays")
    answers, stage_answers = ctx.socket(zmq.PUSH), ctx.socket(zmq.PUSH)
    for socket in (answers, stage_answers):
        socket.setsockopt(zmq.LINGER, 5000)
        socket.connect(f"ipc://{sockets}/results")

    def done(seqs: list[int], outcome: list[FileInfo] | BaseException) -> None:
        stage_answers.send(orjson.dumps(_answers(seqs, outcome)))

    stage = SyncStage(steps, done)
    exiting = False
    while not exiting:
        if os.getppid() != parent:
            os._exit(0)  # orphaned: unlinked temp files were never answered, so nothing answered is lost
        if not arrays.poll(100):
            continue
        group: list[tuple[str, Encoded]] = []
        seqs: list[int] = []
        early: list[list[Any]] = []  # answered without writing: retries stored already, and failures
        while len(group) < MAX_GROUP:
            try:
                frames = arrays.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if len(frames) == 1:
                exiting = exiting or _EXIT.unpack(frames[0])[0] == epoch
                continue
            sent_to, seq, first_id, last_id, count, retry, known, *written = _HEADER.unpack_from(frames[0])
            if sent_to != epoch:
                continue  # sent to a child that has died; its sender was told it failed
            job = frames[0][_HEADER.size:].decode()
            array = Encoded(frames[1], first_id, last_id, count, tuple(written) if known else None)
            try:
                found = steps.find_stored(job, array) if retry else None
            except OSError as exc:
                early += _answers([seq], exc)
                continue
            if found is not None:
                early += _answers([seq], [found])
            else:
                group.append((job, array))
                seqs.append(seq)
        if group:
            try:
                stage.hand_over(steps.write(group), seqs)
            except BaseException as exc:  # noqa: BLE001 - answered as the group's failure
                early += _answers(seqs, exc)
        if early:
            answers.send(orjson.dumps(early))
    stage.close()
    for socket in (answers, stage_answers):
        socket.close()
    arrays.close(linger=0)
    ctx.term()


def _answers(seqs: list[int], outcome: list[FileInfo] | BaseException) -> list[list[Any]]:
    """What the parent is told of these arrays: each one's file, or the error."""
    if not isinstance(outcome, BaseException):
        return [[seq, list(info.fields())] for seq, info in zip(seqs, outcome)]
    if isinstance(outcome, OSError):
        return [[seq, None, outcome.errno or 5, outcome.strerror or str(outcome)] for seq in seqs]
    return [[seq, None, 5, f"store write failed: {outcome}"] for seq in seqs]


def main(argv: list[str] | None = None) -> int:
    """The writer process: ``python -m nom.store.commit.process`` (started by ProcessWriter, not by hand)."""
    parser = argparse.ArgumentParser(prog="python -m nom.store.commit.process")
    parser.add_argument("--nom-root", required=True)
    parser.add_argument("--sockets", required=True, help="the private folder holding the parent's ipc sockets")
    parser.add_argument("--epoch", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a shell reaches the parent, which closes us
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # likewise: the parent drains first, then says exit
    _die_with_parent(args.parent)
    serve(args.nom_root, args.sockets, args.epoch, args.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
