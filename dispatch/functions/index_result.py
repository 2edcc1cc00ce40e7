"""The finished result of the ``index`` reduce (dispatch.functions.index): ``IndexResult``, a lazy, ranked
sequence of ``[term, {"df", "cf", "postings"}]`` pairs over an ``InvertedIndex``, with its SHA-256 (provenance)
and the compact parts it is stored in, made at once (the hash in a thread while the parts are encoded)."""

from __future__ import annotations

import gc
import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, overload

import numpy as np

__all__ = ["IndexResult", "no_gc"]


class IndexResult(Sequence[list[Any]]):
    """A finished index: ``[term, value]`` pairs ranked by df (ties by term), made only when read."""

    def __init__(self, index: Any, keep: Any = None) -> None:
        """The result of ``index`` (a dispatch.functions.index.InvertedIndex: not imported, as that module imports
        this one); ``keep(term)`` (a specifier) leaves only the terms it accepts."""
        self.index = index.compact()
        order = index.ranked()
        if keep is not None:
            order = order[np.array([bool(keep(index.terms[t])) for t in order.tolist()], bool)]
        self._order = order
        self._sha256: str | None = None
        self._stored: list[dict[str, Any]] | None = None  # encode_parts' parts, made with the hash (take_parts)

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, i: int) -> list[Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[list[Any]]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            with no_gc():
                return [self._pair(int(t)) for t in self._order[i]]
        return self._pair(int(self._order[i]))

    def _pair(self, tid: int) -> list[Any]:
        return [self.index.terms[tid], self.index.value(tid)]

    def sha256(self) -> str:
        """The SHA-256 of the whole index in its canonical form (terms sorted, documents sorted, postings by term,
        document and position): equal indexes, equal hashes, whichever engine built them (a specifier's filter
        hashes the kept terms' postings)."""
        if self._sha256 is None:
            self._sha256 = self._hash()
        return self._sha256

    def _hash(self) -> str:
        # the arrays are given to hashlib as they are (no copies): it releases the interpreter lock over large
        # buffers, so the hash runs beside the encoding of the parts (encode_parts)
        index = self.index
        digest = hashlib.sha256(b"nectar-index-1\0")
        keep = np.sort(self._order)
        counts = np.diff(index.starts)[keep]
        digest.update("\0".join(index.terms[t] for t in keep.tolist()).encode())
        digest.update(_le(counts, "<i8"))
        if len(keep) == len(index.terms):  # everything: the canonical arrays as they are, no gather
            digest.update(_le(index.docs, "<i8"))
            digest.update(_le(index.post_doc, "<i4"))
            digest.update(_le(index.post_pos, "<i4"))
            return digest.hexdigest()
        runs = [(int(index.starts[t]), int(index.starts[t + 1])) for t in keep.tolist()]
        for a, b in runs:  # a filtered index: every kept posting's id, then every position
            digest.update(index.docs[index.post_doc[a:b]].astype("<i8").tobytes())
        for a, b in runs:
            digest.update(index.post_pos[a:b].astype("<i4").tobytes())
        return digest.hexdigest()

    def encode_parts(self, max_postings: int) -> None:
        """Encode the whole index in its stored parts (InvertedIndex.encode_parts) and hash it (``sha256``) at once,
        the hash in a thread: ``take_parts`` then gives the parts. Two cores finish in the time of the longer."""
        hasher = threading.Thread(target=self.sha256, name="index-hash")
        hasher.start()
        try:
            self._stored = self.index.encode_parts(max_postings)
        finally:
            hasher.join()

    def take_parts(self, max_postings: int) -> list[dict[str, Any]]:
        """The stored parts made by ``encode_parts`` (else made now), forgotten here: they are only written once."""
        parts, self._stored = self._stored, None
        return parts if parts is not None else self.index.encode_parts(max_postings)

    def count_parts(self, max_postings: int, max_terms: int) -> int:
        """How many runs ``parts`` gives."""
        return sum(1 for _ in self._runs(max_postings, max_terms))

    def _runs(self, max_postings: int, max_terms: int) -> Iterator[list[int]]:
        counts = np.diff(self.index.starts)[self._order].tolist()
        order = self._order.tolist()
        run: list[int] = []
        size = 0
        for tid, n in zip(order, counts):
            if run and (size + n > max_postings or len(run) >= max_terms):
                yield run
                run, size = [], 0
            run.append(tid)
            size += n
        if run:
            yield run

    def parts(self, max_postings: int, max_terms: int) -> Iterator[list[list[Any]]]:
        """The pairs in runs of at most ``max_terms`` terms and about ``max_postings`` postings (a term with more
        goes alone): what a stored result object holds."""
        for run in self._runs(max_postings, max_terms):
            with no_gc():
                chunk = [self._pair(t) for t in run]
            yield chunk


@contextmanager
def no_gc() -> Iterator[None]:
    """Cyclic GC off while many small lists are made (it would scan them again and again: twice the time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _le(array: np.ndarray, dtype: str) -> np.ndarray:
    """``array`` as a contiguous array of ``dtype`` (little-endian), without a copy when it is one already."""
    return np.ascontiguousarray(array.astype(dtype, copy=False))
