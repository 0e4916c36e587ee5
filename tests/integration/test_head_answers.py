"""HEAD on the middleware's own answers (token endpoint, JWKS, our 500, the verifier's refusals): no body
on the wire, and no token minted for nobody.

wsgiref, werkzeug and waitress send whatever body a WSGI app returns, HEAD or not; a body after a HEAD
response is read by the client as the start of the next response on the connection, so every own answer
(token endpoint, JWKS, our 500) must be empty on HEAD. Checked in-process and on real servers over one
keep-alive connection: HEAD, then GET, and the GET's answer must parse.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import waitress
from cryptography.hazmat.primitives.asymmetric import ec

from embed_middleware import (
    EmbedASGIMiddleware,
    EmbedWSGIMiddleware,
    HeaderDelivery,
    IssueEvent,
    KeySet,
    SigningKey,
    Tenant,
    TokenIssuer,
    Verifier,
    VerifyingASGIMiddleware,
    VerifyingWSGIMiddleware,
    from_cookie,
    resource_from_path,
)
from tests.support.parity import call_asgi, http_scope
from tests.support.uvicorn_thread import uvicorn_in_thread
from tests.support.wsgi_helpers import KEY, run
from tests.support.wsgi_thread import wsgi_in_thread

TENANTS = {"signed:acme": Tenant("acme")}


def page_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<p>page</p>"]


async def asgi_page(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
    await send({"type": "http.response.body", "body": b"<p>page</p>"})


def wsgi(minted: list[IssueEvent], **options: Any) -> EmbedWSGIMiddleware:
    return EmbedWSGIMiddleware(
        page_app,
        issuer=TokenIssuer(KEY, resources=["top"], on_issue=minted.append),
        resolver=from_cookie("session", lookup=TENANTS.get),
        token_endpoint="/embed/token",
        **options,
    )


def test_head_on_the_token_endpoint_mints_nothing_under_wsgi_and_asgi() -> None:
    minted: list[IssueEvent] = []
    cookie = {"HTTP_COOKIE": "session=signed:acme"}
    status, headers, body = run(wsgi(minted), "/embed/token", "HEAD", QUERY_STRING="resource=top", **cookie)
    assert status.startswith("200") and body == b"" and minted == []
    assert "Content-Length" not in dict(headers), "its length is only known once a token exists"
    status, _, body = run(wsgi(minted), "/embed/token", "HEAD", QUERY_STRING="resource=nope", **cookie)
    assert status.startswith("404") and body == b"" and minted == []

    asgi = EmbedASGIMiddleware(
        asgi_page,
        issuer=TokenIssuer(KEY, resources=["top"], on_issue=minted.append),
        resolver=from_cookie("session", lookup=TENANTS.get),
        token_endpoint="/embed/token",
    )
    messages = asyncio.run(
        call_asgi(asgi, http_scope("/embed/token?resource=top", "HEAD", [("cookie", "session=signed:acme")]))
    )
    assert messages[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in messages[1:]) == b"" and minted == []


def test_head_on_the_jwks_and_on_our_500_has_no_body() -> None:
    key = SigningKey(ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    jwks = EmbedWSGIMiddleware(
        page_app,
        issuer=TokenIssuer(KeySet(key), resources=["top"]),
        resolver=from_cookie("session", lookup=TENANTS.get),
        jwks_path="/.well-known/jwks.json",
    )
    status, headers, body = run(jwks, "/.well-known/jwks.json", "HEAD")
    assert status.startswith("200") and body == b"" and int(dict(headers)["Content-Length"]) > 0

    def broken(request: Any) -> Tenant | None:
        raise RuntimeError("database down")

    failing = EmbedWSGIMiddleware(
        page_app,
        issuer=TokenIssuer(KEY, resources=["top"]),
        resolver=broken,
        header=HeaderDelivery(resource="top"),
    )
    status, _, body = run(failing, "/", "HEAD")
    assert status.startswith("500") and body == b""
    status, _, body = run(failing, "/", "GET")
    assert status.startswith("500") and body.startswith(b"Internal Server Error")


# -- on the wire ---------------------------------------------------------------------------------------


def exchange_on_one_connection(port: int) -> list[bytes]:
    """HEAD then GET of the token endpoint on one keep-alive connection (a new one only if the server
    said ``Connection: close``); the raw status lines seen. A body after the HEAD would be read here as
    the GET's status line."""
    lines = []
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        for method in ("HEAD", "GET"):
            sock.sendall(
                f"{method} /embed/token?resource=top HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Cookie: session=signed:acme\r\n\r\n".encode()
            )
            head = _read_head(sock)
            lines.append(head.split(b"\r\n", 1)[0])
            if method == "HEAD" and (_field(head, b"connection") or b"").lower() == b"close":
                sock.close()
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            if method == "GET":
                length = int(_field(head, b"content-length") or b"0")
                body = _read_exactly(sock, length)
                assert body.startswith(b'{"token": "eyJ'), body
    finally:
        sock.close()
    return lines


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def _read_exactly(sock: socket.socket, length: int) -> bytes:
    data = b""
    while len(data) < length:
        chunk = sock.recv(length - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _field(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


@contextlib.contextmanager
def waitress_server(app: Any) -> Iterator[int]:
    server = waitress.create_server(app, host="127.0.0.1", port=0)
    port = int(server.effective_port)  # type: ignore[union-attr]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.close()
        thread.join(5)


@pytest.mark.parametrize("server", ["werkzeug", "waitress", "uvicorn"])
def test_head_keeps_a_keep_alive_connection_in_step(server: str) -> None:
    minted: list[IssueEvent] = []
    if server == "uvicorn":
        app: Any = EmbedASGIMiddleware(
            asgi_page,
            issuer=TokenIssuer(KEY, resources=["top"], on_issue=minted.append),
            resolver=from_cookie("session", lookup=TENANTS.get),
            token_endpoint="/embed/token",
        )
        serving = uvicorn_in_thread(app)
    else:
        serving = (
            wsgi_in_thread(wsgi(minted), keep_alive=True)
            if server == "werkzeug"
            else waitress_server(wsgi(minted))
        )
    with serving as port:
        lines = exchange_on_one_connection(port)
    assert lines == [b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK"], lines
    assert len(minted) == 1, "only the GET minted"


def test_head_on_a_verifier_rejection_has_no_body() -> None:
    verifier = Verifier(KEY)
    options: dict[str, Any] = {"verifier": verifier, "resource": resource_from_path("/embed/")}
    wsgi_gate = VerifyingWSGIMiddleware(page_app, **options)
    status, headers, body = run(wsgi_gate, "/embed/top", "HEAD")
    assert status.startswith("401") and body == b"" and "WWW-Authenticate" in dict(headers)
    status, _, body = run(wsgi_gate, "/embed/top", "GET")
    assert status.startswith("401") and body == b'{"error": "missing_token"}'

    asgi_gate = VerifyingASGIMiddleware(asgi_page, **options)
    messages = asyncio.run(call_asgi(asgi_gate, http_scope("/embed/top", "HEAD")))
    assert messages[0]["status"] == 401
    assert b"".join(m.get("body", b"") for m in messages[1:]) == b""
