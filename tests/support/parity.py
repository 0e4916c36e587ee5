"""One description of an app's response, served through either adapter.

A ``Case`` says what the wrapped app does (status, headers, body chunks, the tenant it marks) and how
the middleware is configured; ``serve_wsgi`` and ``serve_asgi`` build the equivalent app for each
protocol, run one request through the middleware, and return the same ``Result``. The ASGI side also
checks the message sequence a server relies on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from werkzeug.test import EnvironBuilder

from embed_middleware import EmbedASGIMiddleware, Tenant, from_environ
from embed_middleware.placeholders import NONCE_KEY
from tests.support.app_placeholders import nonce_of, own_chunks
from tests.support.wsgi_helpers import checked, middleware, run, test_issuer


@dataclass(frozen=True)
class Case:
    name: str
    chunks: tuple[bytes, ...] = (b"<p><JWT_TOKEN></p>",)
    content_type: str | None = "text/html; charset=utf-8"
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    declare_length: bool = True
    method: str = "GET"
    path: str = "/"
    request_headers: tuple[tuple[str, str], ...] = ()
    #: What the app marks as its tenant while handling (None: it marks nothing).
    tenant: str | Tenant | None = "acme"
    options: dict[str, Any] = field(default_factory=dict)
    #: Whether PEP 3333 checkers may wrap the WSGI side (they refuse e.g. Content-Type on a 204).
    lint: bool = True
    #: Whether the page's placeholders are the app's own (they get the request's nonce), or text it
    #: only displays (left as it is).
    own: bool = True
    #: Text the page shows that the app did not write (a comment, a reflected parameter): added to the
    #: end of the app's last chunk, never given the nonce, so it must arrive exactly as written.
    user_text: bytes = b""


@dataclass(frozen=True)
class Result:
    status: int
    headers: dict[str, str]
    body: bytes
    messages: tuple[dict[str, Any], ...] = ()
    #: The nonce the app's placeholders carried (None when the app wrote none of its own).
    nonce: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def _options(case: Case) -> dict[str, Any]:
    options = dict(case.options)
    options.setdefault("issuer", test_issuer())
    options.setdefault("resolver", from_environ())
    return options


def _chunks(case: Case, holder: dict[str, Any], drawn: list[str]) -> tuple[bytes, ...]:
    """The body as the app sends it: its own placeholders signed now, then any user text unchanged."""
    chunks = case.chunks
    if case.own:
        chunks = tuple(own_chunks(chunks, holder))
        if holder[NONCE_KEY].drawn:
            drawn.append(nonce_of(holder))
    if not case.user_text:
        return chunks
    return (*chunks[:-1], chunks[-1] + case.user_text) if chunks else (case.user_text,)


def _response_headers(case: Case, chunks: tuple[bytes, ...]) -> list[tuple[str, str]]:
    headers = [("Content-Type", case.content_type)] if case.content_type else []
    headers.extend(case.headers)
    if case.declare_length and not any(k.lower() == "content-length" for k, _ in case.headers):
        headers.append(("Content-Length", str(sum(map(len, chunks)))))
    return headers


def serve_wsgi(case: Case) -> Result:
    drawn: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if case.tenant is not None:
            environ["embed.tenant"] = case.tenant
        chunks = _chunks(case, environ, drawn)
        start_response(f"{case.status} {HTTPStatus(case.status).phrase}", _response_headers(case, chunks))
        return (chunk for chunk in chunks)

    wrapped = checked(app, **_options(case)) if case.lint else middleware(app, **_options(case))
    status, headers, body = run(
        wrapped,
        case.path.split("?")[0],
        case.method,
        QUERY_STRING=case.path.partition("?")[2],
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in case.request_headers},
    )
    if case.method == "HEAD":
        body = b""
    nonce = drawn[-1] if drawn else None
    return Result(int(status.split()[0]), {k.lower(): v for k, v in headers}, body, nonce=nonce)


def asgi_app_for(case: Case, drawn: list[str] | None = None) -> Callable[..., Any]:
    drawn = [] if drawn is None else drawn

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if case.tenant is not None:
            scope.setdefault("state", {})["embed_tenant"] = case.tenant
        chunks = _chunks(case, scope, drawn)
        headers = [(k.lower().encode(), v.encode()) for k, v in _response_headers(case, chunks)]
        await send({"type": "http.response.start", "status": case.status, "headers": headers})
        body_chunks = chunks if case.method != "HEAD" else (b"",)
        for index, chunk in enumerate(body_chunks):
            more = index < len(body_chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


def http_scope(
    path: str = "/", method: str = "GET", headers: Iterable[tuple[str, str]] = ()
) -> dict[str, Any]:
    raw_path, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver"), *((k.lower().encode(), v.encode()) for k, v in headers)],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def call_asgi(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # a real client stays connected until the response ends
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    return messages


def check_sequence(messages: list[dict[str, Any]]) -> None:
    """What every ASGI server relies on: one start, then bodies, the last one final, nothing after."""
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "http.response.start", kinds
    assert kinds.count("http.response.start") == 1, kinds
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert bodies, kinds
    assert all(m.get("more_body", False) for m in bodies[:-1]), kinds
    assert not bodies[-1].get("more_body", False), kinds
    assert messages[-1] is bodies[-1] or messages[-1]["type"] == "http.response.trailers", kinds


def serve_asgi(case: Case) -> Result:
    drawn: list[str] = []
    wrapped = EmbedASGIMiddleware(asgi_app_for(case, drawn), **_options(case))
    scope = http_scope(case.path, case.method, case.request_headers)
    messages = asyncio.run(call_asgi(wrapped, scope))
    check_sequence(messages)
    start = messages[0]
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    if "content-length" in headers and case.method != "HEAD":
        assert int(headers["content-length"]) == len(body), "a server would cut or hang on a wrong length"
    return Result(start["status"], headers, body, tuple(messages), drawn[-1] if drawn else None)


SERVERS: dict[str, Callable[[Case], Result]] = {"wsgi": serve_wsgi, "asgi": serve_asgi}


def environ_for(path: str = "/") -> dict[str, Any]:
    return EnvironBuilder(path=path).get_environ()
