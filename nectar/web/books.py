"""Seed 004's URLs, as written: ``/?method=word-count&book=<file>[&specifier=<word>]`` and
``/?method=inverted-index&book=<file>[&specifier=<word>]`` (``reverse-index`` is an alias).

The book is a file name in Dispatch's books folder: a name with a path in it is refused here (400) before
anything is asked; Dispatch runs the apply (``applyBook``) and says when there is no such book (404). The
answer: ``{"method", "book", "specifier", "keys", "result": {word: count}}`` for word-count, and
``{..., "result": {word: {"df", "cf", "postings": [[id, [position, ...]], ...]}}}`` for the index, ids as
strings.
"""

from __future__ import annotations

from typing import Any

from nectar.web.backend import ApiError, Backend

__all__ = ["METHODS", "answer", "check_book"]

METHODS = {"word-count": "word-count", "inverted-index": "inverted-index", "reverse-index": "inverted-index"}
WAIT = 300.0  # seconds a URL waits for its book's apply


def check_book(book: str | None) -> str:
    """A book's file name, or a 400 naming the field."""
    if not book:
        raise ApiError(400, "bad_request", "book is required: a file name in the books folder", "book")
    if "/" in book or "\\" in book or book in (".", "..") or "\x00" in book or len(book) > 255:
        raise ApiError(400, "bad_request", f"book must be a file name in the books folder, without a path, got "
                       f"{book[:80]!r}", "book")
    return book


def answer(backend: Backend, method: str | None, book: str | None, specifier: str | None) -> dict[str, Any]:
    """Run seed 004's method over a book through Dispatch and wait for the result."""
    if method not in METHODS:
        raise ApiError(400, "bad_request", f"method must be one of {', '.join(METHODS)}, got {method!r}", "method")
    name = check_book(book)
    request: dict[str, Any] = {"method": METHODS[method], "book": name}
    if specifier:
        request["specifier"] = specifier
    try:
        started = backend.call("dispatch", "applyBook", **request)
    except ApiError as exc:
        if exc.field == "action":
            raise ApiError(503, "unavailable", f"this Dispatch cannot apply to books: {exc.message}", "method") \
                from None
        raise
    reply = backend.wait_apply(started["applyId"], WAIT, top=0)
    rows = reply.get("result", [])  # filtered by Dispatch: a specifier is normalised by the one tokenizer there
    if METHODS[method] == "inverted-index":
        result = {key: {**value, "postings": [[str(doc), positions] for doc, positions in value.get("postings", [])]}
                  if isinstance(value, dict) else value for key, value in rows}
    else:
        result = dict(rows)
    return {"method": method, "book": name, "specifier": specifier, "applyId": started["applyId"],
            "keys": len(result), "result": result}
