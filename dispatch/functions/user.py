"""User functions (``package.module:function``): where they are imported from, and their reloading.

Dispatch's ``--functions-path`` (the shell's ``functions_path`` setting, ``NECTAR_FUNCTIONS_PATH``) names a
folder of the user's modules: ``use_functions_path`` puts it on ``sys.path`` and on ``PYTHONPATH``, so that the
local engine's workers and Spark's local executors, started after, import from it too. The path comes from
Dispatch's command line or environment, never from a message.

``import_fresh`` imports a module, and imports it again when its file changed on disk since: an edited module
is used by the next apply, without restarting Dispatch (each worker checks when an apply resolves it).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["import_fresh", "looked_in", "use_functions_path"]

_SEEN: dict[str, float] = {}  # module name -> the mtime of its file when it was (re)loaded


def use_functions_path(path: str | os.PathLike[str] | None) -> Path | None:
    """Import user functions from ``path`` (None or "": only from the installed code); returns it, absolute."""
    if not path:
        return None
    folder = Path(path).expanduser().absolute()
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    current = os.environ.get("PYTHONPATH", "")
    if str(folder) not in current.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [current, str(folder)]))
    return folder


def looked_in() -> str:
    """Where user modules are looked for: the functions path (if set) and the other import folders, short."""
    configured = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return ", ".join(configured) if configured else "the installed packages only (no functions path is set)"


def _mtime(module: ModuleType) -> float | None:
    path = getattr(module, "__file__", None)
    try:
        return os.stat(path).st_mtime if path else None
    except OSError:
        return None


def import_fresh(name: str) -> ModuleType:
    """``importlib.import_module(name)``, reloaded when its file changed on disk since it was loaded."""
    module = importlib.import_module(name)
    stamp = _mtime(module)
    if stamp is not None and name in _SEEN and _SEEN[name] != stamp:
        importlib.invalidate_caches()
        module = importlib.reload(module)
    if stamp is not None:
        _SEEN[name] = stamp
    return module
