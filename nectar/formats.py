"""Results as rows for scripts: ``nectar --format tsv|csv`` (issue 18).

Every result has a JSON form (``to_json``); its rows are the first list in it (the jobs of ``show jobs``, the
result pairs of ``apply``, ...), one line each, with a header line. A result with no list is one row of its
fields. Stats results spread into columns (count, sum, min, max, mean, stddev); nested values are compact
JSON. TSV escapes tabs and newlines in a cell (as ``\\t``, ``\\n``) so that every row is one line.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from nectar.results import ApplyResult, Result

__all__ = ["FORMATS", "rows_of", "to_text"]

FORMATS = ("table", "tsv", "csv", "json")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, str)):
        return str(value)
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def rows_of(result: Result) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of a result."""
    if isinstance(result, ApplyResult):
        pairs = result.result
        first = pairs[0][1] if pairs else None
        if isinstance(first, dict) and all(isinstance(v, dict) and v.keys() == first.keys() for _, v in pairs):
            names = list(first)
            return ["key", *names], [[k, *(v[n] for n in names)] for k, v in pairs]
        return ["key", "value"], [[k, v] for k, v in pairs]
    data = result.to_json()
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                header: list[str] = []
                for item in value:
                    header += [k for k in item if k not in header]
                return header, [[item.get(k) for k in header] for item in value]
            if isinstance(value, list) and value and all(isinstance(v, (list, tuple)) for v in value):
                width = max(len(v) for v in value)
                return [f"column{i + 1}" for i in range(width)], [list(v) for v in value]
        return list(data), [list(data.values())]
    return ["value"], [[data]]


def to_text(result: Result, fmt: str) -> str:
    """The result as TSV or CSV text (a header line, then a line a row)."""
    header, rows = rows_of(result)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([[_cell(c) for c in row] for row in rows])
        return out.getvalue()
    escape = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\"})
    lines = ["\t".join(header), *("\t".join(_cell(c).translate(escape) for c in row) for row in rows)]
    return "\n".join(lines) + "\n"
