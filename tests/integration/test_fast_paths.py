"""The adapters' fast paths (issue 16, item 7) give the same answers as the full exchange.

A page whose app drew no nonce passes without an exchange; minting without a claims hook builds no
request; a token page's head is edited in one scan. Each test checks that the shortcut is taken where
it should be (by making the slow path unavailable) or that it agrees with the slow path's rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from embed_middleware import EmbedASGIMiddleware, EmbedWSGIMiddleware, embed_placeholder, from_environ
from embed_middleware import asgi_responder as asgi_module
from embed_middleware._core import policy
from tests.support.injection_cases import SPELLINGS
from tests.support.tokens import TOKEN
from tests.support.wsgi_helpers import decode, test_issuer

PAGE = b"<html><body>no placeholder here</body></html>"


def _no_exchange(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("an exchange was built for a page that needs none")


def run_asgi(app: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b"", "state": {}}
    asyncio.run(app(scope, receive, send))
    return sent


def asgi_page(chunks: list[bytes | None], length: int | None = None) -> Any:
    """An ASGI app sending ``chunks`` (None: the scope's placeholder for "top") as body messages."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["state"]["embed_tenant"] = "acme"
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"etag", b'"v1"')]
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for index, chunk in enumerate(chunks):
            body = embed_placeholder(scope, "top").encode() if chunk is None else chunk
            more = index < len(chunks) - 1
            await send({"type": "http.response.body", "body": body, "more_body": more})

    return EmbedASGIMiddleware(app, issuer=test_issuer(), resolver=from_environ())


def test_asgi_undrawn_page_goes_on_as_sent_without_an_exchange(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asgi_module, "Exchange", _no_exchange)
    sent = run_asgi(asgi_page([PAGE], length=len(PAGE)))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert (b"etag", b'"v1"') in sent[0]["headers"]
    assert (b"content-length", str(len(PAGE)).encode()) in sent[0]["headers"]
    assert sent[1]["body"] == PAGE


def test_asgi_undrawn_page_longer_than_declared_is_still_cut() -> None:
    sent = run_asgi(asgi_page([PAGE], length=10))
    assert b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body") == PAGE[:10]


def test_asgi_nonce_drawn_after_the_first_chunk_still_gets_its_token() -> None:
    sent = run_asgi(asgi_page([b"<p>", None, b"</p>"]))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    token = body.removeprefix(b"<p>").removesuffix(b"</p>")
    assert decode(token)["sub"] == "acme"
    headers = dict(sent[0]["headers"])
    assert headers[b"cache-control"] == b"private, no-store"
    assert b"etag" not in headers and b"content-length" not in headers


def test_asgi_page_with_placeholder_in_one_message_is_filled() -> None:
    sent = run_asgi(asgi_page([None]))
    assert decode(sent[1]["body"])["resource"] == "top"
    assert dict(sent[0]["headers"])[b"content-length"] == str(len(sent[1]["body"])).encode()


def wsgi_page(body: list[bytes | None], length: int | None = None) -> tuple[Any, list[Any]]:
    returned: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ["embed.tenant"] = "acme"
        headers = [("Content-Type", "text/html"), ("ETag", '"v1"')]
        if length is not None:
            headers.append(("Content-Length", str(length)))
        start_response("200 OK", headers)
        out = [embed_placeholder(environ, "top").encode() if b is None else b for b in body]
        returned.append(out)
        return out

    return EmbedWSGIMiddleware(app, issuer=test_issuer(), resolver=from_environ()), returned


