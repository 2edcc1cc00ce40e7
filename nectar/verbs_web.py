"""The shell's ``web`` verb: serve the HTTP API and dashboard (nectar.web) in the foreground."""

from __future__ import annotations

from typing import Any

from nectar.errors import CommandError, ConfigError
from nectar.registry import Option, command
from nectar.results import Message

__all__ = ["web"]


@command("web", options=(Option("host", "word", help="address to listen on (default: web_host)"),
                         Option("port", "word", help="port (default: web_port, 8080)")),
         help="serve the HTTP API, live events and the dashboard (http://127.0.0.1:8080/) until Ctrl-C",
         example="web --port 8080",
         details="Beyond loopback it needs a token (web_token, or $NECTAR_WEB_TOKEN). Also: nectar-web.")
def web(ctx: Any, values: dict[str, Any]) -> Message:
    """Run the web service until interrupted."""
    from nectar.web.server import serve  # the web stack loads only for this verb

    port = values.get("port")
    if port is not None and not str(port).isdigit():
        raise CommandError(f"--port must be a whole number, got {port!r}")
    try:
        serve(ctx.config, values.get("host"), None if port is None else int(port))
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    return Message("web stopped")
