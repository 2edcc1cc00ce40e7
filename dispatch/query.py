"""Search queries over an inverted index (dispatch.functions.index): the query language, and BM25 ranking.

The language (``search <job> QUERY``):

- ``whale sea``: both terms (terms are ANDed);
- ``whale OR shark``: either (``OR`` in capitals binds the items beside it into one group);
- ``-whale``, ``-"white whale"``: without it;
- ``"white whale"``: the phrase, checked with positions (terms one after the other);
- ``whal*``: any term with that prefix.

Every word goes through the one tokenizer (``dispatch.functions.text``): ``Don't`` finds ``don’t``, and a
word that the tokenizer splits (``to-morrow``) is a phrase of its parts. A query that cannot be read raises
``QueryError`` with the column of the problem.

Ranking: Okapi BM25 (k1 = 1.2, b = 0.75) over documents (the job's objects), summed over the query's
positive items; a phrase counts as one term whose frequency is its occurrences, a prefix as one term whose
frequency is the occurrences of all its terms. Ties go to the smaller object id.

Evaluation is vectorised: a term's postings are one slice of the index's sorted arrays; AND is a sorted
intersection, OR a union, a phrase an intersection of (document << 32 | position - offset) keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dispatch.functions.index import InvertedIndex
from dispatch.functions.text import terms as text_terms

__all__ = ["K1", "B", "Item", "Query", "QueryError", "Ranked", "parse_query", "run_query"]

K1 = 1.2
B = 0.75
MAX_ITEMS = 64


class QueryError(ValueError):
    """A query that cannot be read: the message names what and where (column, from 1)."""


@dataclass(frozen=True)
class Item:
    """One thing to look for: a term, a phrase (several terms) or a prefix."""

    kind: str  # "term" | "phrase" | "prefix"
    terms: tuple[str, ...]
    text: str  # as the user wrote it

    def describe(self) -> str:
        """How it reads back: ``whale``, ``"white whale"``, ``whal*``."""
        if self.kind == "phrase":
            return '"' + " ".join(self.terms) + '"'
        return self.terms[0] + ("*" if self.kind == "prefix" else "")


@dataclass
class Query:
    """AND of groups (each an OR of items), minus the negated items."""

    groups: list[list[Item]] = field(default_factory=list)
    negated: list[Item] = field(default_factory=list)

    def describe(self) -> str:
        """The query as it was understood, normalised."""
        parts = [" OR ".join(i.describe() for i in g) for g in self.groups]
        return " ".join(parts + ["-" + i.describe() for i in self.negated])


def _item(word: str, phrase: bool, column: int) -> Item:
    if phrase:
        found = text_terms(word)
        if not found:
            raise QueryError(f'column {column}: the phrase "{word}" holds no word')
        return Item("phrase" if len(found) > 1 else "term", tuple(found), word)
    if "*" in word:
        if word.count("*") > 1 or not word.endswith("*") or word == "*":
            raise QueryError(f"column {column}: {word!r}: a '*' may only end a word (prefix*)")
        stem = text_terms(word[:-1])
        if len(stem) != 1:
            raise QueryError(f"column {column}: {word!r}: a prefix must be one word before the '*'")
        return Item("prefix", (stem[0],), word)
    found = text_terms(word)
    if not found:
        raise QueryError(f"column {column}: {word!r} holds no word")
    return Item("phrase" if len(found) > 1 else "term", tuple(found), word)


def parse_query(text: str) -> Query:
    """Read a query (QueryError when it cannot be read)."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError("the query is empty")
    # a flat list of ("OR", column) markers and (negated, Item, column) entries
    seq: list[tuple[str, int] | tuple[bool, Item, int]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        column = i + 1
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        if negated:
            i += 1
        if text[i] == '"':
            close = text.find('"', i + 1)
            if close < 0:
                raise QueryError(f'column {i + 1}: a quote (") is opened and not closed')
            seq.append((negated, _item(text[i + 1:close], True, column), column))
            i = close + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] != '"':
            j += 1
        word = text[i:j]
        if word == "OR" and not negated:
            seq.append(("OR", column))
        elif word == "-":
            raise QueryError(f"column {column}: a '-' must be followed by a term or a phrase")
        else:
            seq.append((negated, _item(word, False, column), column))
        i = j
    query = Query()
    pending_or = False
    for n, entry in enumerate(seq):
        if entry[0] == "OR":
            column = entry[1]
            if n == 0 or n == len(seq) - 1 or seq[n + 1][0] == "OR" or pending_or:
                raise QueryError(f"column {column}: OR needs a term on each side")
            pending_or = True
            continue
        negated, item, column = entry  # type: ignore[misc]
        if negated:
            if pending_or or (n + 1 < len(seq) and seq[n + 1][0] == "OR"):
                raise QueryError(f"column {column}: a negated item (-{item.text}) cannot be part of an OR")
            query.negated.append(item)
        elif pending_or:
            query.groups[-1].append(item)
        else:
            query.groups.append([item])
        pending_or = False
    if not query.groups:
        raise QueryError("a query needs at least one term that is not negated")
    if sum(len(g) for g in query.groups) + len(query.negated) > MAX_ITEMS:
        raise QueryError(f"a query may hold at most {MAX_ITEMS} items")
    return query


