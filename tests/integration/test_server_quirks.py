"""What real servers and frameworks do that the specs allow or get wrong (issue 13), reproduced in-process.

Each test drives an adapter the way one server or framework was seen to (the compatibility matrix in
tests/system/compat runs the real ones): granian reads a WSGI app's head as soon as the call returns; Sanic
sends ASGI headers as a generator; Quart ends every body with an extra empty message; Litestar passes
the app by keyword; daphne and the frameworks on it return after ``http.disconnect``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from embed_middleware import EmbedASGIMiddleware, EmbedWSGIMiddleware, from_environ
from tests.support.app_placeholders import own, own_chunks
from tests.support.parity import call_asgi, check_sequence, http_scope
from tests.support.wsgi_helpers import HTML, decode, middleware, test_issuer

PAGE = b"<p><JWT_TOKEN:top></p>"


def asgi(app: Any, **options: Any) -> EmbedASGIMiddleware:
    options.setdefault("issuer", test_issuer())
    options.setdefault("resolver", from_environ())
    return EmbedASGIMiddleware(app, **options)


def start_of(messages: list[dict[str, Any]]) -> tuple[int, dict[str, str]]:
    headers = {k.decode().lower(): v.decode() for k, v in messages[0]["headers"]}
    return messages[0]["status"], headers


def body_of(messages: list[dict[str, Any]]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


# -- granian (WSGI): status and headers are read when the app call returns, before iterating ---------------


def strict_server(app: Any, method: str = "GET") -> tuple[str, list[tuple[str, str]], bytes, list[str]]:
    """Calls ``app`` as granian does: the head must be there once the call returns."""
    environ = EnvironBuilder(path="/", method=method).get_environ()
    seen: dict[str, Any] = {}
    log: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, headers
        return lambda data: None

    result = app(environ, start_response)
    assert "status" in seen, "the server reads the head now, and there is none"
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: log.append("no close"))()
        log.append("closed")
    return seen["status"], seen["headers"], body, log


def streaming_app(
    status: str, headers: list[tuple[str, str]], chunks: Iterable[bytes], log: list[str]
) -> Any:
    class Body:
        def __iter__(self) -> Iterator[bytes]:
            for chunk in chunks:
                log.append("yield")
                yield chunk

        def close(self) -> None:
            log.append("app closed")

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        environ["embed.tenant"] = "acme"
        chunks_ = own_chunks(list(chunks), environ)
        nonlocal_chunks[:] = chunks_
        start_response(status, headers)
        return Body()

    nonlocal_chunks: list[bytes] = list(chunks)
    chunks = nonlocal_chunks
    return app


@pytest.mark.parametrize(
    ("status", "headers", "chunks"),
    [
        ("200 OK", [("Content-Type", HTML)], [b"<p>", b"<JWT_TO", b"KEN:top>", b"</p>"]),
        ("302 Found", [("Content-Type", HTML), ("Location", "/next")], [b"<a href=/next>next</a>"]),
        ("404 Not Found", [("Content-Type", HTML), ("Set-Cookie", "a=1")], [b"", b"<p>gone</p>"]),
    ],
    ids=["page", "redirect", "not-found"],
)
def test_the_head_is_decided_before_the_app_call_returns(
    status: str, headers: list[tuple[str, str]], chunks: list[bytes]
) -> None:
    log: list[str] = []
    got_status, got_headers, body, closed = strict_server(
        middleware(streaming_app(status, headers, chunks, log))
    )
    assert got_status == status
    names = {k.lower() for k, _ in got_headers}
    assert {k.lower() for k, _ in headers} - {"content-length"} <= names, "no header is lost"
    assert log[-1] == "app closed" and closed == ["closed"]
    if status == "200 OK":
        (token,) = [decode(t) for t in body.split(b"<p>")[1].split(b"</p>")[:1]]
        assert token["resource"] == "top"
        assert dict(got_headers)["Cache-Control"] == "private, no-store"


def test_the_apps_iterable_is_closed_when_reading_its_first_output_fails() -> None:
    log: list[str] = []

    class Failing:
        def __iter__(self) -> Iterator[bytes]:
            raise RuntimeError("template error")
            yield b""

        def close(self) -> None:
            log.append("closed")

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", HTML)])
        return Failing()

    with pytest.raises(RuntimeError, match="template error"):
        middleware(app)(EnvironBuilder().get_environ(), lambda *a: None)
    assert log == ["closed"]


def test_a_lazy_start_response_is_still_seen_before_the_call_returns() -> None:
    """PEP 3333 lets a generator app call start_response on its first iteration: that happens inside
    the middleware's call now, so a strict server still finds the head (JSON: untouched)."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("201 Created", [("Content-Type", "application/json")])
        yield b'{"a": 1}'

    status, _, body, _ = strict_server(middleware(app))
    assert (status, body) == ("201 Created", b'{"a": 1}')


# -- Sanic: headers as a generator, readable once ----------------------------------------------------------


def sanic_like(content_type: bytes, body: bytes) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["embed.tenant"] = "acme"
        payload = own(body, scope)
        headers = ((k, v) for k, v in [(b"content-type", content_type), (b"x-app", b"1")])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    return app


@pytest.mark.parametrize("content_type", [b"text/html; charset=utf-8", b"application/json"])
def test_generator_headers_are_read_once(content_type: bytes) -> None:
    messages = asyncio.run(call_asgi(asgi(sanic_like(content_type, PAGE)), http_scope()))
    check_sequence(messages)
    _, headers = start_of(messages)
    assert headers["content-type"] == content_type.decode() and headers["x-app"] == "1"
    if content_type.startswith(b"text/html"):
        assert b"JWT_TOKEN" not in body_of(messages) and headers["cache-control"] == "private, no-store"


