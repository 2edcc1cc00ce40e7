"""What each built-in map and reduce does, in one table: ``help functions`` (through Dispatch's ``functions``
action), ``help <function>``, the README's function table (``python -m dispatch.functions.catalog`` rewrites
it) and the warnings about pairs that make no sense all come from here. tests/test_shell_functions.py holds
it equal to the names the resolver knows (MAP_NAMES, REDUCE_NAMES) and the README to it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FUNCTIONS", "Function", "catalog", "function_table", "pair_warning", "result_warnings", "rewrite_readme"]

ONES = "1 for each"  # maps whose every value is 1: counted by sum/count/topk
COUNTS = ("sum", "count", "topk:<n>", "distinct", "postings")
NUMBERS = ("stats", "mean", "min", "max", "sum")


@dataclass(frozen=True)
class Function:
    """One built-in function: its name as typed, kind (map or reduce), what it does, what it emits, and the
    functions it makes sense with."""

    name: str
    kind: str
    summary: str
    emits: str
    pairs_with: tuple[str, ...]
    example: str = ""


_MAPS = [
    Function("words", "map", "the words of the text (lower-cased; URLs and @mentions left out)",
             f"(word, 1) {ONES} word", COUNTS, "apply words topk:20 @last"),
    Function("words:stop", "map", "the words, without stopwords: a shipped English list (the, rt, to, s, ...) "
             "and your own file (the stopwords setting)", f"(word, 1) {ONES} word", COUNTS,
             "apply words:stop topk:20 @last"),
    Function("hashtags", "map", "the hashtags (the tweet's entities, else #tags in the text), case-folded",
             f"(hashtag, 1) {ONES} hashtag", COUNTS, "apply hashtags sum @last 2021-01-01 2021-12-31"),
    Function("mentions", "map", "the @usernames mentioned, case-folded", f"(username, 1) {ONES} mention", COUNTS),
    Function("urls", "map", "the URLs linked (expanded where the tweet says)", f"(url, 1) {ONES} URL", COUNTS),
    Function("domains", "map", "the web domains linked (www. left out)", f"(domain, 1) {ONES} URL", COUNTS),
    Function("lang", "map", "the language the tweet is in ('und' when unknown)", "(lang, 1) per object", COUNTS),
    Function("authors", "map", "who wrote it (username, else author id)", "(author, 1) per object", COUNTS),
    Function("count", "map", "every object, keyed by its type", "(type, 1) per object", ("sum", "count")),
    Function("hour", "map", "the hour it was written (created_at), else collected", "(YYYY-MM-DDTHH:00Z, 1) per "
             "object", ("sum", "count"), "apply hour sum @last"),
    Function("day", "map", "the day it was written (created_at/createdAt), else collected",
             "(YYYY-MM-DD, 1) per object", ("sum", "count"), "apply day sum @last 2021-01-01 2021-12-31"),
    Function("minute", "map", "the minute it was collected (its id)", "(YYYY-MM-DDTHH:MMZ, 1) per object",
             ("sum", "count")),
    Function("length", "map", "the length of the text in characters", "('length', characters) per object",
             NUMBERS, "apply length stats @last"),
    Function("field:<dotted.path>", "map", "the value at a path, as text: one key per distinct value",
             "(value, 1) per object that has it", COUNTS, "apply field:data.lang sum @last"),
    Function("value:<dotted.path>", "map", "the number at a path (objects without a number there are left out)",
             "(path, number) per object that has one", NUMBERS,
             "apply value:data.public_metrics.retweet_count stats @last"),
    Function("package.module:function", "map", "your own: fn(obj) returns (key, value) pairs (see 'User "
             "functions' in the README)", "what it returns", ("sum", "stats", "package.module:function")),
]
_REDUCES = [
    Function("sum", "reduce", "adds the values", "a number per key", ("words", "hashtags", "count", "length")),
    Function("count", "reduce", "counts the pairs, whatever their values", "a count per key",
             ("words", "hashtags", "field:<dotted.path>")),
    Function("topk:<n>", "reduce", "a sum that keeps the n largest keys", "the n largest sums",
             ("words", "hashtags", "mentions", "authors")),
    Function("min", "reduce", "the smallest value", "a number per key", ("length", "value:<dotted.path>")),
    Function("max", "reduce", "the largest value", "a number per key", ("length", "value:<dotted.path>")),
    Function("mean", "reduce", "the mean of the values", "a number per key", ("length", "value:<dotted.path>")),
    Function("stats", "reduce", "count, sum, min, max, mean and standard deviation of the values",
             "count/sum/min/max/mean/stddev per key (shown as columns)", ("length", "value:<dotted.path>")),
    Function("distinct", "reduce", "the distinct values", "a sorted list per key", ("field:<dotted.path>",)),
    Function("postings", "reduce", "the ids of the objects each key comes from", "a sorted id list per key",
             ("words", "hashtags")),
    Function("index", "reduce", "an inverted index with positions, for 'search'", "postings with positions",
             ("words",)),
    Function("package.module:function", "reduce", "your own: fn(a, b) folds two values (associative); a "
             "'finish' attribute shapes the shown value", "what it returns", ("any map",)),
]
FUNCTIONS = _MAPS + _REDUCES


def catalog() -> dict[str, Any]:
    """The ``functions`` action's reply: every map and reduce with its documentation."""
    return {"maps": [_wire(f) for f in _MAPS], "reduces": [_wire(f) for f in _REDUCES]}


