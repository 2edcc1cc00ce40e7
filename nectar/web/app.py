"""The web application: the API's routes, seed 004's URLs at ``/``, the dashboard, ``/docs`` (the README as
HTML), the event stream, the token gate and the errors.

``create_app(config, token=...)`` builds it; nectar.web.server serves it with uvicorn. With a token, every
request must carry it (``Authorization: Bearer <token>``, or the cookie ``/login`` sets) or gets 401 and
no data.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from importlib import metadata
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markdown_it import MarkdownIt
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nectar.config import Config
from nectar.web import api_snapshots, books
from nectar.web.api import JSON, json_response, router
from nectar.web.backend import ApiError, Backend
from nectar.web.events import Hub, Subscriber

__all__ = ["COOKIE", "create_app"]

STATIC = Path(__file__).parent / "static"
REPO = Path(__file__).resolve().parents[2]
COOKIE = "nectar_token"
SEND_TIMEOUT = 30.0  # a browser that takes no bytes for this long is dropped
KEEPALIVE = 15.0


def create_app(config: Config, *, token: str = "", backend: Backend | None = None, hub: Hub | None = None) -> FastAPI:
    """The application over the services ``config`` names; ``token``: required of every request when set."""
    backend = backend or Backend(config)
    hub = hub or Hub(backend)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.start(asyncio.get_running_loop())
        yield
        hub.stop()

    app = FastAPI(title="Nectar", version="1", description="Nectar's HTTP API: jobs, applies, standing results, "
                  "cache, disk and stats; live events at /api/v1/events. Ids are strings.",
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.backend = backend
    app.state.hub = hub
    app.state.token = token
    app.include_router(router)
    app.include_router(api_snapshots.router)
    _errors(app)
    _pages(app, hub)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if token:
        app.add_middleware(TokenGate, token=token)
    return app


def _error(status: int, code: str, message: str, field: str | None = None) -> Response:
    return Response(orjson.dumps({"code": code, "message": message, "field": field}), status_code=status,
                    media_type=JSON)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return _error(exc.status, exc.code, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body", "header")]
        field = ".".join(where) or None
        return _error(400, "bad_request", f"{field or 'request'}: {first.get('msg', 'invalid')}", field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return _error(exc.status_code, code, str(exc.detail))


def _pages(app: FastAPI, hub: Hub) -> None:
    @app.get("/", summary="seed 004: /?method=word-count|inverted-index|reverse-index&book=<file>[&specifier="
             "<word>]; without a method, the dashboard")
    def root(request: Request, method: Annotated[str | None, Query(max_length=40)] = None,
             book: Annotated[str | None, Query(max_length=300)] = None,
             specifier: Annotated[str | None, Query(max_length=200)] = None) -> Response:
        if method is None and book is None and specifier is None:
            return FileResponse(STATIC / "index.html", media_type="text/html")
        return json_response(books.answer(request.app.state.backend, method, book, specifier))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(readme_html())

    @app.get("/docs/{name}.png", include_in_schema=False)
    def docs_image(name: str) -> Response:
        path = REPO / "docs" / f"{name}.png"
        if not re.fullmatch(r"[\w-]{1,64}", name) or not path.is_file():
            raise ApiError(404, "not_found", f"no image {name}.png", "name")
        return FileResponse(path, media_type="image/png")

    @app.get("/login", include_in_schema=False)
    def login_form() -> HTMLResponse:
        return HTMLResponse(LOGIN_PAGE)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        given = parse_qs((await request.body()).decode(errors="replace")).get("token", [""])[0]
        gate = request.app.state.token
        if not gate or not hmac.compare_digest(given.encode(), gate.encode()):
            return _error(401, "unauthorized", "wrong token", "token")
        page = RedirectResponse("/", status_code=303)
        page.set_cookie(COOKIE, given, httponly=True, samesite="strict")
        return page

    @app.get("/api/v1/events", summary="server-sent events: file, jobs, applies, standing, health, hello; "
             "resumable with Last-Event-ID", response_class=Response)
    async def events(request: Request, last_event_id: Annotated[str | None, Query(alias="lastEventId",
                                                                                  max_length=40)] = None) -> Response:
        raw = request.headers.get("last-event-id") or last_event_id
        last = int(raw) if raw and raw.isdigit() and len(raw) <= 19 else None
        sub = hub.subscribe()
        try:
            initial = await run_in_threadpool(hub.replay, last, sub)
        except BaseException:
            hub.unsubscribe(sub)
            raise
        return EventStream(hub, sub, initial)


class EventStream(Response):
    """A server-sent event stream of one subscriber: replay first, then its queue, batched; a browser that
    takes nothing for SEND_TIMEOUT seconds, or whose queue overflowed, is dropped."""

    media_type = "text/event-stream"

    def __init__(self, hub: Hub, sub: Subscriber, initial: list[bytes]) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                            (b"x-accel-buffering", b"no")]
        self.hub, self.sub, self.initial = hub, sub, initial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub, sub = self.hub, self.sub

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            hub.end(sub)  # wakes the loop below

        watcher = asyncio.create_task(watch())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            chunk = b"retry: 1000\n\n" + b"".join(self.initial)
            while True:
                if chunk:
                    await asyncio.wait_for(send({"type": "http.response.body", "body": chunk, "more_body": True}),
                                           SEND_TIMEOUT)
                try:
                    item = await asyncio.wait_for(sub.queue.get(), KEEPALIVE)
                except TimeoutError:
                    chunk = b": keepalive\n\n"
                    continue
                if item is None:
                    break
                parts = [item]
                while not sub.queue.empty() and len(parts) < 500:
                    nxt = sub.queue.get_nowait()
                    if nxt is None:
                        sub.queue.put_nowait(None)
                        break
                    parts.append(nxt)
                chunk = b"".join(parts)
                sub.sent += len(parts)
        except TimeoutError:
            hub.dropped += 1
            sub.dropped = True
        finally:
            hub.unsubscribe(sub)
            watcher.cancel()
        if not sub.dropped:
            try:
                await asyncio.wait_for(send({"type": "http.response.body", "body": b"", "more_body": False}), 1.0)
            except (TimeoutError, OSError):
                pass


class TokenGate:
    """Every request must carry the token (bearer header or cookie), except the sign-in page."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/login" or self._allowed(scope):
            return await self.app(scope, receive, send)
        body = orjson.dumps({"code": "unauthorized", "message": "this server needs a token: send 'Authorization: "
                             "Bearer <token>', or sign in at /login", "field": "token"})
        start: Message = {"type": "http.response.start", "status": 401,
                          "headers": [(b"content-type", JSON.encode()), (b"www-authenticate", b"Bearer"),
                                      (b"content-length", str(len(body)).encode())]}
        await send(start)
        await send({"type": "http.response.body", "body": body})

    def _allowed(self, scope: Scope) -> bool:
        given = b""
        for key, value in scope["headers"]:
            if key == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
            elif key == b"cookie" and not given:
                cookie: SimpleCookie = SimpleCookie()
                try:
                    cookie.load(value.decode("latin-1"))
                except Exception:  # noqa: BLE001 - a malformed cookie header is no token
                    continue
                if COOKIE in cookie:
                    given = cookie[COOKIE].value.encode()
        return bool(given) and hmac.compare_digest(given, self.token)


def readme_html() -> str:
    """The README rendered as one HTML page (markdown-it-py: CommonMark and tables; raw HTML is not passed)."""
    path = REPO / "README.md"
    try:
        text = path.read_text()
    except OSError:
        text = metadata.metadata("nectar").get_payload() or "# Nectar\n\nNo README found."  # type: ignore[attr-defined]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return DOCS_PAGE.replace("{body}", body)


DOCS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Nectar: README</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/static/app.css">
</head><body class="docs"><nav><a href="/">dashboard</a></nav><main>{body}</main></body></html>"""

LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Nectar: sign in</title>
<link rel="stylesheet" href="/static/app.css"></head><body><main><h1>Nectar</h1>
<form method="post" action="/login"><label>Token <input type="password" name="token" autofocus></label>
<button>Sign in</button></form></main></body></html>"""

