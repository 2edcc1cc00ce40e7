"""The exceptions of the nom package (the object model, the store and the socket layer), in one place.

``FieldError`` is the root of every error a person can act on by fixing what they sent: the services
answer it as ``{"error": message, "field": field}`` (nom.net.service), whichever package raised it. The
other packages' errors that name a field (a source, a date, a function, an engine) derive from it too,
without being errors of the object model.
"""

from __future__ import annotations

__all__ = ["CorruptFile", "FieldError", "InsecureBinding", "NomError", "NotRegular", "ProtocolError", "StoreError"]


class FieldError(ValueError):
    """Input a person can fix; ``field`` names the request or input field to blame where there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NomError(FieldError):
    """Bad NOM input: an object, an id, a type name, a job id, an array."""


class CorruptFile(NomError):
    """A store file that cannot be read as a JSON array of NOM objects."""


class NotRegular(CorruptFile):
    """A path in the store that is a symbolic link, a FIFO, a device, a socket or a folder where a file
    belongs (or a file where a folder belongs): never followed, opened for reading or written through."""


class ProtocolError(FieldError):
    """A request or message that cannot be served (either service's); ``field`` names the part to blame."""


class StoreError(OSError):
    """A store operation that could not be done (bad job, disk full, ...)."""


class InsecureBinding(ValueError):
    """A non-loopback endpoint without CURVE keys and without --insecure."""
