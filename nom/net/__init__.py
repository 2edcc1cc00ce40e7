"""The socket layer both services share (ZeroMQ), apart from the object model.

What lives here:

- ``wire.py``: control requests and error replies, and the published batch ``[jobId, header, body]``.
- ``keys.py``: ``CurveKeys``, the CurveZMQ key folder, and the rule that refuses to bind beyond loopback
  without keys.
- ``service.py``: ``ControlService``, the skeleton of the collector and Dispatch: one control socket,
  requests dispatched through one table from action name to handler, ``step(now)``, and the command
  line both services share (``ControlService.main``).

An HTTP face (issue 21) is a client of these control sockets, like the shell; it belongs in nectar/web/.
"""

from __future__ import annotations

from nom.net.keys import CurveKeys, check_binding, init_keys, is_loopback_endpoint, refuse_if_in_use
from nom.net.service import READY_LINE, ControlService, Handler
from nom.net.wire import decode_batch, decode_request, encode_batch, error_reply

__all__ = [
    "READY_LINE", "ControlService", "CurveKeys", "Handler", "check_binding", "decode_batch", "decode_request",
    "encode_batch", "error_reply", "init_keys", "is_loopback_endpoint", "refuse_if_in_use",
]
