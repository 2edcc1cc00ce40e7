"""The exceptions of the nectar package: what the shell reports as one line on stderr."""

from __future__ import annotations

__all__ = ["CommandError", "ConfigError", "ParseError", "ServiceError", "ServiceUnavailable"]


class CommandError(Exception):
    """A command that cannot be done; the message is the one line the user sees."""


class ParseError(ValueError):
    """A line that does not parse; the message says what was expected."""


class ConfigError(ValueError):
    """A configuration file that cannot be read, or a value of the wrong kind."""


class ServiceError(Exception):
    """The service answered with an error; ``field`` names the request field it blames."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ServiceUnavailable(ServiceError):
    """No answer from the service within the timeout."""
