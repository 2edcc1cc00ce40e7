"""Sources: synthetic tweets (the embedded default), replay of files, books as text, the X API through tweepy.

What lives here: ``base.py`` (``Source``: one method, ``read_batch``, giving a collector.batch.Batch),
``synthetic.py``, ``replay.py``, ``text.py`` (books, a paragraph an object), ``x.py`` (imported only when a
job asks for it: it brings in tweepy), and ``make_source``, which builds the source a job request names.
A new kind of source is a module here and a branch in ``make_source``.
"""

from __future__ import annotations

import os
from typing import Any

from collector.errors import SourceError
from collector.sources.base import Source
from collector.sources.replay import ReplaySource
from collector.sources.synthetic import SyntheticSource
from collector.sources.text import TextSource
from nom import quote

__all__ = ["ReplaySource", "Source", "SyntheticSource", "TextSource", "make_source", "x_token"]


def x_token(config_token: str | None = None) -> str | None:
    """The X bearer token: ``X_BEARER_TOKEN`` from the environment, else the configured one; never a message's."""
    return os.environ.get("X_BEARER_TOKEN") or config_token or None


def make_source(spec: dict[str, Any] | None, search_terms: str, position: Any = None, *,
                token: str | None = None, base_dir: str | None = None) -> Source:
    """Build the source a job asked for; with no ``source`` the X API if a token is set, else synthetic."""
    if spec is None:
        spec = {"kind": "x"} if token else {"kind": "synthetic"}
        source = make_source(spec, search_terms, position, token=token, base_dir=base_dir)
        if spec["kind"] == "synthetic":
            source.note = "synthetic source: the job named no source and no X bearer token is configured"
        return source
    if "token" in spec or "bearer_token" in spec:
        raise SourceError("source must not carry a token: set X_BEARER_TOKEN in the collector's environment",
                          field="source.token")
    kind = spec.get("kind")
    if kind == "synthetic":
        return SyntheticSource.from_spec(spec, search_terms, position)
    if kind == "replay":
        return ReplaySource.from_spec(spec, position, base_dir=base_dir)
    if kind == "text":
        return TextSource.from_spec(spec, position, base_dir=base_dir)
    if kind == "x":
        from collector.sources.x import XSource

        return XSource.from_spec(spec, search_terms, position, token=token)
    raise SourceError(f"source.kind must be synthetic, replay, text or x, got {quote(kind)}", field="source.kind")
