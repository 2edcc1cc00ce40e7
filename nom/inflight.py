"""Files in flight: written, not yet visible to readers.

A data file is written before it is durable and named only after: a reader or a
restart must see a whole file or none. Where the kernel and filesystem offer
``O_TMPFILE`` (Linux: ext4, xfs, btrfs, tmpfs) the file is written with no name
at all and linked into place (``linkat``) once its data is synced; a crash before
that leaves nothing behind, not even a name. Elsewhere (NFS, other systems) it
is written as ``.tmp-<pid>-<ns>`` and renamed into place; a crash leaves the
``.tmp-`` file, which the store removes once its writer is gone.

The unnamed way is also the cheaper one: it changes the folder once per file (the
link), as a plain create does, where a named file changes it twice (create, then
rename), and every change of a folder takes that folder's lock.

Groups (``write_group``, ``place_group``) go through the small C module
``nom._unnamed`` where it was built: it makes a whole group's system calls with
the interpreter lock released once, instead of once per call (with a writer's
other threads running, taking the lock back cost more than the calls). Without
it (no C compiler at install), the same happens one call at a time.
"""

from __future__ import annotations

import errno
import os
import resource
import threading
from dataclasses import dataclass

from nom.index import FileInfo

try:
    from nom import _unnamed
except ImportError:  # not built: the Python path below does the same
    _unnamed = None

__all__ = ["GROUPS_IN_C", "InFlight", "place_group", "remove_orphans", "write_group", "write_in_flight"]

GROUPS_IN_C = _unnamed is not None  # a group's system calls run in C, with the interpreter lock released once

_NOT_HERE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)  # no O_TMPFILE on this filesystem or kernel

# Open unnamed files per process at most (each holds an fd until it is placed); past it, named ones are used.
# Two writer groups may be in flight: 2 x nom.sync_stage.MAX_GROUP, within half the fd limit (1024 is common).
MAX_UNNAMED = max(0, min(512, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2 - 64))

_state = {"open": 0, "supported": hasattr(os, "O_TMPFILE"), "proc": -1, "pid": -1}
_lock = threading.Lock()


@dataclass(slots=True)
class InFlight:
    """One array written to disk, not yet in place: an unnamed file (``fd``) or a named one (``tmp``)."""

    job: str
    folder: str
    info: FileInfo
    fd: int = -1
    tmp: str = ""
    dropped: bool = False  # by retention: acknowledged, never placed (see nom.store)

    @property
    def path(self) -> str:
        """Where the file goes."""
        return f"{self.folder}/{self.info.name}.json"

    def place(self) -> None:
        """Give the file its name (its data must be durable already: a name must never point at a torn file)."""
        if self.fd >= 0:
            with _lock:
                proc = _proc_fd()
            os.link(str(self.fd), self.path, src_dir_fd=proc, follow_symlinks=True)
            self._close()
        else:
            os.rename(self.tmp, self.path)
            self.tmp = ""

    def discard(self) -> None:
        """Drop the file (it will not be placed); harmless once placed or discarded."""
        if self.fd >= 0:
            self._close()  # an unnamed file vanishes with its last fd
        elif self.tmp:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
            self.tmp = ""

    def _close(self) -> None:
        os.close(self.fd)
        self.fd = -1
        _release(1)


