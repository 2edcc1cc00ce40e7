"""The web face of Nectar: an HTTP JSON API (``/api/v1/``, with its OpenAPI document), live updates by
server-sent events, seed 004's word-count and inverted-index URLs, and a dashboard page.

It is a client of the collector and Dispatch over their control sockets, like the shell, so it can run on
another host. Modules:

- ``backend.py``: the two services' clients, errors as HTTP statuses, ids as strings for browsers
- ``events.py``: one poller per process and the fan-out of its events to every browser (bounded queues)
- ``api.py``: the ``/api/v1`` routes; ``api_snapshots.py``: search, snapshots and provenance
- ``books.py``: seed 004's URLs (``/?method=word-count&book=...``)
- ``app.py``: the application: auth, errors, the dashboard, ``/docs`` (the README as HTML), the event stream
- ``server.py``: ``nectar web`` / ``nectar-web``: the command line, the binding rule, uvicorn
- ``static/``: the page (no build step) and uPlot, vendored with its license
"""

from nectar.web.app import create_app
from nectar.web.server import main, serve

__all__ = ["create_app", "main", "serve"]
