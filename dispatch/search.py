"""The ``search`` action: a query (dispatch.query) over the newest index of a job, hits with snippets.

Which index: a named apply (``applyId``), else the newest apply of the ``index`` reduce over the job that
Dispatch holds (done, or standing: the standing index as it is now), else the newest complete result of one
stored under ``<jobId>.index`` (read once, then kept: a Dispatch restarted after the apply still searches).

A hit is an object of the job: its id, its BM25 score, where it is (a book's name, paragraph and first
line; a tweet's author and time), a snippet of its text around the first match, and the character offsets
of every match, in the text (``matches``) and in the snippet (``highlights``), from the tokenizer's
``term_spans``. Objects are read from Dispatch's cache when it holds them, else from the store.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Protocol

import numpy as np

from dispatch.applies import Apply, ApplyState
from dispatch.cache import Cache
from dispatch.functions.index import IndexResult, InvertedIndex
from dispatch.functions.text import term_spans, text_of
from dispatch.protocol import job_id_of, result_job
from dispatch.query import Query, QueryError, Ranked, match_positions, parse_query, run_query
from dispatch.reading import read_range
from nom import ProtocolError, quote
from nom.store import FileInfo, Store


class _Holder(Protocol):
    """What the searcher needs of Dispatch: its applies, store and cache."""

    applies: dict[str, Apply]
    store: Store
    cache: Cache

__all__ = ["INDEX_REDUCE", "MAX_LIMIT", "SNIPPET_CHARS", "Searcher"]

INDEX_REDUCE = "index"
MAX_LIMIT = 1000
SNIPPET_CHARS = 200
KEEP_LOADED = 4  # stored indexes kept in memory
PLACE_FIELDS = ("book", "paragraph", "line", "offset", "author_id", "created_at", "lang")


class Searcher:
    """Dispatch's ``search`` handler (one per Dispatcher: it keeps the stored indexes it has read)."""

    def __init__(self, dispatcher: _Holder) -> None:
        """Search the applies and the store of ``dispatcher``."""
        self.dispatcher = dispatcher
        self.loaded: OrderedDict[tuple[str, str], InvertedIndex] = OrderedDict()
        self.files: dict[str, tuple[list[FileInfo], np.ndarray, np.ndarray]] = {}

    def search(self, request: dict[str, Any]) -> dict[str, Any]:
        """``search``: {"jobId", "query", "applyId"?, "limit"?, "offset"?} -> hits."""
        started = time.perf_counter()
        job = job_id_of(request)
        text = request.get("query")
        if not isinstance(text, str) or not text.strip():
            raise ProtocolError("query is required: words, \"a phrase\", -term, prefix*, OR", field="query")
        limit = _whole(request, "limit", 10, MAX_LIMIT)
        offset = _whole(request, "offset", 0, 10**9)
        try:
            query = parse_query(text)
        except QueryError as exc:
            raise ProtocolError(f"query {quote(text)}: {exc}", field="query") from None
        apply_id, index = self.index_of(job, request.get("applyId"))
        ranked = run_query(index, query, limit, offset)
        hits = self._hits(job, index, query, ranked)
        return {"jobId": job, "applyId": apply_id, "query": text, "understood": query.describe(),
                "ranking": "BM25 (k1 1.2, b 0.75)", "total": ranked.total, "offset": offset, "hits": hits,
                "documents": int(len(index.docs)), "terms": len(index.terms), "indexBytes": index.nbytes(),
                "seconds": round(time.perf_counter() - started, 6)}

    # -- which index ------------------------------------------------------------

    def index_of(self, job: str, apply_id: Any = None) -> tuple[str, InvertedIndex]:
        """The index to search: (apply id, index); ProtocolError naming the job or apply when there is none."""
        applies = self.dispatcher.applies
        if apply_id is not None:
            if not isinstance(apply_id, str) or not apply_id:
                raise ProtocolError(f"applyId must be a non-empty string, got {quote(apply_id)}", field="applyId")
            apply = applies.get(apply_id)
            if apply is not None:
                if apply.spec.job != job or apply.spec.reduce != INDEX_REDUCE:
                    raise ProtocolError(f"apply {apply_id} is {apply.spec.map} {apply.spec.reduce} over "
                                        f"{apply.spec.job}, not an index of {job}", field="applyId")
                index = _index_in(apply)
                if index is None:
                    raise ProtocolError(f"apply {apply_id} has no index yet ({apply.state.value})", field="applyId")
                return apply_id, index
        else:
            held = [a for a in applies.values() if a.spec.job == job and a.spec.reduce == INDEX_REDUCE
                    and a.state in (ApplyState.DONE, ApplyState.STANDING)]
            for apply in sorted(held, key=lambda a: a.created, reverse=True):
                index = _index_in(apply)
                if index is not None:
                    return apply.spec.apply_id, index
        found = self._stored(job, apply_id)
        if found is not None:
            return found
        store = self.dispatcher.store
        if apply_id is not None:
            raise ProtocolError(f"no index {apply_id!r} of job {job!r} (neither held by Dispatch nor stored)",
                                field="applyId")
        if not store.exists(job):
            raise ProtocolError(f"no job {job!r} in the store at {store.root}", field="jobId")
        raise ProtocolError(f"job {job!r} has no index: build one with 'apply words index {job}'", field="jobId")

    def _stored(self, job: str, apply_id: str | None) -> tuple[str, InvertedIndex] | None:
        """The newest complete stored index of ``job`` (or the one of ``apply_id``), read once and kept."""
        store = self.dispatcher.store
        target = result_job(job, INDEX_REDUCE)
        if not store.exists(target):
            return None
        # the result objects of each apply: final ones only (a standing apply stores its top terms), in parts
        runs: dict[str, dict[int, Any]] = {}
        parts_of: dict[str, int] = {}
        newest: dict[str, int] = {}
        for _, objs in read_range(store, target, store.files(target), None, None):
            for obj in objs:
                data = obj.get("data")
                if not isinstance(data, dict) or not data.get("final") or data.get("job") != job \
                        or not isinstance(data.get("index"), dict):
                    continue
                aid = str(data.get("apply"))
                if apply_id is not None and aid != apply_id:
                    continue
                runs.setdefault(aid, {})[int(data.get("part", 0))] = data["index"]
                parts_of[aid] = int(data.get("parts", 1))
                newest[aid] = max(newest.get(aid, 0), obj["id"])
        complete = [a for a, parts in runs.items() if sorted(parts) == list(range(parts_of[a]))]
        if not complete:
            return None
        aid = max(complete, key=newest.__getitem__)
        key = (job, aid)
        if key not in self.loaded:
            try:
                self.loaded[key] = InvertedIndex.decode_parts([runs[aid][n] for n in sorted(runs[aid])])
            except (ValueError, KeyError, TypeError) as exc:
                raise ProtocolError(f"the stored index {aid} of job {job!r} cannot be read: {exc}",
                                    field="jobId") from None
            while len(self.loaded) > KEEP_LOADED:
                self.loaded.popitem(last=False)
        self.loaded.move_to_end(key)
        return aid, self.loaded[key]

    # -- hits -------------------------------------------------------------------

    def _hits(self, job: str, index: InvertedIndex, query: Query, ranked: Ranked) -> list[dict[str, Any]]:
        docs, scores = ranked.docs.tolist(), ranked.scores.tolist()
        ids = [int(index.docs[d]) for d in docs]
        objects = self._objects(job, ids)
        positions = match_positions(index, query, docs, ranked)
        hits = []
        for doc, obj_id, score in zip(docs, ids, scores):
            runs = positions[doc]
            hit: dict[str, Any] = {"id": obj_id, "score": round(score, 6),
                                   "positions": [[p, n] for p, n in runs]}
            obj = objects.get(obj_id)
            if obj is None:  # its file was dropped (jobMaxSize) or quarantined after the index was built
                hit["gone"] = True
            else:
                data = obj.get("data")
                if isinstance(data, dict):
                    hit.update({k: data[k] for k in PLACE_FIELDS if k in data})
                hit.update(_snippet(text_of(obj), runs))
            hits.append(hit)
        return hits

    def _objects(self, job: str, ids: list[int]) -> dict[int, dict[str, Any]]:
        """The objects with ``ids`` (each file that holds some read once, from the cache when it holds it)."""
        store = self.dispatcher.store
        wanted = set(ids)
        files = self._files_holding(job, ids, refresh=False)
        if any(not any(f.min_id <= i <= f.max_id for f in files) for i in ids):
            files = self._files_holding(job, ids, refresh=True)  # files written since the list was made
        found: dict[int, dict[str, Any]] = {}
        for _, objs in read_range(store, job, files, None, None, cache=self.dispatcher.cache):
            for obj in objs:
                if obj.get("id") in wanted:
                    found[obj["id"]] = obj
        return found

    def _files_holding(self, job: str, ids: list[int], *, refresh: bool) -> list[FileInfo]:
        """The job's files whose id range holds one of ``ids``, from a list of its files kept per job (looking up
        each id in the store's listing costs a pass over every file)."""
        listed = self.files.get(job)
        if listed is None or refresh:
            infos = self.dispatcher.store.files(job, reconcile=False)
            listed = self.files[job] = (infos, np.array([f.min_id for f in infos], np.int64),
                                        np.array([f.max_id for f in infos], np.int64))
            while len(self.files) > KEEP_LOADED * 4:
                self.files.pop(next(iter(self.files)))
        infos, lows, highs = listed
        picked: set[int] = set()
        for i in ids:
            picked.update(np.flatnonzero((lows <= i) & (highs >= i)).tolist())
        return [infos[n] for n in sorted(picked)]


