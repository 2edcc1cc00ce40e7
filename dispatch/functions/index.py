"""The ``index`` reduce: an inverted index with positions, held in flat NumPy arrays (issue 19).

``apply words index <job>`` builds, for every term: its document frequency (``df``), its collection
frequency (``cf``) and its postings (object id and the term's positions in it), sorted by id. Documents are
the job's objects; a term's position is its index in the list the map gives for the object (for ``words``:
``dispatch.functions.text.terms`` of its text), so positions agree with ``term_spans`` offsets.

Why arrays: a Python object per posting costs ~100 bytes and a dict operation per token (an earlier try
built 37.6k objects/s). Here folding appends term ids (from a vocabulary dict with a C default factory),
object ids and token counts to flat buffers; ``compact`` turns them into one sorted form:

- ``terms``: the vocabulary, sorted (a term's id is its rank: merging two sorted forms keeps both runs
  sorted, so the merge sort is a linear two-run merge, and ``prefix*`` is a bisect);
- ``starts``: int64, term ``t``'s postings are ``starts[t]:starts[t+1]``;
- ``post_doc`` (int32 document ordinal) and ``post_pos`` (int32 position), sorted by (term, doc, pos);
- ``docs``: int64 object ids, sorted, and ``doc_len``: int32 terms per document (BM25 needs them).

8 bytes a posting, 12 a document. The accumulator crosses processes (local workers, Spark partitions,
checkpoints) as one ``[INDEX_KEY, encoded]`` pair: the arrays in base64, the terms as a JSON list.
``IndexResult`` is the finished result, a lazy sequence of ``[term, {"df", "cf", "postings"}]`` pairs
ranked by df (ties by term): only the pairs asked for become Python objects.
"""

from __future__ import annotations

import base64
import bisect
import gc
import hashlib
import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, overload

import numpy as np

from dispatch.errors import FoldError
from dispatch.functions.text import terms as text_terms
from dispatch.functions.text import text_of

__all__ = ["INDEX_KEY", "IndexResult", "InvertedIndex", "fold_index", "index_merge", "is_index_pair"]

INDEX_KEY = "\x00index"  # the one key of an index accumulator's pairs: no term holds a NUL
FLUSH_POSTINGS = 200_000  # buffered postings turned into arrays at a time


