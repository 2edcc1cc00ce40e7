"""CurveZMQ keys for every Nectar socket, and the rule that guards them.

A key folder (``nectar keys init`` makes one, by default ``$XDG_CONFIG_HOME/nectar/keys``) holds::

    server.key, server.key_secret     the services' certificate
    client.key, client.key_secret     the certificate clients (the shell, Dispatch) present
    authorized/                       public keys allowed to connect (client.key is put there)

With keys, servers check every peer's key against ``authorized/`` (pyzmq's
authenticator: CURVE alone only encrypts and would accept any key pair), so a
peer without an authorized key gets no data and cannot send requests. Secret
key files are made readable by their owner only (0600). Binding anything but
loopback without keys is refused unless the user passes ``--insecure``.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nom.errors import InsecureBinding

__all__ = ["CurveKeys", "check_binding", "init_keys", "is_loopback_endpoint", "refuse_if_in_use"]


@dataclass(frozen=True)
class CurveKeys:
    """The loaded key pairs of a key folder."""

    folder: Path
    server_public: bytes
    server_secret: bytes
    client_public: bytes
    client_secret: bytes

    @classmethod
    def load(cls, folder: str | Path) -> CurveKeys:
        """Read a key folder made by ``init_keys``."""
        import zmq.auth

        folder = Path(folder)
        if not (folder / "server.key_secret").exists():
            raise FileNotFoundError(f"{folder}: no keys there (run 'nectar keys init')")
        server_public, server_secret = zmq.auth.load_certificate(folder / "server.key_secret")
        client_public, client_secret = zmq.auth.load_certificate(folder / "client.key_secret")
        return cls(folder, server_public, server_secret or b"", client_public, client_secret or b"")

    def serve(self, socket: Any) -> None:
        """Make ``socket`` a CURVE server (before it binds)."""
        socket.curve_secretkey = self.server_secret
        socket.curve_publickey = self.server_public
        socket.curve_server = True

    def connect_as_client(self, socket: Any) -> None:
        """Make ``socket`` a CURVE client of the services (before it connects)."""
        socket.curve_secretkey = self.client_secret
        socket.curve_publickey = self.client_public
        socket.curve_serverkey = self.server_public

    def start_authenticator(self, ctx: Any) -> Any:
        """Check every CURVE peer of ``ctx`` against ``authorized/``; returns the authenticator (stop it at exit)."""
        from zmq.auth.thread import ThreadAuthenticator

        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_curve(domain="*", location=str(self.folder / "authorized"))
        return auth


def init_keys(folder: str | Path, *, force: bool = False) -> Path:
    """Create the server and client certificates in ``folder``; secret files get mode 0600."""
    import zmq.auth

    folder = Path(folder)
    if (folder / "server.key_secret").exists() and not force:
        raise FileExistsError(f"{folder} already holds keys (use --force to replace them)")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    for name in ("server", "client"):
        public, secret = zmq.auth.create_certificates(str(folder), name)
        os.chmod(secret, 0o600)  # pyzmq writes it readable by all
        os.chmod(public, 0o644)
    authorized = folder / "authorized"
    authorized.mkdir(exist_ok=True)
    shutil.copy(folder / "client.key", authorized / "client.key")
    return folder


def is_loopback_endpoint(endpoint: str) -> bool:
    """True for ``tcp://127.x.x.x:port``, ``tcp://localhost:port``, ``tcp://[::1]:port``, ``ipc://`` and ``inproc://``."""
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "*", an interface name or a host name: not loopback


def check_binding(endpoints: list[str], keys: CurveKeys | None, insecure: bool) -> None:
    """Refuse to bind a non-loopback endpoint without keys, unless ``insecure``."""
    exposed = [e for e in endpoints if not is_loopback_endpoint(e)]
    if exposed and keys is None and not insecure:
        raise InsecureBinding(f"{', '.join(exposed)} is reachable from other hosts: run 'nectar keys init' and pass "
                              f"--keys DIR (CurveZMQ), or pass --insecure to bind without authentication")


def refuse_if_in_use(endpoint: str, ctx: Any) -> None:
    """Refuse an ``ipc://`` endpoint another live service answers on.

    ZeroMQ binds an ipc path that is already bound by silently taking it over (the first
    service goes deaf), so a service first asks whoever is there to ``ping``. (tcp ports
    refuse a second bind by themselves.)
    """
    import zmq

    if not endpoint.startswith("ipc://") or not os.path.exists(endpoint[len("ipc://"):]):
        return
    probe = ctx.socket(zmq.REQ)
    probe.setsockopt(zmq.LINGER, 0)
    try:
        probe.connect(endpoint)
        probe.send(b'{"action": "ping"}')
        if probe.poll(500):
            raise zmq.ZMQError(zmq.EADDRINUSE, f"{endpoint} is in use by a running service")
    finally:
        probe.close(linger=0)
