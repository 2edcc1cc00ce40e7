"""``nectar web`` and ``nectar-web``: serve the API and the dashboard with uvicorn.

Address and port come from the config (``web_host``, ``web_port``) or the options; the token from
``web_token`` or ``$NECTAR_WEB_TOKEN`` (never from the command line, where other users' ``ps`` would see it).
Binding beyond loopback without a token is refused, as the services refuse binds without CURVE keys.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

import uvicorn

from nectar.config import Config, load_config
from nectar.errors import ConfigError

__all__ = ["check_web_binding", "main", "serve"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_web_binding(host: str, token: str) -> None:
    """Refuse a bind beyond loopback without a token (ConfigError says how to set one)."""
    if not is_loopback(host) and not token:
        raise ConfigError(f"web: {host} is reachable from other hosts: set a token first (web_token in the config, "
                          f"or NECTAR_WEB_TOKEN in the environment); every request must then carry it")


def serve(config: Config, host: str | None = None, port: int | None = None, *, log_level: str = "warning") -> None:
    """Serve until interrupted (Ctrl-C, SIGTERM)."""
    from nectar.web.app import create_app  # FastAPI loads only for the web service, never for the shell

    host = host or config.web_host
    port = config.web_port if port is None else port
    check_web_binding(host, config.web_token)
    app = create_app(config, token=config.web_token)
    server = _Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                                    timeout_graceful_shutdown=2))
    try:
        server.run(sockets=[listen(host, port)])
    except KeyboardInterrupt:  # uvicorn shuts down on Ctrl-C, then raises the signal again: a normal stop here
        pass


SEND_BUFFER = 256 * 1024


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, with a fixed send buffer that every connection inherits: the kernel's autotuning
    would let a browser that stopped reading park megabytes there before the server notices (its bounded
    queue is what should fill), and 256 kB streams events far faster than any dashboard needs."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"web: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, saying where it listens once it does (port 0 picks a free one; tests read the line)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.servers:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            print(f"nectar-web: http://{host}:{port}/ (API /api/v1, docs /docs)", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line of ``nectar-web``."""
    parser = argparse.ArgumentParser(prog="nectar-web", description="Nectar's HTTP API, live events and dashboard.")
    parser.add_argument("--host", help="address to listen on (default: web_host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: web_port, 8080; 0 picks a free one)")
    parser.add_argument("--collector", help="the collector's control endpoint (default: from the config)")
    parser.add_argument("--dispatch", help="Dispatch's control endpoint (default: from the config)")
    parser.add_argument("--log-level", default="warning", help="uvicorn's log level")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the web service; returns the exit status."""
    args = parse_args(argv)
    try:
        config = load_config()
        if args.collector:
            config.set("collector", args.collector, "--collector")
        if args.dispatch:
            config.set("dispatch", args.dispatch, "--dispatch")
        serve(config, args.host, args.port, log_level=args.log_level)
    except ConfigError as exc:
        print(f"nectar-web: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