class InvertedIndex:
    """A growing inverted index: buffers of folded objects, and a compact sorted form (see the module)."""

    def __init__(self) -> None:
        """An empty index."""
        self._vocab: defaultdict[str, int] = defaultdict(itertools.count().__next__)
        self._tids: list[int] = []  # buffered: term id (in _vocab) per posting
        self._lens: list[int] = []  # buffered: terms per object
        self._ids: list[int] = []  # buffered: object id
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (tids, lens, ids) arrays
        self.terms: list[str] = []
        self.starts = np.zeros(1, np.int64)
        self.post_doc = np.zeros(0, np.int32)
        self.post_pos = np.zeros(0, np.int32)
        self.docs = np.zeros(0, np.int64)
        self.doc_len = np.zeros(0, np.int32)
        self._df: np.ndarray | None = None
        self._order: np.ndarray | None = None

    # -- folding --------------------------------------------------------------

    def add(self, obj_id: int, keys: list[str]) -> None:
        """Fold one document: its id and its terms in order (positions are their indexes)."""
        self._tids.extend(map(self._vocab.__getitem__, keys))
        self._lens.append(len(keys))
        self._ids.append(obj_id)
        if len(self._tids) >= FLUSH_POSTINGS:
            self._flush()

    def _flush(self) -> None:
        if self._ids:
            self._parts.append((np.array(self._tids, np.int32), np.array(self._lens, np.int32),
                                np.array(self._ids, np.int64)))
            self._tids, self._lens, self._ids = [], [], []

    @property
    def dirty(self) -> bool:
        """True when folded documents wait outside the compact form."""
        return bool(self._ids or self._parts)

    def compact(self) -> InvertedIndex:
        """Merge what was folded since the last compaction into the sorted form; returns self."""
        self._flush()
        if not self._parts:
            return self
        tids = np.concatenate([p[0] for p in self._parts])
        lens = np.concatenate([p[1] for p in self._parts])
        ids = np.concatenate([p[2] for p in self._parts])
        self._parts = []
        vocab = self._vocab
        self._vocab = defaultdict(itertools.count().__next__)
        names = sorted(vocab)  # sorted terms: a term's id becomes its rank
        rank = np.empty(len(vocab), np.int64)
        rank[[vocab[t] for t in names]] = np.arange(len(names))
        # positions: 0..len-1 within each document, documents one after the other
        first = np.repeat(np.cumsum(lens, dtype=np.int64) - lens, lens)
        pos = (np.arange(len(tids), dtype=np.int64) - first).astype(np.int32)
        docs, inverse = np.unique(ids, return_inverse=True)
        doc_len = np.bincount(inverse, weights=lens, minlength=len(docs)).astype(np.int32)
        post_doc = np.repeat(inverse, lens)
        other = _Sorted(names, rank[tids], post_doc, pos, docs, doc_len)
        self._merge_sorted(other)
        return self

    def _merge_sorted(self, other: _Sorted) -> None:
        """Merge a sorted-able form into the compact one (which may be empty)."""
        mine = _Sorted(self.terms, np.repeat(np.arange(len(self.terms), dtype=np.int64), np.diff(self.starts)),
                       self.post_doc, self.post_pos, self.docs, self.doc_len)
        terms = sorted(set(mine.terms) | set(other.terms)) if mine.terms else list(other.terms)
        where = {t: i for i, t in enumerate(terms)}
        docs = np.union1d(mine.docs, other.docs)
        tid_parts, doc_parts, pos_parts = [], [], []
        doc_len = np.zeros(len(docs), np.int64)
        for part in (mine, other):
            if not len(part.tids) and not len(part.docs):
                continue
            remap = np.array([where[t] for t in part.terms], np.int64) if part.terms else np.zeros(0, np.int64)
            tid_parts.append(remap[part.tids])
            dmap = np.searchsorted(docs, part.docs)
            doc_parts.append(dmap[part.post_doc])
            pos_parts.append(part.pos)
            np.add.at(doc_len, dmap, part.doc_len)
        tids = np.concatenate(tid_parts) if tid_parts else np.zeros(0, np.int64)
        post_doc = np.concatenate(doc_parts) if doc_parts else np.zeros(0, np.int64)
        pos = np.concatenate(pos_parts) if pos_parts else np.zeros(0, np.int32)
        # each part is in (term, doc, pos) order or (doc, pos) order within a term after its sort below:
        # a stable sort on (term, doc) keeps positions in order within a document
        key = (tids.astype(np.int64) << 32) | post_doc.astype(np.int64)
        order = np.argsort(key, kind="stable")
        tids = tids[order]
        self.terms = terms
        self.starts = np.searchsorted(tids, np.arange(len(terms) + 1)).astype(np.int64)
        self.post_doc = post_doc[order].astype(np.int32)
        self.post_pos = pos[order].astype(np.int32)
        self.docs = docs.astype(np.int64)
        self.doc_len = doc_len.astype(np.int32)
        self._df = self._order = None

    # -- merging and the wire ---------------------------------------------------

    def merge(self, other: InvertedIndex) -> None:
        """Fold another index into this one."""
        other.compact()
        if not len(other.docs):
            return
        self.compact()
        self._merge_sorted(_Sorted(other.terms, np.repeat(np.arange(len(other.terms), dtype=np.int64),
                                                          np.diff(other.starts)),
                                   other.post_doc, other.post_pos, other.docs, other.doc_len))

    def encode(self) -> dict[str, Any]:
        """The compact form as a JSON-able dict (arrays in base64)."""
        self.compact()
        return {"v": 1, "terms": self.terms, "counts": _b64(np.diff(self.starts).astype(np.int32)),
                "doc": _b64(self.post_doc), "pos": _b64(self.post_pos), "docs": _b64(self.docs),
                "lens": _b64(self.doc_len)}

    @classmethod
    def decode(cls, data: Any) -> InvertedIndex:
        """An index from ``encode``'s form (ValueError when it is not one)."""
        if not isinstance(data, dict) or data.get("v") != 1:
            raise ValueError("not an encoded index")
        index = cls()
        index.terms = list(data["terms"])
        counts = _unb64(data["counts"], np.int32)
        index.starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        index.post_doc = _unb64(data["doc"], np.int32)
        index.post_pos = _unb64(data["pos"], np.int32)
        index.docs = _unb64(data["docs"], np.int64)
        index.doc_len = _unb64(data["lens"], np.int32)
        index._check()
        return index

    def _check(self) -> None:
        """ValueError unless the arrays agree (lengths, document ordinals in range, terms sorted)."""
        if len(self.starts) != len(self.terms) + 1 or self.starts[-1] != len(self.post_doc) or \
                len(self.post_pos) != len(self.post_doc) or len(self.docs) != len(self.doc_len):
            raise ValueError("an encoded index whose arrays disagree in length")
        if len(self.post_doc) and (int(self.post_doc.min()) < 0 or int(self.post_doc.max()) >= len(self.docs)):
            raise ValueError("an encoded index whose postings name documents it does not have")
        if any(a >= b for a, b in zip(self.terms, self.terms[1:])):
            raise ValueError("an encoded index whose terms are not sorted")

    def encode_parts(self, max_postings: int) -> list[dict[str, Any]]:
        """The compact form in parts of runs of terms (in term order) of about ``max_postings`` postings each (a
        term with more goes alone); the first part also holds the documents. ``decode_parts`` joins them."""
        self.compact()
        counts = np.diff(self.starts)
        parts: list[dict[str, Any]] = []
        first = 0
        while first < len(self.terms) or not parts:
            last = first + 1
            if first < len(self.terms):  # as many terms as fit from `first`
                budget = int(self.starts[first]) + max_postings
                last = max(first + 1, int(np.searchsorted(self.starts, budget, side="right")) - 1)
                last = min(last, len(self.terms))
            else:
                last = first
            a, b = int(self.starts[first]), int(self.starts[last])
            part = {"v": 1, "terms": self.terms[first:last], "counts": _b64(counts[first:last].astype(np.int32)),
                    "doc": _b64(self.post_doc[a:b]), "pos": _b64(self.post_pos[a:b])}
            if not parts:
                part.update(docs=_b64(self.docs), lens=_b64(self.doc_len))
            parts.append(part)
            first = last
        return parts

    @classmethod
    def decode_parts(cls, parts: list[Any]) -> InvertedIndex:
        """An index from ``encode_parts``'s parts, in order (ValueError when they are not such parts)."""
        if not parts or not all(isinstance(p, dict) and p.get("v") == 1 for p in parts) or "docs" not in parts[0]:
            raise ValueError("not the parts of an encoded index")
        index = cls()
        index.terms = [t for p in parts for t in p["terms"]]
        counts = np.concatenate([_unb64(p["counts"], np.int32) for p in parts])
        index.starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        index.post_doc = np.concatenate([_unb64(p["doc"], np.int32) for p in parts])
        index.post_pos = np.concatenate([_unb64(p["pos"], np.int32) for p in parts])
        index.docs = _unb64(parts[0]["docs"], np.int64)
        index.doc_len = _unb64(parts[0]["lens"], np.int32)
        index._check()
        return index

    @classmethod
    def from_pairs(cls, pairs: Iterable[Any]) -> InvertedIndex:
        """An index from finished result pairs ``[term, {"df", "cf", "postings": [[id, [pos, ...]], ...]}]``
        (a stored result); a document's length is taken as the number of its postings."""
        index = cls()
        tids: list[int] = []
        doc_ids: list[int] = []
        positions: list[int] = []
        names: list[str] = []
        for term, value in pairs:
            tid = len(names)
            names.append(term)
            for obj_id, pos in value["postings"]:
                tids.extend([tid] * len(pos))
                doc_ids.extend([obj_id] * len(pos))
                positions.extend(pos)
        docs, inverse = np.unique(np.array(doc_ids, np.int64), return_inverse=True)
        doc_len = np.bincount(inverse, minlength=len(docs)).astype(np.int32)
        order = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(names), np.int64)
        rank[order] = np.arange(len(names))
        index._merge_sorted(_Sorted([names[i] for i in order], rank[np.array(tids, np.int64)],
                                    inverse.astype(np.int64), np.array(positions, np.int32), docs, doc_len))
        return index

    # -- reading ------------------------------------------------------------------

    def __len__(self) -> int:
        """How many terms."""
        self.compact()
        return len(self.terms)

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        """The accumulator's pairs, as every engine sends them: one ``(INDEX_KEY, encoded)``."""
        return [(INDEX_KEY, self.encode())] if len(self.docs) or self.dirty else []

    # the whole-accumulator protocol of dispatch.functions.fold
    def fold(self, objs: list[dict[str, Any]], mapper: Any, skip_errors: bool) -> int:
        """Fold objects (see ``fold_index``); returns how many were skipped."""
        return fold_index(objs, mapper, self, skip_errors)

    def absorb(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        """Merge another accumulator (an index, or its pairs ``[INDEX_KEY, encoded]``) into this one."""
        if isinstance(pairs, InvertedIndex):
            self.merge(pairs)
            return
        for key, value in (pairs.items() if isinstance(pairs, dict) else pairs):
            if not is_index_pair(key):
                raise ValueError(f"an index accumulator got a pair keyed {key!r}")
            self.merge(_as_index(value))

    def result(self, top: int | None = None, keep: Any = None) -> Sequence[list[Any]]:
        """The finished result (its ``top`` pairs; ``keep``: a filter of terms)."""
        full = IndexResult(self, keep)
        return full[:top] if top else full

    def term_id(self, term: str) -> int | None:
        """The id of ``term``, or None when it is not indexed."""
        i = bisect.bisect_left(self.terms, term)
        return i if i < len(self.terms) and self.terms[i] == term else None

    def prefix_ids(self, prefix: str) -> range:
        """The ids of the terms that start with ``prefix``."""
        lo = bisect.bisect_left(self.terms, prefix)
        hi = bisect.bisect_left(self.terms, prefix + "\U0010ffff")
        return range(lo, hi)

    def df(self) -> np.ndarray:
        """Documents per term (postings of one term in one document count once)."""
        if self._df is None:
            self.compact()
            n = len(self.post_doc)
            new = np.ones(n, bool)
            if n:
                new[1:] = self.post_doc[1:] != self.post_doc[:-1]
                new[self.starts[:-1][np.diff(self.starts) > 0]] = True
            counts = np.concatenate([[0], np.cumsum(new, dtype=np.int64)])
            self._df = counts[self.starts[1:]] - counts[self.starts[:-1]]
        return self._df

    def ranked(self) -> np.ndarray:
        """Term ids by df, largest first, ties by term (the order of every result)."""
        if self._order is None:
            self._order = np.lexsort((np.arange(len(self.terms)), -self.df()))
        return self._order

    def value(self, tid: int) -> dict[str, Any]:
        """A term's finished value: ``{"df", "cf", "postings": [[id, [pos, ...]], ...]}``."""
        a, b = int(self.starts[tid]), int(self.starts[tid + 1])
        doc = self.post_doc[a:b]
        cuts = np.flatnonzero(doc[1:] != doc[:-1]) + 1
        bounds = [0, *cuts.tolist(), b - a]
        ids = self.docs[doc[bounds[:-1]]].tolist() if b > a else []
        pos = self.post_pos[a:b].tolist()
        postings = [[ids[i], pos[bounds[i]:bounds[i + 1]]] for i in range(len(ids))]
        return {"df": len(ids), "cf": b - a, "postings": postings}

    def nbytes(self) -> int:
        """Bytes of the compact arrays (the terms' strings not counted)."""
        self.compact()
        return int(self.starts.nbytes + self.post_doc.nbytes + self.post_pos.nbytes + self.docs.nbytes
                   + self.doc_len.nbytes)


class _Sorted:
    """One side of a merge: terms sorted, per posting a term id (rank), a document ordinal and a position."""

    def __init__(self, terms: list[str], tids: np.ndarray, post_doc: np.ndarray, pos: np.ndarray,
                 docs: np.ndarray, doc_len: np.ndarray) -> None:
        self.terms, self.tids, self.post_doc, self.pos, self.docs, self.doc_len = (
            terms, tids, post_doc, pos, docs, doc_len)


class IndexResult(Sequence[list[Any]]):
    """A finished index: ``[term, value]`` pairs ranked by df (ties by term), made only when read."""

    def __init__(self, index: InvertedIndex, keep: Any = None) -> None:
        """The result of ``index``; ``keep(term)`` (a specifier) leaves only the terms it accepts."""
        self.index = index.compact()
        order = index.ranked()
        if keep is not None:
            order = order[np.array([bool(keep(index.terms[t])) for t in order.tolist()], bool)]
        self._order = order

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, i: int) -> list[Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[list[Any]]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            with _no_gc():
                return [self._pair(int(t)) for t in self._order[i]]
        return self._pair(int(self._order[i]))

    def _pair(self, tid: int) -> list[Any]:
        return [self.index.terms[tid], self.index.value(tid)]

    def sha256(self) -> str:
        """The SHA-256 of the whole index in its canonical form (terms sorted, postings by id and position):
        equal indexes, equal hashes, whichever engine built them; the filter of a specifier counts."""
        index = self.index
        digest = hashlib.sha256(b"nectar-index-1\0")
        keep = np.sort(self._order)
        counts = np.diff(index.starts)[keep]
        digest.update("\0".join(index.terms[t] for t in keep.tolist()).encode())
        digest.update(counts.astype("<i8").tobytes())
        if len(keep) == len(index.terms):  # everything: slices of about a million postings
            bounds = list(range(0, len(index.post_doc), 1 << 20)) + [len(index.post_doc)]
            runs = list(zip(bounds, bounds[1:]))
        else:
            runs = [(int(index.starts[t]), int(index.starts[t + 1])) for t in keep.tolist()]
        for a, b in runs:  # the same bytes either way: every kept posting's id, then every position
            digest.update(index.docs[index.post_doc[a:b]].astype("<i8").tobytes())
        for a, b in runs:
            digest.update(index.post_pos[a:b].astype("<i4").tobytes())
        return digest.hexdigest()

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
            with _no_gc():
                chunk = [self._pair(t) for t in run]
            yield chunk


@contextmanager
def _no_gc() -> Iterator[None]:
    """Cyclic GC off while many small lists are made (it would scan them again and again: twice the time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def fold_index(objs: list[dict[str, Any]], mapper: Any, acc: InvertedIndex, skip_errors: bool) -> int:
    """Fold objects into an index: for ``words``, the terms of each object's text; for another map, the keys
    its pairs give, in order (they must be strings). Returns how many objects were skipped."""
    add = acc.add
    if mapper.name == "words":
        for obj in objs:
            try:
                add(obj["id"], text_terms(text_of(obj)))
            except Exception:  # noqa: BLE001 - a malformed object is named (or skipped), never a crash
                if not skip_errors:
                    raise FoldError(obj.get("id") if isinstance(obj, dict) else None, f"{mapper.name}/index",
                                    _why()) from None
        return 0
    skipped = 0
    for obj in objs:
        try:
            keys = [key for key, _ in mapper.pairs(obj)]
            bad = next((k for k in keys if not isinstance(k, str)), None)
            if bad is not None:
                raise TypeError(f"index needs string keys, the map gave {type(bad).__name__} {bad!r}")
            add(obj["id"], keys)
        except Exception:  # noqa: BLE001 - user code may raise anything
            if not skip_errors:
                raise FoldError(obj.get("id") if isinstance(obj, dict) else None, f"{mapper.name}/index",
                                _why()) from None
            skipped += 1
    return skipped


def _why() -> str:
    import traceback

    return traceback.format_exc()


def is_index_pair(key: Any) -> bool:
    """True for the key of an index accumulator's one pair."""
    return key == INDEX_KEY


def index_merge(a: Any, b: Any) -> Any:
    """Merge two encoded indexes (Spark's reduceByKey merges partitions' pairs with this)."""
    left, right = _as_index(a), _as_index(b)
    left.merge(right)
    return left.encode()


def _as_index(value: Any) -> InvertedIndex:
    return value if isinstance(value, InvertedIndex) else InvertedIndex.decode(value)


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _unb64(text: str, dtype: Any) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).copy()
