"""Provenance: what every apply's result was computed from and with (issue 20).

An apply's provenance (``Apply.provenance``, in ``status``, ``listApplies`` and every stored result object) is::

    {"inputs": {"job", "from", "to", "snapshot": <id> | null, "chain": <hex> | null, "files"},
     "map": {"name", "sha256": <of the user function's source file> | null},
     "reduce": {"name", "sha256": ... | null},
     "engine", "nectar": <version>, "started", "ended" (epoch seconds; ended null while it runs or stands),
     "objects", "resultSha256" (of the canonical result, once there is one)}

A batch apply names the snapshot of exactly the files it read (nom.store.snapshots; recorded, not kept);
a standing reduction, whose files keep coming, names instead a **hash chain** over the files folded so far,
in the order folded: ``chain = SHA-256(chain || file's SHA-256)``, starting from 32 zero bytes; it is
checkpointed with the accumulator, so a Dispatch killed and restarted ends with the chain of a fresh
reduction over the same files. Built-in functions have no source hash: the Nectar version names them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import time
from collections.abc import Iterable
from typing import Any

import orjson

from nom.store import FileInfo

__all__ = ["CHAIN_START", "canonical_result", "extend_chain", "function_source", "nectar_version", "new_provenance",
           "result_sha256"]

CHAIN_START = "0" * 64


def nectar_version() -> str:
    """The installed Nectar's version."""
    try:
        return importlib.metadata.version("nectar")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def function_source(name: str) -> dict[str, Any]:
    """A function's name and, for a user function (``package.module:function``), the SHA-256 of its module's
    source file as it is on disk now (None for built-ins, or when the file cannot be read)."""
    sha = None
    if ":" in name and not name.startswith(("field:", "topk:")):
        try:
            spec = importlib.util.find_spec(name.split(":")[0])
            origin = spec.origin if spec is not None else None
            if origin and origin.endswith(".py"):
                with open(origin, "rb") as fh:
                    sha = hashlib.sha256(fh.read()).hexdigest()
        except (ImportError, ValueError, OSError):
            sha = None
    return {"name": name, "sha256": sha}


def extend_chain(chain: str, files: Iterable[FileInfo]) -> str:
    """The hash chain ``chain`` extended by ``files`` (in the order given; each must carry its SHA-256)."""
    digest = bytes.fromhex(chain)
    for info in files:
        digest = hashlib.sha256(digest + bytes.fromhex(info.sha256)).digest()
    return digest.hex()


def canonical_result(pairs: list[list[Any]]) -> bytes:
    """A result's canonical bytes: its pairs sorted by key (as JSON), whatever order ties came in."""
    ordered = sorted(pairs, key=lambda kv: orjson.dumps(kv[0], option=orjson.OPT_NON_STR_KEYS))
    return orjson.dumps(ordered, option=orjson.OPT_NON_STR_KEYS)


def result_sha256(pairs: list[list[Any]]) -> str:
    """The SHA-256 of a result's canonical bytes: two results are identical when these are. A lazy result that
    hashes itself (an index: its sorted arrays, without making a Python object per posting) says how."""
    own = getattr(pairs, "sha256", None)
    if callable(own):
        return str(own())
    return hashlib.sha256(canonical_result(pairs)).hexdigest()


def new_provenance(job: str, map_name: str, reduce_name: str, engine: str, from_id: int | None,
                   to_id: int | None, *, snapshot: str | None = None, chain: str | None = None,
                   files: int = 0) -> dict[str, Any]:
    """The provenance of an apply as it starts."""
    return {"inputs": {"job": job, "from": from_id, "to": to_id, "snapshot": snapshot, "chain": chain,
                       "files": files},
            "map": function_source(map_name), "reduce": function_source(reduce_name), "engine": engine,
            "nectar": nectar_version(), "started": time.time(), "ended": None, "objects": 0, "resultSha256": None}
