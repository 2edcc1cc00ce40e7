"""The two text forms of NOM objects: JSON arrays (orjson) and ``.nom`` stanzas.

The ``.nom`` form (seed 000) is one stanza per object::

    245242342423424
    data.jobId.reducerOutputType
    0.45
    1.34

with a blank line between stanzas. When ``data`` is a JSON array, each item is
one line of compact JSON (so the seed's lists of numbers read as written).
Any other value is one line starting with ``=`` followed by its JSON, which no
array item can start with; so every JSON value round-trips, including
``[]`` (a stanza with no data lines) and ``[[1]]`` versus ``[1]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from nom.errors import NomError, quote
from nom.model import Nom, check_id, check_object, check_type

__all__ = ["dumps", "loads", "dumps_nom", "loads_nom", "iter_nom"]


def dumps(objects: Iterable[Nom | dict[str, Any]]) -> bytes:
    """Encode objects as one JSON array."""
    return orjson.dumps(list(objects) if not isinstance(objects, list) else objects)


def loads(raw: bytes | str, *, where: str = "input") -> list[Nom]:
    """Decode a JSON array (or a single object) of NOM objects, naming the first bad element."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise NomError(f"{where} is not valid JSON: {exc}") from None
    items = value if isinstance(value, list) else [value]
    return [Nom.from_dict(item, where=f"{where}[{i}]") for i, item in enumerate(items)]


def dumps_nom(objects: Iterable[Nom | dict[str, Any]]) -> str:
    """Encode objects as ``.nom`` stanzas."""
    stanzas = []
    for obj in objects:
        if isinstance(obj, Nom):
            obj = obj.to_dict()
        data = obj.get("data")
        lines = [str(obj["id"]), obj["type"]]
        if isinstance(data, list):
            lines.extend(orjson.dumps(item).decode() for item in data)
        else:
            lines.append("=" + orjson.dumps(data).decode())
        stanzas.append("\n".join(lines) + "\n")
    return "\n".join(stanzas)


def loads_nom(text: str, *, where: str = "input") -> list[Nom]:
    """Decode ``.nom`` stanzas; errors name the line."""
    # split on "\n" only: str.splitlines() would also split inside JSON strings at U+2028 and friends
    return list(iter_nom(text.split("\n"), where=where))


def iter_nom(lines: Iterable[str], *, where: str = "input") -> Iterator[Nom]:
    """Decode ``.nom`` stanzas from an iterable of lines (a file works)."""
    stanza: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if line.strip():
            stanza.append((number, line))
        elif stanza:
            yield _stanza(stanza, where)
            stanza = []
    if stanza:
        yield _stanza(stanza, where)


def _stanza(lines: list[tuple[int, str]], where: str) -> Nom:
    first = lines[0][0]
    if len(lines) < 2:
        raise NomError(f"{where} line {first}: a stanza needs an id line and a type line", field="type")
    try:
        ident = check_id(int(lines[0][1].strip()))
    except ValueError:
        raise NomError(f"{where} line {first}: id must be an integer, got {quote(lines[0][1])}", field="id") from None
    try:
        type_name = check_type(lines[1][1].strip())
    except NomError as exc:
        raise NomError(f"{where} line {lines[1][0]}: {exc}", field="type") from None
    body = lines[2:]
    try:
        if len(body) == 1 and body[0][1].startswith("="):
            data: Any = orjson.loads(body[0][1][1:])
        else:
            data = []
            for number, text in body:
                if text.startswith("="):
                    raise NomError(f"{where} line {number}: a '=' value must be the stanza's only data line")
                data.append(_item(text, number, where))
    except orjson.JSONDecodeError as exc:
        raise NomError(f"{where} line {body[0][0]}: data is not valid JSON: {exc}", field="data") from None
    obj = {"id": ident, "type": type_name, "data": data}
    check_object(obj, where=f"{where} line {first}")
    return Nom(ident, type_name, data)


def _item(text: str, number: int, where: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise NomError(f"{where} line {number}: data item is not valid JSON: {exc}", field="data") from None
