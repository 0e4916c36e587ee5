"""The bare apps, drivers and mint floor of the in-process rows (``inprocess``).

**Apps.** A bare ASGI app and a bare WSGI app, each serving one fixed response per instance: the
2 KB page with one placeholder (``serving_app.PAGE``), the same size of page without one, or a small
JSON document. The wrapped app writes its placeholder as users do, with
``embed_placeholder(scope_or_environ, name)`` per request, and marks the tenant only when the row's
resolver is ``from_environ()`` (an app using a header resolver has nothing to mark). The raw app has no
middleware and so no nonce: it writes a stand-in of the same length, so both sides assemble and send
the same bytes and the difference is the middleware's cost, the helper's included.

**Drivers.** No server, no sockets: the ASGI app is awaited with a hand-built scope (a fresh copy
per request, as a server makes), a ``receive`` that returns the empty request body and a ``send``
that drops each message; the WSGI app is called as the injection rows call it (a fresh copy of
werkzeug's ``EnvironBuilder`` environ per request, the iterable joined and closed). A batch runs many
requests in one go, so a round lasts milliseconds and the timer's resolution does not matter.

**Floor.** The least code that mints a token PyJWT accepts: the header segment encoded once,
``base64url(json(claims))``, ``hmac.digest`` with SHA-256, the joins. Its claims are those of a token
the wrapped app really served (fresh ``iat``/``exp``/``jti`` each time), so the floor does the same
per-token work whatever claims the issuer adds, today or after a redesign.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any

import jwt

from embed_middleware import embed_placeholder

from .injection import wsgi_client
from .serving_app import (
    JSON,
    JSON_BODY,
    PAGE,
    PLAIN,
    SIGNING_KEY,
    TENANT,
    Message,
    Page,
    Scope,
    Writer,
    write_stand_in,
)
from .serving_fastapi import TENANT_HEADER

#: Where a WSGI app marks its tenant for ``from_environ()``, spelled as the README tells users to.
MARK_KEY = "embed.tenant"
HOST = f"{TENANT}.example.com"
PATH = f"/t/{TENANT}/page"
TENANT_COOKIE = "tenant"
_HEADERS = [
    (b"host", HOST.encode()),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) bench"),
    (b"accept", b"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"cookie", f"{TENANT_COOKIE}={TENANT}; theme=dark".encode()),
    (TENANT_HEADER.lower().encode(), TENANT.encode()),
]
SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": PATH,
    "raw_path": PATH.encode(),
    "query_string": b"",
    "root_path": "",
    "headers": _HEADERS,
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}
#: The same request's headers for ``injection.wsgi_client``'s environ (werkzeug's ``EnvironBuilder``).
WSGI_HEADERS = [(name.decode(), value.decode()) for name, value in _HEADERS]
HTML = "text/html; charset=utf-8"
#: What each row's app serves: (content type, page).
RESPONSES: dict[str, tuple[str, Page]] = {
    "page": (HTML, PAGE),
    "plain": (HTML, PLAIN),
    "json": (JSON, Page((JSON_BODY,))),
}


def _length(page: Page) -> bytes:
    return str(len(page.render(write_stand_in, None))).encode()


def asgi_app(response: str, *, embed: bool, mark: bool) -> Callable[..., Any]:
    """A bare ASGI app serving ``RESPONSES[response]``; ``embed``: writes real placeholders."""
    content_type, page = RESPONSES[response]
    headers = [(b"content-type", content_type.encode()), (b"content-length", _length(page))]
    write: Writer = embed_placeholder if embed else write_stand_in

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if mark:
            scope["state"]["embed_tenant"] = TENANT  # Starlette's request.state.embed_tenant
        body = page.render(write, scope)
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app


def wsgi_app(response: str, *, embed: bool, mark: bool) -> Callable[..., Any]:
    """A bare WSGI app serving ``RESPONSES[response]``; ``embed``: writes real placeholders."""
    content_type, page = RESPONSES[response]
    headers = [("Content-Type", content_type), ("Content-Length", _length(page).decode())]
    write: Writer = embed_placeholder if embed else write_stand_in

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if mark:
            environ[MARK_KEY] = TENANT
        body = page.render(write, environ)
        start_response("200 OK", list(headers))
        return [body]

    return app


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _drop(message: Message) -> None:
    return None


def asgi_batch(app: Callable[..., Any], loop: asyncio.AbstractEventLoop, size: int) -> Callable[[], None]:
    """One timed unit: ``size`` requests to ``app``, each with a fresh copy of the scope."""

    async def many() -> None:
        for _ in repeat(None, size):
            await app({**SCOPE, "state": {}}, _receive, _drop)

    def run() -> None:
        loop.run_until_complete(many())

    return run


def wsgi_batch(app: Callable[..., Any], size: int) -> Callable[[], None]:
    """One timed unit: ``size`` requests to ``app``, each with a fresh copy of the environ."""
    call = wsgi_client(app, PATH, b"", WSGI_HEADERS)

    def run() -> None:
        for _ in repeat(None, size):
            call()

    return run


def asgi_body(app: Callable[..., Any], loop: asyncio.AbstractEventLoop) -> tuple[int, bytes]:
    """Status and body of one request, for the checks made before timing."""
    sent: list[Message] = []

    async def record(message: Message) -> None:
        sent.append(message)

    loop.run_until_complete(app({**SCOPE, "state": {}}, _receive, record))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(sent[0]["status"]), body


def wsgi_body(app: Callable[..., Any]) -> bytes:
    return wsgi_client(app, PATH, b"", WSGI_HEADERS)()


_TOKEN = re.compile(rb"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def only_token(raw: bytes, wrapped: bytes, stand_in: bytes) -> str:
    """The token where the raw page has its stand-in; raises unless that is the only difference and
    the token decodes with plain ``jwt.decode`` for the request's tenant."""
    before, found, after = raw.partition(stand_in)
    if not found or not wrapped.startswith(before) or not wrapped.endswith(after):
        raise RuntimeError("the wrapped page differs from the raw one beyond its placeholder")
    token = wrapped[len(before) : len(wrapped) - len(after)]
    if _TOKEN.fullmatch(token) is None:
        raise RuntimeError(f"the placeholder was not replaced by a token: {token[:80]!r}")
    claims = jwt.decode(token, SIGNING_KEY, algorithms=["HS256"])
    if claims.get("sub") != TENANT:
        raise RuntimeError(f"the token is for the wrong tenant: {claims}")
    return token.decode("ascii")


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def mint_floor(model: str, key: bytes) -> Callable[[], str]:
    """A hand-rolled HS256 mint of ``model``'s header and claims, time claims and ``jti`` fresh."""
    header = jwt.get_unverified_header(model)
    claims = jwt.decode(model, key, algorithms=["HS256"])
    ttl = int(claims["exp"]) - int(claims.get("iat", time.time()))
    header_segment = _b64url(json.dumps(header, separators=(",", ":")).encode())

    def mint() -> str:
        fresh = dict(claims)
        now = int(time.time())
        if "iat" in fresh:
            fresh["iat"] = now
        if "nbf" in fresh:
            fresh["nbf"] = now
        fresh["exp"] = now + ttl
        if "jti" in fresh:
            fresh["jti"] = secrets.token_urlsafe(16)
        signing_input = header_segment + b"." + _b64url(json.dumps(fresh, separators=(",", ":")).encode())
        return (signing_input + b"." + _b64url(hmac.digest(key, signing_input, "sha256"))).decode("ascii")

    if jwt.decode(mint(), key, algorithms=["HS256"]).keys() != claims.keys():
        raise RuntimeError("the floor's token does not carry the issuer's claims")
    return mint


def mint_batch(mint: Callable[[], str], size: int) -> Callable[[], None]:
    def run() -> None:
        for _ in repeat(None, size):
            mint()

    return run
