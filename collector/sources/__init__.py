"""Tweet sources: synthetic (the embedded default), replay of files, and the X API through tweepy."""

from __future__ import annotations

import os
from typing import Any

from collector.sources.base import Batch, Item, Source, SourceError
from collector.sources.replay import ReplaySource
from collector.sources.synthetic import SyntheticSource
from nom.errors import quote

__all__ = ["Batch", "Item", "Source", "SourceError", "make_source", "x_token"]


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
    if kind == "x":
        from collector.sources.x import XSource

        return XSource.from_spec(spec, search_terms, position, token=token)
    raise SourceError(f"source.kind must be synthetic, replay or x, got {quote(kind)}", field="source.kind")