class Prepared:
    """Document-level postings derived once from an index for searching (until the index changes): for each term,
    its documents (sorted), its frequency in each and its BM25 impact there, so that a term's scores are read,
    not computed, and AND/OR/NOT work on documents, not positions. 12 bytes a (term, document)."""

    def __init__(self, index: InvertedIndex) -> None:
        counts = np.diff(index.starts)
        n = len(index.post_doc)
        new = np.ones(n, bool)
        if n:
            new[1:] = index.post_doc[1:] != index.post_doc[:-1]
            new[index.starts[:-1][counts > 0]] = True
        first = np.flatnonzero(new)
        self.fdoc = index.post_doc[first]
        self.ftf = np.diff(np.append(first, n)).astype(np.int32)
        self.fstarts = np.concatenate([[0], np.cumsum(new, dtype=np.int64)])[index.starts]
        self.n = len(index.docs)
        self.avgdl = max(float(index.doc_len.mean()), 1e-9) if self.n else 1.0
        self.doc_len = index.doc_len
        df = np.diff(self.fstarts)
        idf = np.log(1.0 + (self.n - df + 0.5) / (df + 0.5))
        tf = self.ftf.astype(np.float32)
        norm = (K1 * (1 - B + B * self.doc_len[self.fdoc] / self.avgdl)).astype(np.float32)
        self.fimp = (np.repeat(idf.astype(np.float32), df) * tf * np.float32(K1 + 1) / (tf + norm)).astype(np.float32)
        self.maxlen = int(index.doc_len.max()) + 1 if self.n else 1

    def bm25(self, docs: np.ndarray, tf: np.ndarray) -> np.ndarray:
        """BM25 of a pseudo-term (a phrase, a prefix) found ``tf`` times in each of ``docs``."""
        df = len(docs)
        idf = np.log(1.0 + (self.n - df + 0.5) / (df + 0.5))
        tf = tf.astype(np.float64)
        return idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * self.doc_len[docs] / self.avgdl))


def prepared(index: InvertedIndex) -> Prepared:
    """The index's search structures, made on first use."""
    index.compact()
    if index.prepared is None:
        index.prepared = Prepared(index)
    return index.prepared  # type: ignore[no-any-return]


@dataclass
class _Match:
    """What one item matches: documents (ordinals, sorted) with the item's frequency in each, and where it is:
    ``doc``/``pos`` of every occurrence's first term (sorted by document unless ``mixed``), ``width`` terms long."""

    docs: np.ndarray
    scores: np.ndarray  # BM25 in each of docs
    doc: np.ndarray
    pos: np.ndarray
    width: int = 1
    mixed: bool = False  # several terms of a prefix: occurrences grouped by term, not by document


@dataclass
class Ranked:
    """A query's answer: how many documents match, the best (ordinals, scores) in rank order, and each item's
    matches (for the positions of the hits)."""

    total: int
    docs: np.ndarray
    scores: np.ndarray
    matches: dict[Item, _Match] = field(default_factory=dict)


_NONE = np.zeros(0, np.int64)
_NO_MATCH = _Match(_NONE, np.zeros(0), _NONE, _NONE)