def call_wsgi(app: Any) -> tuple[str, list[tuple[str, str]], Iterable[bytes]]:
    started: list[Any] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "", "wsgi.url_scheme": "http"}
    environ |= {"SERVER_NAME": "x", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1"}
    result = app(environ, lambda status, headers, exc_info=None: started.append((status, headers)))
    return started[0][0], started[0][1], result


def test_wsgi_undrawn_list_is_the_apps_own_iterable() -> None:
    app, returned = wsgi_page([PAGE], length=len(PAGE))
    status, headers, result = call_wsgi(app)
    assert result is returned[0]
    assert status == "200 OK" and ("ETag", '"v1"') in headers


def test_wsgi_undrawn_list_longer_than_declared_is_still_cut() -> None:
    app, _ = wsgi_page([PAGE], length=10)
    assert b"".join(call_wsgi(app)[2]) == PAGE[:10]


def test_wsgi_drawn_list_gets_its_token_and_personal_headers() -> None:
    app, _ = wsgi_page([b"<p>", None, b"</p>"])
    _, headers, result = call_wsgi(app)
    body = b"".join(result)
    assert decode(body[3:-4])["sub"] == "acme"
    fields = {k.lower(): v for k, v in headers}
    assert fields["cache-control"] == "private, no-store" and "etag" not in fields
    assert "content-length" not in fields  # its first chunk went out before the last was rewritten


def test_minting_builds_a_request_only_for_a_claims_hook() -> None:
    assert test_issuer().reads_request is False
    seen: list[Any] = []

    def claims(tenant: Any, resource: str | None, request: Any) -> dict[str, Any]:
        seen.append(request)
        return {"sub": tenant.id}

    issuer = test_issuer(claims=claims)
    assert issuer.reads_request is True

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ["embed.tenant"] = "acme"
        start_response("200 OK", [("Content-Type", "text/html")])
        return [embed_placeholder(environ, "top").encode()]

    _, _, result = call_wsgi(EmbedWSGIMiddleware(app, issuer=issuer, resolver=from_environ()))
    assert decode(b"".join(result))["sub"] == "acme"
    assert len(seen) == 1 and seen[0] is not None and seen[0].path == "/"


_NAMES = st.sampled_from(
    [
        "Content-Length",
        "ETag",
        "Last-Modified",
        "Cache-Control",
        "Expires",
        "Surrogate-Control",
        "Cloudflare-CDN-Cache-Control",
        "X-Accel-Expires",
        "Transfer-Encoding",
        "Referrer-Policy",
        "Vary",
        "Content-Type",
        "X-Other",
    ]
)


@given(
    st.lists(st.tuples(_NAMES, st.sampled_from(["a", "1", "Cookie", "*"]))),
    st.none() | st.integers(0, 10_000),
    st.lists(st.sampled_from(["Cookie", "Host", "X-Tenant", "*"]), max_size=2),
)
def test_one_scan_head_equals_the_two_edits(
    headers: list[tuple[str, str]], length: int | None, vary: list[str]
) -> None:
    expected = list(headers)
    policy.mark_body_changed(expected, length)
    policy.mark_carries_token(expected, vary)
    got = list(headers)
    policy.mark_token_page(got, length, vary)
    assert got == expected


#: Attacker text on a page whose app drew no nonce: every spelling the engine knows and guessed nonces.
ATTACK = "".join(f"<p>{text}</p>" for text in SPELLINGS.values()).encode()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_asgi_attacker_text_on_an_undrawn_page_gets_no_token(stream: bool) -> None:
    """The shortcut sends such a page as written; streamed, the exchange leaves it as written too."""
    chunks = [ATTACK[:40], ATTACK[40:]] if stream else [ATTACK]
    sent = run_asgi(asgi_page(list(chunks), length=len(ATTACK)))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert body == ATTACK and not TOKEN.search(body)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_wsgi_attacker_text_on_an_undrawn_page_gets_no_token(stream: bool) -> None:
    chunks = [ATTACK[:40], ATTACK[40:]] if stream else [ATTACK]
    app, _ = wsgi_page(list(chunks), length=len(ATTACK))
    body = b"".join(call_wsgi(app)[2])
    assert body == ATTACK and not TOKEN.search(body)


def test_asgi_attacker_text_beside_the_apps_own_placeholder_gets_one_token() -> None:
    """With the nonce drawn the whole page goes through the exchange: only the app's slot is filled."""
    sent = run_asgi(asgi_page([ATTACK, None, ATTACK]))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert body.startswith(ATTACK) and body.endswith(ATTACK)
    assert len(TOKEN.findall(body)) == 1 and decode(body[len(ATTACK) : -len(ATTACK)])["sub"] == "acme"
