"""Durability primitives: syncfs, folder fsync, atomic whole-file writes, and the temp files writers leave.

A file is durable once its bytes and the folder entry that names it have
reached the disk. ``syncfs`` flushes every dirty page of one filesystem in a
single call, which is what makes group commit cheap: write many files, sync
once, rename them all, fsync each folder once.

A file written under a temporary name is called ``.tmp-<pid>-<name>`` (``atomic_write`` here, and the
commit's named temp files, nom.store.commit.files); ``remove_orphans`` removes those whose writer is gone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

from nom.store.nofollow import open_regular

__all__ = ["atomic_write", "fsync_dir", "remove_orphans", "syncfs"]

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_syncfs = getattr(_libc, "syncfs", None)


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
    try:  # a link or a FIFO at the temporary name is refused, never written through (see nom.store.nofollow)
        with open(open_regular(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def remove_orphans(folder: str, names: list[str]) -> None:
    """Remove the temp files (``names``: a listing of ``folder``) of writers that are gone (a crash mid-write)."""
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
