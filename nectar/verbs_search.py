"""``search <job> QUERY``: full-text search over the newest inverted index of a job (Dispatch's ``search``).

The query language and the ranking (BM25) are dispatch.query's; the shell sends the query as it is, so
quote it as one word: ``search pride 'elizabeth "dear sister" -jane'``. Hits come back ranked with where
they are (a book's paragraph and line, a tweet's author) and a snippet whose matches nectar.render
highlights; ``--json`` keeps the character offsets of every match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nectar.errors import CommandError, ServiceError
from nectar.registry import Arg, Option, command
from nectar.results import Result

__all__ = ["SearchResult", "search"]


@dataclass
class SearchResult(Result):
    """``search``: the ranked hits of a query over a job's index."""

    job: str
    apply_id: str
    query: str
    understood: str
    ranking: str
    total: int
    offset: int
    documents: int
    seconds: float
    hits: list[dict[str, Any]]

    def to_json(self) -> Any:
        return {"jobId": self.job, "applyId": self.apply_id, "query": self.query, "understood": self.understood,
                "ranking": self.ranking, "total": self.total, "offset": self.offset, "documents": self.documents,
                "seconds": self.seconds, "hits": self.hits}


def _count(values: dict[str, Any], name: str, default: int) -> int:
    raw = values.get(name)
    if raw is None:
        return default
    if not str(raw).isdigit():
        raise CommandError(f"--{name} takes a whole number, got {raw!r}")
    return int(raw)


@command("search", Arg("jobId", "job"), Arg("query", "query"),
         options=(Option("apply", "apply", help="search the index of this apply (default: the job's newest)"),
                  Option("limit", "count", help="hits to show (default 10)"),
                  Option("offset", "count", help="skip this many hits first (default 0)")),
         help="search a job's newest index: words ANDed, OR, -term, \"a phrase\", prefix*; ranked by BM25",
         example="search pride 'elizabeth \"dear sister\" -jane'",
         details="Quote the query as one word. Terms are ANDed; 'a OR b' takes either; '-term' and '-\"a phrase\"' "
                 "leave out; '\"a phrase\"' is checked with positions; 'prefix*' takes every term that starts "
                 "so. Hits are ranked by Okapi BM25 (k1 1.2, b 0.75). Build the index first: "
                 "'apply words index <jobId>' (or a standing one with 'now').")
def search(ctx: Any, values: dict[str, Any]) -> SearchResult:
    """Ask Dispatch to run the query over the job's index (``ctx``: the session's nectar.commands.Context, not
    imported: commands imports this module to register the verb)."""
    job = ctx.job(values["jobId"])
    request: dict[str, Any] = {"jobId": job, "query": values["query"], "limit": _count(values, "limit", 10),
                               "offset": _count(values, "offset", 0)}
    if values.get("apply"):
        request["applyId"] = ctx.apply_id(values["apply"])
    try:
        reply = ctx.services.dispatch.call("search", **request)
    except ServiceError as exc:
        raise CommandError(str(exc)) from None
    return SearchResult(reply["jobId"], reply["applyId"], reply["query"], reply["understood"], reply["ranking"],
                        reply["total"], reply["offset"], reply["documents"], reply["seconds"], reply["hits"])
