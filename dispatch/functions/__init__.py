"""Map and reduce functions: the built-ins, user functions by import path, and folding with them.

A map turns one NOM object into ``(key, value)`` pairs; a reduce is ``init``/``merge``/``finish``
(associative, so work splits across processes, Spark and time). What lives here:

- ``text.py``: the one tokenizer of words (``terms``, ``term_spans``, ``normalise_term``) and the text of a
  tweet-like object; ``marks.py`` the Unicode combining marks it counts as word characters.
- ``maps.py``: ``MapFn`` and the built-in maps (``words``, ``hashtags``, ``field:<path>``, ...).
- ``reduces.py``: ``ReduceFn`` and the built-in reduces (``sum``, ``stats``, ``topk:<n>``, ...), ``rank``.
- ``specifier.py``: which keys of a result to keep (``--specifier whale*,ahab``), as a filter on a map.
- ``resolve.py``: a function by name: a built-in, or ``package.module:function`` from installed code.
- ``fold.py``: folding objects into an accumulator, merging accumulators, finishing a result.

Nothing here reads the store: dispatch.reading feeds these functions the objects of store files.
"""

from __future__ import annotations

from dispatch.errors import FoldError, FunctionError
from dispatch.functions.fold import finish, fold_objects, merge_into, new_accumulator
from dispatch.functions.maps import MAP_NAMES, MapFn
from dispatch.functions.reduces import REDUCE_NAMES, ReduceFn, rank
from dispatch.functions.resolve import resolve_map, resolve_reduce
from dispatch.functions.specifier import Specifier, parse_specifier
from dispatch.functions.text import normalise_term, term_spans, terms, tokens

__all__ = [
    "MAP_NAMES", "REDUCE_NAMES", "FoldError", "FunctionError", "MapFn", "ReduceFn", "Specifier", "finish",
    "fold_objects", "merge_into", "new_accumulator", "normalise_term", "parse_specifier", "rank", "resolve_map",
    "resolve_reduce", "term_spans", "terms", "tokens",
]
