"""The sorted form of an inverted index (dispatch.functions.index) and how forms are made and merged.

A ``Form`` holds the terms sorted, ``counts`` (postings per term), ``post_doc`` and ``post_pos`` (postings by
term, document ordinal and position), ``docs`` (object ids, sorted) and ``doc_len``. ``raw_form`` makes one
from folded documents by a radix sort on term ids; ``merge_forms`` merges two without a sort: by binary search
in general, and term by term when the documents of one all come before the other's (two local workers').
"""

from __future__ import annotations

import numpy as np

__all__ = ["Form", "merge_forms", "raw_form"]


class Form:
    """A sorted form: terms sorted, postings by (term, document, position); ``counts``: postings per term."""

    def __init__(self, terms: list[str], counts: np.ndarray, post_doc: np.ndarray, post_pos: np.ndarray,
                 docs: np.ndarray, doc_len: np.ndarray) -> None:
        self.terms, self.counts, self.post_doc, self.post_pos, self.docs, self.doc_len = (
            terms, counts, post_doc, post_pos, docs, doc_len)


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """The stable sorting order of non-negative integers below 2**32: one or two radix passes of 16 bits (numpy
    sorts 16-bit keys stably by radix, in linear time: ten times faster than a comparison sort here)."""
    if not len(keys) or int(keys.max()) < 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    keys = keys.astype(np.uint32, copy=False)
    low = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    high = np.argsort((keys[low] >> 16).astype(np.uint16), kind="stable")
    return low[high]


def raw_form(terms: list[str], tids: np.ndarray, lens: np.ndarray, ids: np.ndarray,
              positions: np.ndarray | None = None) -> Form:
    """The sorted form of folded documents: ``tids`` (ranks in ``terms``) of each document's terms in order,
    document after document, ``lens`` terms each, with object ids ``ids`` (``positions``: the terms' positions,
    when they are not 0, 1, 2, ... in each document). A document folded twice counts once."""
    starts = np.cumsum(lens, dtype=np.int64) - lens
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):  # not in id order (or twice): documents sorted
        order = np.argsort(ids, kind="stable")
        keep = np.ones(len(ids), bool)
        keep[1:] = ids[order][1:] != ids[order][:-1]
        order = order[keep]
        ids, lens, old_starts = ids[order], lens[order], starts[order]
        starts = np.cumsum(lens, dtype=np.int64) - lens
        moved = np.repeat(old_starts - starts, lens) + np.arange(int(lens.sum()), dtype=np.int64)
        tids = tids[moved]
        positions = positions[moved] if positions is not None else None
    # int32 throughout (a posting's position and document ordinal fit): half the memory of int64 temporaries
    order = _stable_order(tids)  # postings are in (document, position) order: stable by term gives all three
    counts = np.bincount(tids, minlength=len(terms)).astype(np.int64)
    post_doc = np.repeat(np.arange(len(ids), dtype=np.int32), lens)[order]
    if positions is None:
        post_pos = np.arange(len(tids), dtype=np.int32)
        post_pos -= np.repeat(starts.astype(np.int32), lens)
    else:
        post_pos = positions.astype(np.int32)
    return Form(terms, counts, post_doc, post_pos[order], ids.astype(np.int64), lens.astype(np.int32))