def _index_in(apply: Apply) -> InvertedIndex | None:
    if apply.reduction is not None and isinstance(apply.reduction.acc, InvertedIndex):
        return apply.reduction.acc
    if isinstance(apply.result, IndexResult):
        return apply.result.index
    return None


def _snippet(text: str, runs: list[tuple[int, int]]) -> dict[str, Any]:
    """The text's matches as character offsets, and a snippet around the first with its highlights."""
    spans = term_spans(text)
    matches = []
    for first, count in runs:
        last = first + count - 1
        if last < len(spans):
            matches.append([spans[first][1], spans[last][2]])
    if matches:
        start = max(0, matches[0][0] - SNIPPET_CHARS // 3)
        if start:  # begin at a word
            space = text.find(" ", start, matches[0][0])
            start = space + 1 if space >= 0 else start
    else:
        start = 0
    end = min(len(text), start + SNIPPET_CHARS)
    if end < len(text):
        space = text.rfind(" ", max(start, matches[0][1] if matches else start), end)
        end = space if space > start else end
    highlights = [[a - start, b - start] for a, b in matches if a >= start and b <= end]
    return {"snippet": text[start:end], "snippetStart": start, "highlights": highlights, "matches": matches,
            "textLength": len(text)}


def _whole(request: dict[str, Any], name: str, default: int, most: int) -> int:
    value = request.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= most:
        raise ProtocolError(f"{name} must be a whole number from 0 to {most}, got {quote(value)}", field=name)
    return value

