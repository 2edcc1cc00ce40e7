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
import binascii
import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from dispatch.errors import FoldError
from dispatch.functions.index_forms import Form, merge_forms, raw_form
from dispatch.functions.index_result import IndexResult
from dispatch.functions.text import SEP, terms_batch, text_of
from dispatch.functions.text import terms as text_terms

__all__ = ["INDEX_KEY", "IndexResult", "InvertedIndex", "fold_index", "index_merge", "is_index_pair"]

INDEX_KEY = "\x00index"  # the one key of an index accumulator's pairs: no term holds a NUL
FLUSH_POSTINGS = 200_000  # buffered postings turned into arrays at a time
FLUSH_TEXTS = 10_000  # buffered texts tokenized at a time (terms_batch: fewer, larger calls)


class InvertedIndex:
    """A growing inverted index: buffers of folded objects, and a compact sorted form (see the module)."""

    def __init__(self) -> None:
        """An empty index."""
        self._vocab: defaultdict[str, int] = defaultdict(itertools.count().__next__)
        self._tids: list[int] = []  # buffered: term id (in _vocab) per posting
        self._lens: list[int] = []  # buffered: terms per object
        self._ids: list[int] = []  # buffered: object id
        self._texts: list[str] = []  # buffered: texts of documents (add_texts), with their ids in _text_ids
        self._text_ids: list[int] = []
        self._sep: int | None = None  # the id of SEP in _vocab, once add_texts used it (not a term)
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (tids, lens, ids) arrays
        self.terms: list[str] = []
        self.starts = np.zeros(1, np.int64)
        self.post_doc = np.zeros(0, np.int32)
        self.post_pos = np.zeros(0, np.int32)
        self.docs = np.zeros(0, np.int64)
        self.doc_len = np.zeros(0, np.int32)
        self._df: np.ndarray | None = None
        self._order: np.ndarray | None = None
        self.prepared: Any = None  # what dispatch.query derives for searching (dropped when the index changes)

    # -- folding --------------------------------------------------------------

    def add(self, obj_id: int, keys: list[str]) -> None:
        """Fold one document: its id and its terms in order (positions are their indexes)."""
        if self._texts:
            self._flush_texts()
        self._tids.extend(map(self._vocab.__getitem__, keys))
        self._lens.append(len(keys))
        self._ids.append(obj_id)
        if len(self._tids) >= FLUSH_POSTINGS:
            self._flush()

    def add_many(self, ids: list[int], keys: list[list[str]]) -> None:
        """Fold many documents at once (``add`` for each, with fewer calls)."""
        if self._texts:
            self._flush_texts()
        self._tids.extend(map(self._vocab.__getitem__, itertools.chain.from_iterable(keys)))
        self._lens.extend(map(len, keys))
        self._ids.extend(ids)
        if len(self._tids) >= FLUSH_POSTINGS:
            self._flush()

    def add_texts(self, ids: list[int], texts: list[str]) -> None:
        """Fold documents by their texts: ``add(id, terms(text))`` for each, tokenized in batches (terms_batch)."""
        if self._ids:
            self._flush()
        if self._text_ids and ids and ids[0] < self._text_ids[-1]:  # going back (a worker taking chunks from the
            self._flush_texts()  # end): each buffered part stays in id order, and compact puts parts in order
        self._text_ids += ids
        self._texts += texts
        if len(self._texts) >= FLUSH_TEXTS:
            self._flush_texts()

    def _flush_texts(self) -> None:
        """Tokenize the buffered texts at once: their terms' ids, with SEP's after each text, give the lengths."""
        if not self._texts:
            return
        found = terms_batch(self._texts)
        if self._sep is None:
            self._sep = self._vocab[SEP]
        tids = np.fromiter(map(self._vocab.__getitem__, found), np.int32, len(found))
        ends = np.flatnonzero(tids == self._sep)
        lens = np.diff(ends, prepend=-1).astype(np.int32) - 1
        self._parts.append((tids[tids != self._sep], lens, np.array(self._text_ids, np.int64)))
        self._texts, self._text_ids = [], []

    def _flush(self) -> None:
        self._flush_texts()
        if self._ids:
            self._parts.append((np.array(self._tids, np.int32), np.array(self._lens, np.int32),
                                np.array(self._ids, np.int64)))
            self._tids, self._lens, self._ids = [], [], []

    @property
    def dirty(self) -> bool:
        """True when folded documents wait outside the compact form."""
        return bool(self._ids or self._texts or self._parts)

    def compact(self) -> InvertedIndex:
        """Merge what was folded since the last compaction into the sorted form; returns self."""
        self._flush()
        if not self._parts:
            return self
        parts = sorted(self._parts, key=lambda p: int(p[2][0]) if len(p[2]) else 0)  # parts of runs of ids: in
        tids = np.concatenate([p[0] for p in parts])  # order, the documents are, and need no reordering
        lens = np.concatenate([p[1] for p in parts])
        ids = np.concatenate([p[2] for p in parts])
        self._parts = []
        vocab = self._vocab
        self._vocab = defaultdict(itertools.count().__next__)
        size = len(vocab)
        if self._sep is not None:  # a separator of add_texts, in no posting
            del vocab[SEP]
            self._sep = None
        names = sorted(vocab)  # sorted terms: a term's id becomes its rank
        rank = np.zeros(size, np.int32)
        rank[[vocab[t] for t in names]] = np.arange(len(names), dtype=np.int32)
        tids = rank[tids]
        self._adopt(merge_forms(self._form(), raw_form(names, tids, lens, ids)))
        return self

    def _form(self) -> Form:
        return Form(self.terms, np.diff(self.starts), self.post_doc, self.post_pos, self.docs, self.doc_len)

    def _adopt(self, form: Form) -> None:
        self.terms = form.terms
        self.starts = np.concatenate([[0], np.cumsum(form.counts, dtype=np.int64)])
        self.post_doc = form.post_doc.astype(np.int32, copy=False)
        self.post_pos = form.post_pos.astype(np.int32, copy=False)
        self.docs, self.doc_len = form.docs.astype(np.int64, copy=False), form.doc_len.astype(np.int32, copy=False)
        self._df = self._order = self.prepared = None

    # -- merging and the wire ---------------------------------------------------

    def merge(self, other: InvertedIndex) -> None:
        """Fold another index into this one (an object in both counts once: this one's)."""
        other.compact()
        if not len(other.docs):
            return
        self.compact()
        self._adopt(merge_forms(self._form(), other._form()))

    def encode(self, frames: list[Any] | None = None) -> dict[str, Any]:
        """The compact form as a JSON-able dict (arrays in base64; with ``frames``, a list, the arrays are appended
        to it as they are and named by their place there: a local worker's reply sends them as binary frames)."""
        self.compact()

        def put(array: np.ndarray) -> Any:
            if frames is None:
                return _b64(array)
            frames.append(np.ascontiguousarray(array).data)
            return {"frame": len(frames) - 1}

        return {"v": 1, "terms": self.terms, "counts": put(np.diff(self.starts).astype(np.int32)),
                "doc": put(self.post_doc), "pos": put(self.post_pos), "docs": put(self.docs), "lens": put(self.doc_len)}

    @classmethod
    def decode(cls, data: Any, frames: Sequence[Any] | None = None) -> InvertedIndex:
        """An index from ``encode``'s form (``frames``: the frames it named; ValueError when it is not one)."""
        if not isinstance(data, dict) or data.get("v") != 1:
            raise ValueError("not an encoded index")
        index = cls()
        index.terms = list(data["terms"])
        counts = _unb64(data["counts"], np.int32, frames)
        index.starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        index.post_doc = _unb64(data["doc"], np.int32, frames)
        index.post_pos = _unb64(data["pos"], np.int32, frames)
        index.docs = _unb64(data["docs"], np.int64, frames)
        index.doc_len = _unb64(data["lens"], np.int32, frames)
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
        term with more goes alone); the first part also holds the documents. ``decode_parts`` joins them.
        Positions are stored in 2 bytes when they all fit (``"posWidth": 2``): a quarter of the bytes to encode,
        write and read back, for tweets and paragraphs alike."""
        self.compact()
        counts = np.diff(self.starts)
        narrow = not len(self.post_pos) or int(self.post_pos.max()) < 1 << 16
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
                    "doc": _b64(self.post_doc[a:b]),
                    "pos": _b64(self.post_pos[a:b].astype(np.uint16) if narrow else self.post_pos[a:b])}
            if narrow:
                part["posWidth"] = 2
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
        if any(p.get("posWidth", 4) not in (2, 4) for p in parts):
            raise ValueError("an encoded index whose positions are neither 2 nor 4 bytes wide")
        index.post_pos = np.concatenate([_unb64(p["pos"], np.uint16 if p.get("posWidth") == 2 else np.int32)
                                         for p in parts]).astype(np.int32, copy=False)
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
        # a document's postings, in position order, make one run (its length: how many postings it has)
        doc_arr, pos_arr = np.array(doc_ids, np.int64), np.array(positions, np.int64)
        order = np.lexsort((pos_arr, doc_arr))
        doc_arr, pos_arr, tid_arr = doc_arr[order], pos_arr[order], np.array(tids, np.int64)[order]
        ids, lens = np.unique(doc_arr, return_counts=True)
        names_order = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(names), np.int64)
        rank[names_order] = np.arange(len(names))
        index._adopt(raw_form([names[i] for i in names_order], rank[tid_arr], lens, ids, pos_arr))
        return index

    # -- reading ------------------------------------------------------------------

    def __len__(self) -> int:
        """How many terms."""
        self.compact()
        return len(self.terms)

    def items(self, frames: list[Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
        """The accumulator's pairs, as every engine sends them: one ``(INDEX_KEY, encoded)`` (``frames``: see
        ``encode``)."""
        return [(INDEX_KEY, self.encode(frames))] if len(self.docs) or self.dirty else []

    # the whole-accumulator protocol of dispatch.functions.fold
    def fold(self, objs: list[dict[str, Any]], mapper: Any, skip_errors: bool) -> int:
        """Fold objects (see ``fold_index``); returns how many were skipped."""
        return fold_index(objs, mapper, self, skip_errors)

    def absorb(self, pairs: Iterable[tuple[Any, Any]], frames: Sequence[Any] | None = None) -> None:
        """Merge another accumulator (an index, or its pairs ``[INDEX_KEY, encoded]``, with the binary ``frames``
        they name) into this one."""
        if isinstance(pairs, InvertedIndex):
            self.merge(pairs)
            return
        for key, value in (pairs.items() if isinstance(pairs, dict) else pairs):
            if not is_index_pair(key):
                raise ValueError(f"an index accumulator got a pair keyed {key!r}")
            self.merge(_as_index(value, frames))

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
            firsts = np.searchsorted(np.flatnonzero(new), self.starts)  # (a cumsum of the mask: 3x the time)
            self._df = np.diff(firsts)
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


def fold_index(objs: list[dict[str, Any]], mapper: Any, acc: InvertedIndex, skip_errors: bool) -> int:
    """Fold objects into an index: for ``words``, the terms of each object's text; for another map, the keys
    its pairs give, in order (they must be strings). Returns how many objects were skipped."""
    add = acc.add
    if mapper.name == "words":
        try:  # the common shape (tweets, paragraphs): the whole batch in a few calls
            texts = [o["data"]["text"] for o in objs]
            ids = [o["id"] for o in objs]
            if not objs or set(map(type, texts)) == {str} and set(map(type, ids)) == {int}:
                acc.add_texts(ids, texts)
                return 0
        except (KeyError, TypeError):
            pass
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


def _as_index(value: Any, frames: Sequence[Any] | None = None) -> InvertedIndex:
    return value if isinstance(value, InvertedIndex) else InvertedIndex.decode(value, frames)


def _b64(array: np.ndarray) -> str:
    # binascii reads the array's buffer as it is (tobytes would copy it first)
    return binascii.b2a_base64(np.ascontiguousarray(array), newline=False).decode("ascii")


def _unb64(text: Any, dtype: Any, frames: Sequence[Any] | None = None) -> np.ndarray:
    """An array from base64 text, or from the binary frame ``{"frame": n}`` names (read-only, not copied)."""
    if isinstance(text, dict):
        n = text.get("frame")
        if frames is None or type(n) is not int or not 0 <= n < len(frames) or \
                len(frames[n]) % np.dtype(dtype).itemsize:
            raise ValueError("an encoded index naming a binary frame it was not sent with")
        return np.frombuffer(frames[n], dtype=dtype)
    return np.frombuffer(base64.b64decode(text), dtype=dtype).copy()
