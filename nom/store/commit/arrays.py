"""Arrays on their way into the store: checked once, encoded once.

``ArrayChecker`` checks the objects of an array (ids, type names) and encodes
it in id order; ``Encoded`` is the result, which a writer in another process
can take as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from nom.errors import NomError
from nom.model import MAX_ID, Nom, check_object, is_type
from nom.written import written_bounds, written_of_data

try:  # the common case of check() in C, where it was built (see _unnamed.c beside this file); the same in Python
    from nom.store.commit._unnamed import ascending_ids as _ascending_ids
except ImportError:
    _ascending_ids = None

__all__ = ["ArrayChecker", "Encoded", "Objects"]

_DICT, _INT = {dict}, {int}  # bool ids are not ints here: type(True) is bool

Objects = Sequence[Nom | dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Encoded:
    """An array already checked (by ``ArrayChecker.encode``), as its JSON bytes; its ids ascend from first to last.

    What crosses to a writer in another process: the bytes are written as they are, not checked again.
    """

    raw: bytes
    first_id: int
    last_id: int
    count: int
    written: tuple[int, int] | None = None  # bounds of when its objects were written (nom.written); None: unknown


class ArrayChecker:
    """Checks arrays, remembering the type names it has seen valid (checking a name costs more than a lookup)."""

    def __init__(self) -> None:
        self._types_seen: set[str] = set()

    def encode(self, objects: Objects | Encoded, raw: bytes | None = None) -> Encoded:
        """Check an array and encode it in id order (``raw``: its encoding, when the caller made it already)."""
        if type(objects) is Encoded:
            return objects
        if _ascending_ids is not None and type(objects) is list:
            bounds = _ascending_ids(objects, self._types_seen, MAX_ID)
            if bounds is not None:  # well-formed, known types, ids ascending: encode as it is
                # none saying when it was written: each counts by its id, so the id bounds are the written ones
                written = _written(objects) if bounds[2] else (bounds[0], bounds[1])
                return Encoded(raw if raw is not None else self._dumps(objects), bounds[0], bounds[1], len(objects),
                               written)
        ids, is_sorted = self.check(objects)
        if not is_sorted or raw is None:
            objects = sorted(objects, key=_any_id) if not is_sorted else objects
            raw = self._dumps(objects if isinstance(objects, list) else list(objects))
        written = _written(objects)
        if not is_sorted:
            ids.sort()
        return Encoded(raw, ids[0], ids[-1], len(ids), written)

    def check(self, objects: Objects) -> tuple[list[int], bool]:
        """Check every object cheaply; return the ids and whether they are in order.

        The common case (dicts with int ids and already-seen type names) runs in a few C-level passes
        (``encode`` tries the C module's ``ascending_ids`` first, where built); anything else takes the
        slow path, which names the bad object.
        """
        if not objects:
            raise NomError("cannot store an empty array", field="objects")
        seen = self._types_seen
        try:
            if type(objects[0]) is Nom:  # checked when they were made
                if any(type(o) is not Nom for o in objects):
                    return self._check_slowly(objects)
                ids = [o.id for o in objects]
                types = {o.type for o in objects}
            else:  # dicts: anything else fails o["id"] (TypeError) or the type test below
                ids = [o["id"] for o in objects]
                types = {o["type"] for o in objects}
                if set(map(type, objects)) != _DICT:
                    return self._check_slowly(objects)
            ordered = sorted(ids)
            if set(map(type, ids)) != _INT or ordered[0] < 0 or ordered[-1] > MAX_ID:
                return self._check_slowly(objects)
        except (KeyError, TypeError, IndexError):
            return self._check_slowly(objects)
        if not types <= seen:
            for type_name in types - seen:
                if not isinstance(type_name, str) or not is_type(type_name):
                    return self._check_slowly(objects)
                seen.add(type_name)
        return ids, ids == ordered

    def _dumps(self, objects: list[Any]) -> bytes:
        try:
            return orjson.dumps(objects)
        except TypeError:  # a value JSON cannot hold (or a mapping that is not a dict): say which object
            self._check_slowly(objects)
            raise

    def _check_slowly(self, objects: Objects) -> tuple[list[int], bool]:
        ids: list[int] = []
        for i, obj in enumerate(objects):
            if type(obj) is Nom:
                ids.append(obj.id)
                continue
            check_object(obj, where=f"objects[{i}]")
            ids.append(obj["id"])
            self._types_seen.add(obj["type"])
        return ids, ids == sorted(ids)


def _written(objects: Objects) -> tuple[int, int]:
    """Bounds of when ``objects`` (checked) were written: nom.written."""
    if type(objects[0]) is Nom:
        return written_bounds([o.id for o in objects], [written_of_data(o.data) for o in objects])  # type: ignore[union-attr]
    return written_bounds([o["id"] for o in objects], [written_of_data(o["data"]) for o in objects])  # type: ignore[index]


def _any_id(obj: Nom | dict[str, Any]) -> int:
    return obj.id if isinstance(obj, Nom) else obj["id"]