# -- Quart: {body, more_body: True} then an empty final message --------------------------------------------


def quart_like(body: bytes, extra_headers: list[tuple[bytes, bytes]] = (), *, own_body: bool = True) -> Any:  # type: ignore[assignment]
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["embed.tenant"] = "acme"
        payload = own(body, scope) if own_body else body
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers + list(extra_headers)})
        await send({"type": "http.response.body", "body": payload, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


def test_a_declared_length_ends_the_body_under_asgi_as_under_wsgi(caplog: pytest.LogCaptureFixture) -> None:
    messages = asyncio.run(call_asgi(asgi(quart_like(PAGE)), http_scope()))
    check_sequence(messages)
    _, headers = start_of(messages)
    body = body_of(messages)
    assert headers["content-length"] == str(len(body)), "a page seen whole gets its exact length"
    assert decode(body[3:-4])["resource"] == "top"
    assert [m for m in messages if m["type"] == "http.response.body"][-1]["more_body"] is False
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_page_without_placeholders_keeps_its_cache_headers_under_the_quart_pattern() -> None:
    extra = [(b"cache-control", b"public, max-age=60"), (b"etag", b'"v1"')]
    messages = asyncio.run(call_asgi(asgi(quart_like(b"<p>plain</p>", extra, own_body=False)), http_scope()))
    check_sequence(messages)
    _, headers = start_of(messages)
    assert headers["cache-control"] == "public, max-age=60" and headers["etag"] == '"v1"'
    assert headers["content-length"] == "12" and body_of(messages) == b"<p>plain</p>"


# -- Litestar: DefineMiddleware(EmbedASGIMiddleware, ...) passes app= by keyword ----------------------------


def test_the_app_may_be_passed_by_keyword() -> None:
    wrapped = EmbedASGIMiddleware(
        app=sanic_like(b"text/html", PAGE), issuer=test_issuer(), resolver=from_environ()
    )
    messages = asyncio.run(call_asgi(wrapped, http_scope()))
    assert b"JWT_TOKEN" not in body_of(messages)
    assert callable(
        EmbedWSGIMiddleware(app=lambda e, s: [], issuer=test_issuer(), resolver=from_environ()).app
    )
    with pytest.raises(TypeError, match="app to wrap"):
        EmbedASGIMiddleware(issuer=test_issuer(), resolver=from_environ())


# -- a client that leaves is not an app bug; an app that forgets to finish still is --------------------------


def leaving_app(*, listens: bool) -> Any:
    """Streams a page; ``listens``: stops at ``http.disconnect`` (Starlette, Quart, Litestar), or simply
    returns mid-body (a bug)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["embed.tenant"] = "acme"
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send(
            {"type": "http.response.body", "body": own(b"<p><JWT_TOKEN:top></p>", scope), "more_body": True}
        )
        if listens:
            while (await receive())["type"] != "http.disconnect":
                pass

    return app


async def leave_after_first_body(app: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    queue: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(http_scope(), receive, send)
    return messages


def test_no_warning_when_the_client_disconnects(caplog: pytest.LogCaptureFixture) -> None:
    messages = asyncio.run(leave_after_first_body(asgi(leaving_app(listens=True))))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert all(m.get("more_body", True) for m in messages[1:]), "nothing is finished for a client that left"


def test_no_warning_when_the_servers_send_fails_after_the_client_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> None:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            if sent:
                raise OSError("client disconnected")  # uvicorn's ClientDisconnected is an OSError
            sent.append(message)

        async def app(scope: dict[str, Any], receive: Any, send_: Any) -> None:
            scope["embed.tenant"] = "acme"
            await send_(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
            )
            try:
                for _ in range(3):
                    await send_(
                        {"type": "http.response.body", "body": b"<p>" + b"x" * 500, "more_body": True}
                    )
            except OSError:
                return  # the framework stops streaming to a client that left

        await asgi(app)(http_scope(), lambda: asyncio.sleep(0), send)

    asyncio.run(run())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_an_app_that_returns_without_finishing_still_warns(caplog: pytest.LogCaptureFixture) -> None:
    messages = asyncio.run(call_asgi(asgi(leaving_app(listens=False)), http_scope()))
    check_sequence(messages)
    assert "returned without finishing its response body" in caplog.text


# -- HEAD of a page: no length (the GET's is not known without minting) and none of the app's bytes ----------


def test_head_under_asgi_hands_the_server_no_body_to_count() -> None:
    """granian derives a Content-Length from the body it is given: the app's unrewritten page was it."""
    messages = asyncio.run(call_asgi(asgi(quart_like(PAGE)), http_scope(method="HEAD")))
    check_sequence(messages)
    _, headers = start_of(messages)
    assert "content-length" not in headers and body_of(messages) == b""
    assert headers["cache-control"] == "private, no-store"


def test_head_under_wsgi_passes_none_of_the_apps_body() -> None:
    """waitress writes whatever a HEAD answer yields (chunked, as it has no length)."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = own(PAGE, environ)
        start_response("200 OK", [("Content-Type", HTML), ("Content-Length", str(len(body)))])
        return [body]

    status, headers, body, _ = strict_server(middleware(app), method="HEAD")
    assert status == "200 OK" and body == b""
    assert "content-length" not in {k.lower() for k, _ in headers}
