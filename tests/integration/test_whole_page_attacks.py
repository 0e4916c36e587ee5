"""The one-step page paths (a whole body in one ASGI message, a one-item WSGI list), attacked as an
outsider would: attacker text beside the app's own placeholder, every spelling and guessed nonce;
a hostile Host, cookie and path; HEAD; and an app head that would let a shared cache keep the page.
Exactly the app's slot gets a token; everything else comes back as written; nothing can be cached."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from embed_middleware import EmbedASGIMiddleware, EmbedWSGIMiddleware, embed_placeholder, from_environ
from tests.support.injection_cases import SPELLINGS
from tests.support.tokens import TOKEN
from tests.support.wsgi_helpers import decode, test_issuer

ATTACK = "".join(f"<p>{text}</p>" for text in SPELLINGS.values()).encode()
#: What an app might say about its page that must not survive once the page carries a token.
CACHEABLE = [("Cache-Control", "public, max-age=3600"), ("ETag", '"v1"'), ("CDN-Cache-Control", "max-age=60")]
HOSTILE = [("Host", "evil.example"), ("Cookie", "tenant=globex; embed.tenant=globex"), ("X-Tenant", "globex")]
PATH = "/t/globex/../acme/%3CJWT_TOKEN%3E"


def page(placeholder: str) -> bytes:
    return ATTACK + placeholder.encode() + ATTACK


def check(method: str, status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 200
    assert headers["cache-control"] == "private, no-store"
    assert "etag" not in headers and "cdn-cache-control" not in headers
    if method == "HEAD":
        assert body == b"" and not TOKEN.search(body)
        return
    assert int(headers["content-length"]) == len(body)
    assert body.startswith(ATTACK) and body.endswith(ATTACK)
    (token,) = TOKEN.findall(body)  # the app's slot only: no spelling or guessed nonce earned one
    assert decode(token.decode() if isinstance(token, bytes) else token)["sub"] == "acme"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_asgi_whole_page_under_attack(method: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["embed.tenant"] = "acme"  # what the app itself decided, whatever the request says
        body = page(embed_placeholder(scope, "top"))
        fields = [(k.lower().encode(), v.encode()) for k, v in [("Content-Type", "text/html"), *CACHEABLE]]
        fields.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": fields})
        await send({"type": "http.response.body", "body": body})

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def record(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"resource=top&token=x",
        "headers": [(k.lower().encode(), v.encode()) for k, v in HOSTILE],
        "state": {},
    }
    middleware = EmbedASGIMiddleware(app, issuer=test_issuer(), resolver=from_environ())
    asyncio.run(middleware(scope, receive, record))
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    check(method, sent[0]["status"], headers, body)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_wsgi_whole_page_under_attack(method: str) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["embed.tenant"] = "acme"
        body = page(embed_placeholder(environ, "top"))
        start_response(
            "200 OK", [("Content-Type", "text/html"), *CACHEABLE, ("Content-Length", str(len(body)))]
        )
        return [body]

    environ = EnvironBuilder(
        path="/t/globex/acme", method=method, headers=HOSTILE, query_string="resource=top"
    ).get_environ()
    environ["PATH_INFO"] = PATH
    heads: list[tuple[str, list[tuple[str, str]]]] = []
    result = EmbedWSGIMiddleware(app, issuer=test_issuer(), resolver=from_environ())(
        environ, lambda status, fields, exc_info=None: heads.append((status, fields))
    )
    body = b"".join(result)
    status, fields = heads[0]
    check(method, int(status.split()[0]), {k.lower(): v for k, v in fields}, body)