def _wire(f: Function) -> dict[str, Any]:
    return {"name": f.name, "kind": f.kind, "summary": f.summary, "emits": f.emits, "pairsWith": list(f.pairs_with),
            "example": f.example}


def _family(name: str) -> str:
    for prefix in ("field:", "value:", "topk:"):
        if name.startswith(prefix):
            return prefix + ("<n>" if prefix == "topk:" else "<dotted.path>")
    return name


def pair_warning(map_name: str, reduce_name: str) -> str | None:
    """Why ``map_name`` with ``reduce_name`` gives nothing worth reading, or None when the pair makes sense."""
    fmap = next((f for f in _MAPS if f.name == _family(map_name)), None)
    if fmap is None or fmap.name == "package.module:function" or ":" in reduce_name and not reduce_name.startswith(
            "topk:"):
        return None
    family = _family(reduce_name)
    if map_name.startswith("field:") and family in ("mean", "min", "max", "stats"):
        return (f"{map_name} keys by each distinct value (as text), each counted 1; for the numbers there use "
                f"value:{map_name[6:]} {reduce_name}")
    ones = ONES in fmap.emits or "1) per object" in fmap.emits
    if ones and family in ("mean", "min", "max", "stats"):
        return (f"{map_name} emits 1 for each key, so {reduce_name} is 1 for every key: use sum or topk:<n> to "
                f"count, or value:<path> with {reduce_name} for a number")
    return None


def result_warnings(map_name: str, reduce_name: str, objects: int, keys: int) -> list[str]:
    """What a user should know about a result: a pair that makes no sense, a path that matched nothing."""
    out = [w for w in [pair_warning(map_name, reduce_name)] if w]
    if objects and not keys and map_name.startswith(("field:", "value:")):
        what = "a number at" if map_name.startswith("value:") else "a value at"
        out.append(f"no object of the {objects:,} read has {what} {map_name.split(':', 1)[1]}: check the path "
                   f"(e.g. data.public_metrics.retweet_count; 'show <jobId>' shows the job's type)")
    return out


def function_table() -> str:
    """The README's markdown table of the built-in functions."""
    rows = ["| function | kind | what it does | emits | makes sense with |", "| --- | --- | --- | --- | --- |"]
    rows += [f"| `{f.name}` | {f.kind} | {f.summary} | {f.emits} | {', '.join(f'`{p}`' for p in f.pairs_with)} |"
             for f in FUNCTIONS]
    return "\n".join(rows)


BEGIN, END = "<!-- functions: generated by python -m dispatch.functions.catalog -->", "<!-- /functions -->"


def rewrite_readme(readme: Path) -> bool:
    """Put the current function table between the markers; True if the file changed."""
    text = readme.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    updated = text[:start] + "\n" + function_table() + "\n" + text[end:]
    if updated != text:
        readme.write_text(updated)
    return updated != text


if __name__ == "__main__":
    path = Path(__file__).resolve().parent.parent.parent / "README.md"
    print("README.md updated" if rewrite_readme(path) else "README.md already up to date")
    sys.exit(0)
