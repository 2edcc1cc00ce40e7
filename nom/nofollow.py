"""Opening the store's files without following links or waiting on FIFOs.

The store reads and writes only regular files and real folders under its root.
Every file is opened by name with ``O_NOFOLLOW`` (a symbolic link as the last
part of the path fails instead of being followed) and ``O_NONBLOCK`` (a FIFO
opens at once instead of waiting for a writer, which would freeze a reader that
holds a lock), then checked with ``fstat`` on the open descriptor, so what is
read is what was checked. A folder is checked with ``lstat``. Anything else
raises ``NotRegular``, which names the path and what it is.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from nom.errors import CorruptFile

__all__ = ["NotRegular", "is_real_folder", "open_regular", "read_regular"]

_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class NotRegular(CorruptFile):
    """A path in the store that is a symbolic link, a FIFO, a device, a socket or a folder where a file
    belongs (or a file where a folder belongs): never followed, opened for reading or written through."""


def open_regular(path: str | Path, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """An fd of the regular file at ``path`` (``flags`` as for os.open); NotRegular for anything else."""
    return _open(path, flags, mode)[0]


def read_regular(path: str | Path) -> bytes:
    """The bytes of the regular file at ``path``; NotRegular for a link, FIFO, folder or device."""
    fd, size = _open(path, os.O_RDONLY, 0)
    try:
        data = os.read(fd, size + 1)  # one read for a file that stays as it was (store files do)
        if len(data) != size:  # it changed, or the read came back short: read on to the end
            parts = [data]
            while chunk := os.read(fd, 1 << 20):
                parts.append(chunk)
            data = b"".join(parts)
        return data
    finally:
        os.close(fd)


def _open(path: str | Path, flags: int, mode: int) -> tuple[int, int]:
    """An fd of the regular file at ``path`` and its size; NotRegular for anything else."""
    try:
        fd = os.open(path, flags | _FLAGS, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO):  # a link (ELOOP; EMLINK on BSD), a FIFO to write
            raise NotRegular(_refusal(path, _kind_at(path))) from None
        raise
    try:
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegular(_refusal(path, _kind(st.st_mode)))
    return fd, st.st_size


def is_real_folder(path: str | Path) -> bool:
    """True for a folder, False when nothing is there; NotRegular for a link (even to a folder) or a file."""
    try:
        mode_bits = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(mode_bits):
        return True
    kind = _kind(mode_bits)
    raise NotRegular(f"{path} is {kind}, not a folder: the store never follows links out of its root"
                     if stat.S_ISLNK(mode_bits) else f"{path} is {kind}, not a folder")


def _refusal(path: str | Path, kind: str) -> str:
    return f"{path} is {kind}, not a regular file: the store never follows links nor reads special files"


def _kind_at(path: str | Path) -> str:
    try:
        return _kind(os.lstat(path).st_mode)
    except OSError:
        return "not a regular file"


def _kind(mode_bits: int) -> str:
    for test, kind in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISREG, "a regular file")):
        if test(mode_bits):
            return kind
    return "not a regular file"
