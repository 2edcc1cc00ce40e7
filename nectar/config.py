"""Configuration: defaults, then the XDG config file, then ./nectar.toml, then the environment.

``nectar config`` shows every effective value and where it came from. Keys::

    nom_root = "NOM_ROOT"                       # NOM_ROOT
    collector = "tcp://127.0.0.1:5555"          # NECTAR_COLLECTOR
    dispatch = "tcp://127.0.0.1:5556"           # NECTAR_DISPATCH
    workers = 2                                 # dispatch's local engine
    engine = "local"                            # dispatch's default engine: local or spark
    spark_master = "local[*]"                   # spark://host:7077, yarn, k8s://... for a cluster
    toolbar = true                              # the REPL's bottom toolbar
    auto_suggest = true                         # suggestions from history
    auto_start = true                           # start services when none answers
    timeout = 10.0                              # seconds to wait for a service's answer
    keys = ""                                   # CurveZMQ key folder ('nectar keys init'); "" = no keys
    web_host = "127.0.0.1"                      # where 'nectar web' listens (beyond loopback: needs web_token)
    web_port = 8080
    web_token = ""                              # NECTAR_WEB_TOKEN: bearer token of the web API ("" = none)
    books = ""                                  # NECTAR_BOOKS: the books folder ("" = books/ beside NOM_ROOT)
    functions_path = ""                         # NECTAR_FUNCTIONS_PATH: a folder of your function modules
    stopwords = ""                              # NECTAR_STOPWORDS: your stopwords file for words:stop

Secrets (``web_token``) are never shown: ``config`` prints whether one is set, not its value.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nectar.errors import ConfigError

__all__ = ["SECRETS", "Config", "load_config", "state_dir", "config_dir"]

DEFAULTS: dict[str, Any] = {
    "nom_root": "NOM_ROOT", "collector": "tcp://127.0.0.1:5555", "dispatch": "tcp://127.0.0.1:5556",
    "workers": os.cpu_count() or 2, "engine": "local", "spark_master": "local[*]", "toolbar": True,
    "auto_suggest": True, "auto_start": True, "timeout": 10.0,
    "keys": "", "books": "", "functions_path": "", "stopwords": "",
    "web_host": "127.0.0.1", "web_port": 8080, "web_token": "",
}
SECRETS = frozenset({"web_token"})
ENVIRONMENT = {"nom_root": "NOM_ROOT", "collector": "NECTAR_COLLECTOR", "dispatch": "NECTAR_DISPATCH",
               "web_token": "NECTAR_WEB_TOKEN", "books": "NECTAR_BOOKS", "functions_path": "NECTAR_FUNCTIONS_PATH",
               "stopwords": "NECTAR_STOPWORDS"}


def config_dir() -> Path:
    """$XDG_CONFIG_HOME/nectar (default ~/.config/nectar)."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "nectar"


def state_dir() -> Path:
    """$XDG_STATE_HOME/nectar (default ~/.local/state/nectar): history, pid files, logs."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "nectar"


@dataclass
class Config:
    """The effective configuration and where each value came from."""

    values: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))
    sources: dict[str, str] = field(default_factory=lambda: dict.fromkeys(DEFAULTS, "default"))

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def set(self, key: str, value: Any, source: str) -> None:
        """Set ``key`` from ``source``, checking its kind against the default's."""
        if key not in DEFAULTS:
            raise ConfigError(f"{source}: unknown setting {key!r} (known: {', '.join(sorted(DEFAULTS))})")
        kind = type(DEFAULTS[key])
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{source}: {key} must be a {kind.__name__}, got {value!r}")
        self.values[key] = value
        self.sources[key] = source

    @property
    def nom_root_path(self) -> Path:
        """NOM_ROOT as an absolute path."""
        return Path(self.values["nom_root"]).expanduser().absolute()

    @property
    def books_path(self) -> Path:
        """The books folder as an absolute path: ``books``, or ``books/`` beside NOM_ROOT when it is ""."""
        books = self.values["books"]
        return Path(books).expanduser().absolute() if books else self.nom_root_path.parent / "books"


def load_config(cwd: Path | None = None) -> Config:
    """Defaults, then $XDG_CONFIG_HOME/nectar/config.toml, then ./nectar.toml, then the environment."""
    config = Config()
    for path in (config_dir() / "config.toml", (cwd or Path.cwd()) / "nectar.toml"):
        if path.is_file():
            try:
                data = tomllib.loads(path.read_text())
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: {exc}") from None
            for key, value in data.items():
                config.set(key, value, str(path))
    for key, variable in ENVIRONMENT.items():
        if os.environ.get(variable):
            config.set(key, os.environ[variable], f"${variable}")
    return config
