"""The steps of a group commit, in order: write, sync data, link, sync names, record.

1. ``write``: each array of the group to a temp file (nom.store.commit.files), not visible to readers; the
   file's SHA-256 is computed here from the bytes written and recorded with its ``FileInfo``;
2. ``sync_data``: one filesystem sync for the whole group (``syncfs``; per-file mode synced each file already);
3. ``link``: make room under each job's retention cap, then link the temp files that fit into place (a group
   larger than the cap links only its newest files that fit: the others are acknowledged, never linked);
4. ``sync_names``: fsync each job folder once, so that the links are durable too;
5. ``record``: add the files to their jobs' indexes; they are now committed.

``run`` does them one after the other (``Store.commit``). The writers (nom.store.commit.thread and
.process) split them over two threads so that one group is written while the one before syncs, and let
one ``syncfs`` make the previous group's names and the current group's data durable together
(nom.store.commit.stages).
"""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Iterator, Sequence

from nom.errors import NomError, StoreError
from nom.store.commit.arrays import ArrayChecker, Encoded, Objects
from nom.store.commit.files import TempFile, link_group, write_group
from nom.store.durable import fsync_dir, syncfs
from nom.store.folders import JobFolders
from nom.store.index import FileInfo

__all__ = ["Arrays", "GroupCommit"]

Arrays = Sequence[tuple[str, Objects | Encoded] | tuple[str, Objects, bytes]]  # (job, objects[, their encoding])


class GroupCommit:
    """Commits groups of arrays into the job folders of one store root; see the module docstring."""

    def __init__(self, folders: JobFolders) -> None:
        """Commit into ``folders``, made durable as its ``sync`` mode says."""
        self.folders = folders
        self.sync = folders.sync
        self._arrays = ArrayChecker()

    def encode(self, objects: Objects | Encoded, raw: bytes | None = None) -> Encoded:
        """Check an array and encode it in id order (``raw``: its encoding, when the caller made it already)."""
        return self._arrays.encode(objects, raw)

    def run(self, arrays: Arrays) -> list[FileInfo]:
        """Every step for one group, in this thread; returns when all its files are durable."""
        if not arrays:
            return []
        files = self.write(arrays)
        self.sync_data()
        self.link(files)
        self.sync_names(files)
        return self.record(files)

    def write(self, arrays: Arrays) -> list[TempFile]:
        """Write each array to a temp file (not visible to readers yet); a failure leaves none of them."""
        entries: list[tuple[str, str, FileInfo, bytes]] = []
        folders: dict[str, str] = {}
        names: dict[str, Iterator[int]] = {}
        try:
            for n, (job, objects, *encoded) in enumerate(arrays):
                folder = folders.get(job)
                if folder is None:  # once per job and group: the index's refresh and the clock cost syscalls
                    folder = folders[job] = str(self.folders.index(job, create=True).folder)
                    names[job] = iter(self.folders.new_ids(job, sum(1 for entry in arrays if entry[0] == job)))
                try:
                    array = self.encode(objects, encoded[0] if encoded else None)
                except NomError as exc:
                    raise NomError(f"arrays[{n}]: {exc}" if len(arrays) > 1 else str(exc), field=exc.field) from None
                # the file's SHA-256 from the bytes in hand: hashed once, here, never read back for it (issue 20)
                info = FileInfo(next(names[job]), array.first_id, array.last_id, array.count, len(array.raw),
                                sha256=hashlib.sha256(array.raw).hexdigest(),
                                min_written=array.written[0] if array.written else None,
                                max_written=array.written[1] if array.written else None)
                entries.append((job, folder, info, array.raw))
            return write_group(entries, datasync=self.sync == "fsync")
        except OSError as exc:
            raise StoreError(exc.errno or errno.EIO, f"store write failed: {exc.strerror or exc}") from exc

    def sync_data(self) -> None:
        """Make written data durable (one syncfs for every temp file; per-file mode synced already)."""
        if self.sync == "syncfs":
            syncfs(self.folders.root)

    def link(self, files: list[TempFile]) -> None:
        """Make room under each job's cap, then link the synced temp files that fit into place (all dropped if
        that fails)."""
        try:
            for job in sorted({item.job for item in files}):
                cap = self.folders.max_size(job)
                if cap is not None:
                    items = [item for item in files if item.job == job]
                    dropped = self.folders.retain(job, cap, [item.info for item in items])[1]
                    for item in items:
                        if item.info.name in dropped:  # never linked: older than what fits of its own group
                            item.dropped = True
                            item.discard()
            link_group(files)
        except OSError as exc:
            self.abandon(files)
            raise StoreError(exc.errno or errno.EIO, f"store write failed: {exc.strerror or exc}") from exc

    def sync_names(self, files: list[TempFile]) -> None:
        """Make the links durable: fsync each job folder once."""
        if self.sync != "none":
            for folder in sorted({item.folder for item in files}):
                fsync_dir(folder)

    def record(self, files: list[TempFile]) -> list[FileInfo]:
        """Record the durable files in their jobs' indexes; returns them."""
        for job in {item.job for item in files}:
            self.folders.index(job).add(item.info for item in files if item.job == job and not item.dropped)
        return [item.info for item in files]

    @staticmethod
    def abandon(files: list[TempFile]) -> None:
        """Drop temp files that will not be linked (harmless for those linked already)."""
        for item in files:
            item.discard()

    def find_stored(self, job: str, array: Encoded) -> FileInfo | None:
        """The file that already holds exactly ``array`` (ids are never reused: a retried write), if any;
        its name is made durable now (its data was synced before it was linked)."""
        if not self.folders.exists(job):
            return None
        for info in self.folders.index(job).overlapping(array.first_id, array.last_id):
            if (info.min_id, info.max_id, info.objects) == (array.first_id, array.last_id, array.count):
                fsync_dir(self.folders.job_dir(job))
                return info
        return None
