"""The Nectar Object Model: NOM objects, their text forms, and the file store they live in.

What lives here:

- ``model.py``, ``codec.py``, ``errors.py``: the object model itself, with no disk and no sockets:
  ``Nom`` objects ``{"id": ns, "type": "data....", "data": ...}``, their checks and type matching, their
  JSON and ``.nom`` text forms, and the exceptions of the whole package (``FieldError`` and below);
  ``written.py``, the second clock: when an object was written (a tweet's ``created_at``).
- ``books.py``: plain-text books read as paragraphs (UTF-8, BOM, CRLF, the Gutenberg header and footer), the
  one reading the collector's text source and Dispatch's ``applyBook`` share.
- ``store/``: the file store under NOM_ROOT: ``Store`` (the facade), the job folders, the per-job index,
  id clocks, scans and followers; ``store/commit/`` is the commit pipeline and its writers.
- ``net/``: the socket layer both services share: the wire forms, CurveZMQ keys, and the control-service
  skeleton. Not imported by ``import nom``: the object model and the store need no sockets.

Import the names below from ``nom``; ``nom.store`` and ``nom.net`` list the rest of what they offer.
"""

from __future__ import annotations

from nom.books import BookError, Paragraph, book_job_id, book_type, check_book_name, paragraphs
from nom.codec import dumps, dumps_nom, loads, loads_nom
from nom.errors import (
    QUOTE_LIMIT,
    CorruptFile,
    FieldError,
    InsecureBinding,
    NomError,
    ProtocolError,
    StoreError,
    failure,
    quote,
    shorten,
)
from nom.model import MAX_ID, Nom, check_job_id, check_object, check_type, is_job_id, slug, tweet_type, type_matches
from nom.store import Encoded, FileInfo, IdClock, Quarantined, Scan, Store, ThreadWriter, Usage, Writer
from nom.written import CLOCKS, utc_bounds, written_bounds, written_ns, written_of_data

__all__ = [
    "BookError", "Paragraph", "book_job_id", "book_type", "check_book_name", "paragraphs",
    "MAX_ID", "QUOTE_LIMIT", "CorruptFile", "Encoded", "FieldError", "FileInfo", "IdClock", "InsecureBinding",
    "Nom", "NomError", "ProtocolError", "Quarantined", "Scan", "Store", "StoreError", "ThreadWriter", "Usage",
    "Writer", "check_job_id", "check_object", "check_type", "dumps", "dumps_nom", "failure", "is_job_id", "loads",
    "loads_nom", "quote", "shorten", "slug", "tweet_type", "type_matches", "CLOCKS", "utc_bounds", "written_bounds",
    "written_ns", "written_of_data",
]
