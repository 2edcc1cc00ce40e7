"""Functions by name: the built-ins, ``field:<dotted.path>``, ``topk:<n>``, and user functions by import path.

User functions are named ``package.module:function`` and imported from the installed code; nothing is
ever taken from a message.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

from dispatch.errors import FunctionError
from dispatch.functions.maps import MAP_NAMES, MapFn, builtin_map, field_map, value_map
from dispatch.functions.reduces import REDUCE_NAMES, ReduceFn, builtin_reduce, topk
from dispatch.functions.specifier import filtered, parse_specifier
from dispatch.functions.user import import_fresh, looked_in
from nom import quote

__all__ = ["resolve_map", "resolve_reduce"]

_IMPORT_PATH = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")


def _import(path: str, field: str) -> Callable[..., Any]:
    if not _IMPORT_PATH.fullmatch(path):
        known = MAP_NAMES if field == "map" else REDUCE_NAMES
        near = difflib.get_close_matches(path, [n.split(":")[0] for n in known], n=1, cutoff=0.6)
        hint = f" (did you mean {quote(near[0])}?)" if near else ""
        raise FunctionError(f"{field} {quote(path)} is neither a built-in ({', '.join(known)}) "
                            f"nor an import path like 'package.module:function'{hint}", field=field)
    module_name, attr = path.split(":")
    try:
        module = import_fresh(module_name)
    except ImportError as exc:
        raise FunctionError(
            f"{field} {quote(path)}: cannot import module {quote(module_name)} ({exc}); Dispatch looked in "
            f"{looked_in()}. Put the module in a folder and set functions_path = \"<folder>\" in nectar.toml (or "
            f"NECTAR_FUNCTIONS_PATH), then restart Dispatch ('nectar down; nectar up')", field=field) from None
    except SyntaxError as exc:
        raise FunctionError(f"{field} {quote(path)}: module {quote(module_name)} does not compile: {exc}",
                            field=field) from None
    if not hasattr(module, attr):
        raise FunctionError(f"{field} {quote(path)}: module {quote(module_name)} has no {quote(attr)}", field=field)
    fn = getattr(module, attr)
    if not callable(fn):
        raise FunctionError(f"{field} {quote(path)}: {quote(attr)} is a {type(fn).__name__}, not a function",
                            field=field)
    return fn


def resolve_map(name: Any, specifier: str | None = None) -> MapFn:
    """The map function called ``name``, keeping only the keys ``specifier`` matches (dispatch.functions.specifier)."""
    mapper = _resolve_map(name)
    return filtered(mapper, parse_specifier(specifier)) if specifier is not None else mapper


def _resolve_map(name: Any) -> MapFn:
    if not isinstance(name, str) or not name:
        raise FunctionError(f"map must be a name such as 'words', got {quote(name)}", field="map")
    builtin = builtin_map(name)
    if builtin is not None:
        return builtin
    if name.startswith("field:"):
        path = name[6:]
        if not re.fullmatch(r"[\w-]+(\.[\w-]+)*", path):
            raise FunctionError(f"map {quote(name)}: field needs a dotted path such as 'field:data.lang'", field="map")
        return field_map(path)
    if name.startswith("value:"):
        path = name[6:]
        if not re.fullmatch(r"[\w-]+(\.[\w-]+)*", path):
            raise FunctionError(f"map {quote(name)}: value needs a dotted path such as "
                                f"'value:data.public_metrics.retweet_count'", field="map")
        return value_map(path)
    fn = _import(name, "map")
    return MapFn(name, fn)


def resolve_reduce(name: Any) -> ReduceFn:
    """The reduce called ``name``."""
    if not isinstance(name, str) or not name:
        raise FunctionError(f"reduce must be a name such as 'sum', got {quote(name)}", field="reduce")
    builtin = builtin_reduce(name)
    if builtin is not None:
        return builtin
    if name.startswith("topk:"):
        n = name[5:]
        if not n.isdigit() or not 1 <= int(n) <= 1_000_000:
            raise FunctionError(f"reduce {quote(name)}: topk needs a count from 1 to 1000000, like 'topk:10'",
                                field="reduce")
        return topk(int(n), name)
    fn = _import(name, "reduce")
    # a user reduce folds two values; optional attributes: init (a value -> its accumulator), finish (the
    # accumulator -> the value shown)
    return ReduceFn(name, getattr(fn, "init", _identity), fn, getattr(fn, "finish", _identity))


def _identity(value: Any) -> Any:
    return value