def _runs(sorted_docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of a sorted array and how often each occurs (no sort: one pass)."""
    if not len(sorted_docs):
        return _NONE, _NONE
    starts = np.flatnonzero(sorted_docs[1:] != sorted_docs[:-1]) + 1
    starts = np.concatenate([[0], starts])
    return sorted_docs[starts].astype(np.int64), np.diff(np.append(starts, len(sorted_docs))).astype(np.int64)


def _keys(doc: np.ndarray, pos: np.ndarray, shift: int = 0) -> np.ndarray:
    # added, not or-ed: a start before the text (pos < shift) borrows from the document and stays in order
    return (doc.astype(np.int64) << 32) + (pos.astype(np.int64) - shift)


def _intersect(a: np.ndarray, b: np.ndarray, universe: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Common values of two sorted arrays of distinct values, and their indexes in each. Large arrays of document
    ordinals (below ``universe``) meet through a table of ``universe`` entries (two linear passes); else the
    smaller is looked up in the larger by binary search."""
    if not len(a) or not len(b):
        return _NONE, _NONE, _NONE
    if universe and min(len(a), len(b)) * 32 > universe:
        where = np.full(universe, -1, np.int32)
        where[a] = np.arange(len(a), dtype=np.int32)
        in_a = where[b]
        ib = np.flatnonzero(in_a >= 0)
        ia = in_a[ib]
        return b[ib], ia.astype(np.int64), ib
    swap = len(a) > len(b)
    small, large = (b, a) if swap else (a, b)
    at = np.searchsorted(large, small)
    at[at == len(large)] = len(large) - 1
    hit = large[at] == small
    ismall, ilarge = np.flatnonzero(hit), at[hit]
    return (small[hit], ilarge, ismall) if swap else (small[hit], ismall, ilarge)


def postings(index: InvertedIndex, tid: int) -> tuple[np.ndarray, np.ndarray]:
    """A term's (document ordinals, positions), sorted by document then position."""
    a, b = int(index.starts[tid]), int(index.starts[tid + 1])
    return index.post_doc[a:b], index.post_pos[a:b]


def phrase_keys(index: InvertedIndex, terms: tuple[str, ...]) -> np.ndarray:
    """Keys ``doc << 32 | start`` of every occurrence of the phrase (sorted)."""
    tids = [index.term_id(t) for t in terms]
    if any(t is None for t in tids):
        return _NONE
    prep = prepared(index)
    span = prep.maxlen + len(terms)
    if len(index.docs) * span <= 1 << 27:  # a bitmap of (document, position) slots: linear passes, no search
        doc, pos = postings(index, tids[0])  # type: ignore[arg-type]
        starts = doc.astype(np.int64) * span + pos
        for i, tid in enumerate(tids[1:], start=1):
            seen = np.zeros(len(index.docs) * span, bool)
            d, p = postings(index, tid)  # type: ignore[arg-type]
            seen[d.astype(np.int64) * span + p] = True
            starts = starts[seen[starts + i]]
            if not len(starts):
                return _NONE
        return ((starts // span) << 32) | (starts % span)
    # the rarest term first: the intersection shrinks fastest, and each step is a lookup of the smaller side
    order = sorted(range(len(terms)), key=lambda i: int(index.starts[tids[i] + 1] - index.starts[tids[i]]))
    keys: np.ndarray | None = None
    for i in order:
        doc, pos = postings(index, tids[i])  # type: ignore[arg-type]
        k = _keys(doc, pos, i)  # sorted: postings are by (doc, pos)
        keys = k if keys is None else _intersect(keys, k)[0]
        if not len(keys):
            return _NONE
    assert keys is not None
    return keys[(keys & 0xFFFFFFFF) < 2**31]  # a start before the text borrowed (low half >= 2**31): dropped


def _match(index: InvertedIndex, item: Item) -> _Match:
    prep = prepared(index)
    if item.kind == "term":
        tid = index.term_id(item.terms[0])
        if tid is None:
            return _NO_MATCH
        doc, pos = postings(index, tid)
        a, b = int(prep.fstarts[tid]), int(prep.fstarts[tid + 1])
        return _Match(prep.fdoc[a:b], prep.fimp[a:b], doc, pos)
    if item.kind == "prefix":
        ids = index.prefix_ids(item.terms[0])
        if not len(ids):
            return _NO_MATCH
        if len(ids) == 1:  # one term has the prefix: it is that term
            return _match(index, Item("term", (index.terms[ids.start],), item.text))
        # the terms of a prefix are one run of the sorted vocabulary: one slice of the arrays, sorted by term
        a, b = int(index.starts[ids.start]), int(index.starts[ids.stop])
        doc, pos = index.post_doc[a:b], index.post_pos[a:b]
        if len(doc) * 8 > len(index.docs):  # many postings: count per document in one pass
            counts = np.bincount(doc, minlength=len(index.docs))
            docs = np.flatnonzero(counts)
            tf = counts[docs]
        else:
            docs, tf = _runs(np.sort(doc))
        return _Match(docs.astype(np.int64), prep.bm25(docs, tf), doc, pos, mixed=True)
    keys = phrase_keys(index, item.terms)
    docs, tf = _runs(keys >> 32)
    return _Match(docs, prep.bm25(docs, tf), keys >> 32, keys & 0xFFFFFFFF, len(item.terms))


def _group(index: InvertedIndex, parts: list[_Match]) -> tuple[np.ndarray, np.ndarray]:
    """An OR group's documents and summed scores."""
    parts = [m for m in parts if len(m.docs)]
    if len(parts) <= 1:
        return (parts[0].docs, parts[0].scores) if parts else (_NONE, np.zeros(0))
    n = len(index.docs)
    all_docs = np.concatenate([m.docs for m in parts])
    all_scores = np.concatenate([m.scores for m in parts]).astype(np.float64)
    if len(all_docs) * 8 > n:  # many: add up per document in one pass, no sort
        summed = np.bincount(all_docs, weights=all_scores, minlength=n)
        hit = np.zeros(n, bool)
        hit[all_docs] = True
        docs = np.flatnonzero(hit)
        return docs.astype(np.int64), summed[docs]
    docs, inverse = np.unique(all_docs, return_inverse=True)
    return docs.astype(np.int64), np.bincount(inverse, weights=all_scores, minlength=len(docs))


def run_query(index: InvertedIndex, query: Query, limit: int = 10, offset: int = 0) -> Ranked:
    """The documents matching ``query``, ranked by BM25: ``limit`` of them from ``offset``."""
    index.compact()
    matches: dict[Item, _Match] = {}

    def match(item: Item) -> _Match:
        if item not in matches:
            matches[item] = _match(index, item)
        return matches[item]

    n = len(index.docs)
    if not n:
        return Ranked(0, _NONE, np.zeros(0), matches)
    groups = sorted((_group(index, [match(i) for i in g]) for g in query.groups), key=lambda g: len(g[0]))
    # AND: the smallest group's documents met with each other group's; scores added for what survives
    docs, scores = groups[0]
    for gdocs, gscores in groups[1:]:
        if not len(docs):
            break
        docs, mine, theirs = _intersect(docs, gdocs, n)
        scores = scores[mine] + gscores[theirs]
    for item in query.negated:
        if not len(docs):
            break
        _, gone, _ = _intersect(docs, match(item).docs, n)
        if len(gone):
            keep = np.ones(len(docs), bool)
            keep[gone] = False
            docs, scores = docs[keep], scores[keep]
    total = len(docs)
    if not total:
        return Ranked(0, _NONE, np.zeros(0), matches)
    want = offset + limit
    if total > want * 4 and want > 0:  # many hits: only the best need a full sort
        best = np.argpartition(-scores, want - 1)[:want]
        docs, scores = docs[best], scores[best]
    order = np.lexsort((docs, -scores))[offset:want]  # ordinals follow ids: ties go to the smaller id
    return Ranked(total, docs[order].astype(np.int64), scores[order].astype(np.float64), matches)


def match_positions(index: InvertedIndex, query: Query, docs: list[int], ranked: Ranked | None = None
                    ) -> dict[int, list[tuple[int, int]]]:
    """Where the query's positive items occur in each of ``docs`` (ordinals): (first position, terms) runs.
    ``ranked``: the query's answer, whose matches are reused."""
    out: dict[int, set[tuple[int, int]]] = {d: set() for d in docs}
    wanted = np.array(sorted(out), np.int64)
    for group in query.groups:
        for item in group:
            found = ranked.matches.get(item) if ranked is not None else None
            if found is None:
                found = _match(index, item)
            if not len(found.doc) or not len(wanted):
                continue
            if found.mixed:  # not sorted by document: one pass picks the hits' occurrences
                sel = np.flatnonzero(np.isin(found.doc, wanted))
            else:
                lo = np.searchsorted(found.doc, wanted)
                hi = np.searchsorted(found.doc, wanted, side="right")
                sel = np.concatenate([np.arange(a, b) for a, b in zip(lo.tolist(), hi.tolist())]) \
                    if len(wanted) else _NONE
            for d, p in zip(found.doc[sel].tolist(), found.pos[sel].tolist()):
                out[d].add((p, found.width))
    return {d: sorted(v) for d, v in out.items()}