def write_in_flight(job: str, folder: str, info: FileInfo, raw: bytes, *, datasync: bool) -> InFlight:
    """Write ``raw`` as the in-flight file that will become ``info``'s file in ``folder``.

    ``datasync``: sync this file's data now (per-file durability) instead of leaving it to a later syncfs.
    A failed write (a full disk) leaves nothing behind.
    """
    item = InFlight(job, folder, info)
    item.fd = _open_unnamed(folder)
    if item.fd < 0:
        item.tmp = f"{folder}/.tmp-{os.getpid()}-{info.name}"
        fd = os.open(item.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    else:
        fd = item.fd
    try:
        written = os.write(fd, raw)
        if written < len(raw):  # short writes are rare (signals, a filling disk): finish the rest
            view = memoryview(raw)[written:]
            while view:
                view = view[os.write(fd, view):]
        if datasync:
            os.fdatasync(fd)
    except BaseException:
        if item.fd < 0:
            os.close(fd)
        item.discard()
        raise
    if item.fd < 0:
        os.close(fd)
    return item


def write_group(entries: list[tuple[str, str, FileInfo, bytes]], *, datasync: bool) -> list[InFlight]:
    """Write each ``(job, folder, info, raw)`` as an in-flight file, in order; a failure leaves none of them."""
    items: list[InFlight] = []
    try:
        if _unnamed is not None and (reserved := _reserve(len(entries))):
            head = entries[:reserved]
            fds, err = _unnamed.write_unnamed([os.fsencode(f) for _, f, _, _ in head], [raw for *_, raw in head],
                                              datasync)
            items = [InFlight(job, folder, info, fd) for (job, folder, info, _), fd in zip(head, fds)]
            _release(reserved - len(fds))
            if err in _NOT_HERE and not fds:  # the first open found no O_TMPFILE here: named files from now on
                with _lock:
                    _state["supported"] = False
            elif err:
                raise OSError(err, os.strerror(err), entries[len(fds)][1])
        for job, folder, info, raw in entries[len(items):]:
            items.append(write_in_flight(job, folder, info, raw, datasync=datasync))
    except BaseException:
        for item in items:
            item.discard()
        raise
    return items


def place_group(items: list[InFlight]) -> None:
    """Put every file of a durable group in place (``InFlight.place`` for each, unnamed ones all at once)."""
    unnamed = [item for item in items if item.fd >= 0]
    if _unnamed is not None and unnamed:
        placed, err = _unnamed.link_unnamed([item.fd for item in unnamed], [os.fsencode(item.path) for item in unnamed])
        for item in unnamed[:placed]:
            item.fd = -1  # linked and closed
        _release(placed)
        if err:
            raise OSError(err, os.strerror(err), unnamed[placed].path)
    for item in items:
        if item.fd >= 0 or item.tmp:
            item.place()


def _reserve(count: int) -> int:
    """Room for up to ``count`` more open unnamed files (0 where there can be none); the caller opens them."""
    with _lock:
        _this_process()
        if not _state["supported"]:
            return 0
        room = max(0, min(count, MAX_UNNAMED - _state["open"]))
        _state["open"] += room
        return room


def _release(count: int) -> None:
    if count:
        with _lock:
            _state["open"] -= count


def _open_unnamed(folder: str) -> int:
    """An unnamed file in ``folder`` opened for writing, or -1 where there can be none (or too many are open)."""
    with _lock:
        _this_process()
        if not _state["supported"] or _state["open"] >= MAX_UNNAMED:
            return -1
        try:
            _proc_fd()
        except OSError:  # no /proc: linkat cannot name the file
            _state["supported"] = False
            return -1
        _state["open"] += 1
    try:
        return os.open(folder, os.O_WRONLY | os.O_TMPFILE | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        with _lock:
            _state["open"] -= 1
            if exc.errno in _NOT_HERE:
                _state["supported"] = False
        if exc.errno in (*_NOT_HERE, errno.EMFILE):
            return -1
        raise


def _this_process() -> None:
    """Start counting afresh in a forked child (under _lock): its files are its own."""
    if _state["pid"] != os.getpid():
        _state["proc"], _state["pid"], _state["open"] = -1, os.getpid(), 0


def _proc_fd() -> int:
    """/proc/self/fd, which linkat follows to an fd's file (under _lock). Opened once per process: in a
    forked child the parent's would name the parent's fds."""
    _this_process()
    if _state["proc"] < 0:
        _state["proc"] = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return _state["proc"]


def remove_orphans(folder: str, names: list[str]) -> None:
    """Remove the named in-flight files (``names``: a listing of ``folder``) of writers that are gone (a crash)."""
    for entry in names:
        if entry.startswith(".tmp-"):
            pid = entry.split("-")[1]
            if pid.isdigit() and not _is_alive(int(pid)):
                try:
                    os.unlink(f"{folder}/{entry}")
                except FileNotFoundError:
                    pass


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
