"""Durability primitives: syncfs, folder fsync, and atomic whole-file writes.

A file is durable once its bytes and the folder entry that names it have
reached the disk. ``syncfs`` flushes every dirty page of one filesystem in a
single call, which is what makes group commit cheap: write many files, sync
once, rename them all, fsync each folder once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

from nom.nofollow import open_regular

__all__ = ["atomic_write", "fsync_dir", "has_syncfs", "syncfs"]

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_syncfs = getattr(_libc, "syncfs", None)


def has_syncfs() -> bool:
    """True where the C library offers syncfs(2) (Linux)."""
    return _syncfs is not None


def syncfs(path: str | Path) -> None:
    """Flush all dirty data of the filesystem holding ``path`` (falls back to sync())."""
    if _syncfs is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if _syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs failed: {os.strerror(err)}", str(path))
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Make the entries of folder ``path`` (creations, renames, deletions) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a reader or a restart sees the old or the new file, whole."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:  # a link or a FIFO at the temporary name is refused, never written through (see nom.nofollow)
        with open(open_regular(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
