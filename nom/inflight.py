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
"""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass

from nom.index import FileInfo

__all__ = ["InFlight", "write_in_flight"]

MAX_UNNAMED = 256  # open unnamed files per process at most; past it, named ones (each holds an fd until linked)

_unnamed = {"open": 0, "supported": hasattr(os, "O_TMPFILE"), "proc": -1, "pid": -1}
_lock = threading.Lock()


@dataclass(slots=True)
class InFlight:
    """One array written to disk, not yet in place: an unnamed file (``fd``) or a named one (``tmp``)."""

    job: str
    folder: str
    info: FileInfo
    fd: int = -1
    tmp: str = ""

    @property
    def path(self) -> str:
        """Where the file goes."""
        return f"{self.folder}/{self.info.name}.json"

    def place(self) -> None:
        """Give the file its name (its data must be durable already: a name must never point at a torn file)."""
        if self.fd >= 0:
            os.link(str(self.fd), self.path, src_dir_fd=_unnamed["proc"], follow_symlinks=True)
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
        with _lock:
            _unnamed["open"] -= 1


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


def _open_unnamed(folder: str) -> int:
    """An unnamed file in ``folder`` opened for writing, or -1 where there can be none (or too many are open)."""
    with _lock:
        if not _unnamed["supported"] or _unnamed["open"] >= MAX_UNNAMED:
            return -1
        if _unnamed["pid"] != os.getpid():  # first use, or a forked child: /proc/self was resolved for another
            _unnamed["proc"], _unnamed["pid"], _unnamed["open"] = -1, os.getpid(), 0
        if _unnamed["proc"] < 0:
            try:  # linkat needs the fd as a path: /proc/self/fd/<fd>, followed
                _unnamed["proc"] = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                _unnamed["supported"] = False
                return -1
        _unnamed["open"] += 1
    try:
        return os.open(folder, os.O_WRONLY | os.O_TMPFILE | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        with _lock:
            _unnamed["open"] -= 1
            if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):  # not on this filesystem/kernel
                _unnamed["supported"] = False
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.EMFILE):
            return -1
        raise