def merge_forms(a: Form, b: Form) -> Form:
    """Two sorted forms as one, without a sort: ``b``'s postings are placed among ``a``'s by binary search.
    A document in both is ``a``'s."""
    if not len(a.docs):
        return b
    if not len(b.docs):
        return a
    apart = a.docs[-1] < b.docs[0] or b.docs[-1] < a.docs[0]
    if not apart:  # (sorted, distinct: binary search, no hashing)
        at = np.minimum(np.searchsorted(a.docs, b.docs), len(a.docs) - 1)
        both = a.docs[at] == b.docs
        if both.any():
            b = _without_docs(b, both)
            if not len(b.docs):
                return a
    terms = a.terms if a.terms == b.terms else sorted(set(a.terms) | set(b.terms))
    where = {t: i for i, t in enumerate(terms)}
    ra = np.arange(len(terms), dtype=np.int64) if terms is a.terms else np.array([where[t] for t in a.terms],
                                                                                    np.int64)
    rb = np.array([where[t] for t in b.terms], np.int64)
    if apart:
        return _concat_forms(terms, ra, a, rb, b) if a.docs[-1] < b.docs[0] else _concat_forms(terms, rb, b, ra, a)
    docs = np.concatenate([a.docs, b.docs])  # distinct now: sorting them is the union
    docs.sort()
    da, db = np.searchsorted(docs, a.docs), np.searchsorted(docs, b.docs)
    key_a = np.repeat(ra, a.counts)
    key_a <<= 32
    key_a |= da[a.post_doc]
    key_b = np.repeat(rb, b.counts)
    key_b <<= 32
    key_b |= db[b.post_doc]
    at_b = np.searchsorted(key_a, key_b, side="right")
    del key_a, key_b
    at_b += np.arange(len(at_b))
    from_b = np.zeros(len(a.post_doc) + len(b.post_doc), bool)
    from_b[at_b] = True
    post_doc = np.empty(len(from_b), np.int32)
    post_pos = np.empty(len(from_b), np.int32)
    post_doc[from_b], post_doc[~from_b] = db[b.post_doc], da[a.post_doc]
    post_pos[from_b], post_pos[~from_b] = b.post_pos, a.post_pos
    counts = np.zeros(len(terms), np.int64)
    counts[ra] += a.counts
    counts[rb] += b.counts
    doc_len = np.zeros(len(docs), np.int32)
    doc_len[da] = a.doc_len
    doc_len[db] = b.doc_len
    return Form(terms, counts, post_doc, post_pos, docs, doc_len)


def _concat_forms(terms: list[str], ra: np.ndarray, a: Form, rb: np.ndarray, b: Form) -> Form:
    """``merge_forms`` when every document of ``a`` comes before every one of ``b`` (two local workers' indexes,
    each of its own run of chunks): a term's postings are ``a``'s then ``b``'s, so a mask of which come from
    ``b`` (a byte a posting, runs repeated) places both in order, without a search or an index a posting."""
    counts_a = np.zeros(len(terms), np.int64)
    counts_a[ra] = a.counts
    counts_b = np.zeros(len(terms), np.int64)
    counts_b[rb] = b.counts
    runs = np.empty(2 * len(terms), np.int64)  # per term: a's run, then b's
    runs[0::2], runs[1::2] = counts_a, counts_b
    from_b = np.repeat(np.tile(np.array([False, True]), len(terms)), runs)
    from_a = ~from_b
    post_doc = np.empty(len(from_b), np.int32)
    post_pos = np.empty(len(from_b), np.int32)
    post_doc[from_a], post_pos[from_a] = a.post_doc, a.post_pos
    post_doc[from_b], post_pos[from_b] = b.post_doc + np.int32(len(a.docs)), b.post_pos
    return Form(terms, counts_a + counts_b, post_doc, post_pos, np.concatenate([a.docs, b.docs]),
                 np.concatenate([a.doc_len, b.doc_len]))


def _without_docs(form: Form, drop: np.ndarray) -> Form:
    """``form`` without the documents where ``drop`` (a mask over its documents) is set."""
    keep_post = ~drop[form.post_doc]
    tids = np.repeat(np.arange(len(form.terms), dtype=np.int64), form.counts)[keep_post]
    counts = np.bincount(tids, minlength=len(form.terms)).astype(np.int64)
    remap = np.cumsum(~drop) - 1
    present = counts > 0
    terms = [t for t, p in zip(form.terms, present.tolist()) if p]
    return Form(terms, counts[present], remap[form.post_doc[keep_post]].astype(np.int32),
                 form.post_pos[keep_post], form.docs[~drop], form.doc_len[~drop])
