"""The exceptions of the dispatch package (the rest it raises are nom's: NomError, ProtocolError, StoreError).

Those that name a field derive from nom's ``FieldError``, so the control service answers them as
``{"error", "field"}`` like any bad request, without being errors of the object model.
"""

from __future__ import annotations

from typing import Any

from nom import FieldError

__all__ = ["DateError", "FoldError", "FunctionError", "SparkUnavailable"]


class FunctionError(FieldError):
    """A map or reduce name that cannot be used; ``field`` says which ("map" or "reduce")."""


class DateError(FieldError):
    """A date argument that cannot be read; ``field`` is "fromDate" or "toDate"."""


class SparkUnavailable(FieldError):
    """PySpark (or Java) is missing, or Spark cannot start; ``field`` is "engine"."""


class FoldError(Exception):
    """A map or reduce raised on one object: the apply fails with the object's id and the function's traceback."""

    def __init__(self, obj_id: Any, function: str, trace: str) -> None:
        super().__init__(f"{function} raised on object {obj_id}:\n{trace}")
        self.obj_id = obj_id
        self.function = function
        self.trace = trace
