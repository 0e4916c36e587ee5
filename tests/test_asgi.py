"""ASGI-only behaviour: message sequences, extensions, scopes, resolvers on the loop, real uvicorn."""

from __future__ import annotations

import asyncio
import http.client
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.requests import Request as StarletteRequest
from werkzeug.wrappers import Request

from embed_middleware import (
    ConfigurationError,
    EmbedASGIMiddleware,
    HeaderDelivery,
    Tenant,
    embed_placeholder,
    first_of,
    from_environ,
    from_header,
)
from tests.support.app_placeholders import nonce_of, own, own_chunks
from tests.support.parity import call_asgi, check_sequence, http_scope
from tests.support.tokens import TOKEN
from tests.support.uvicorn_thread import uvicorn_in_thread
from tests.support.wsgi_helpers import decode, test_issuer

pytestmark = pytest.mark.anyio

HTML_HEADERS = [(b"content-type", b"text/html; charset=utf-8")]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def wrap(app: Any, **options: Any) -> EmbedASGIMiddleware:
    options.setdefault("issuer", test_issuer())
    options.setdefault("resolver", from_environ())
    return EmbedASGIMiddleware(app, **options)


def marking(tenant: str = "acme") -> Any:
    def mark(scope: dict[str, Any]) -> None:
        scope.setdefault("state", {})["embed_tenant"] = tenant

    return mark


async def test_first_chunk_leaves_before_the_app_finishes() -> None:
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("state", {})["embed_tenant"] = "acme"
        await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS})
        await send({"type": "http.response.body", "body": b"<html><p>first</p>", "more_body": True})
        await release.wait()
        last = own(b"<JWT_TOKEN></html>", nonce_of(scope))
        await send({"type": "http.response.body", "body": last, "more_body": False})

    communicator = ApplicationCommunicator(wrap(app), http_scope())
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(timeout=2)
    first = await communicator.receive_output(timeout=2)
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert first == {"type": "http.response.body", "body": b"<html><p>first</p>", "more_body": True}
    assert not release.is_set(), "the first chunk left while the app was still waiting"
    headers = dict(start["headers"])
    assert b"content-length" not in headers
    assert headers[b"cache-control"] == b"private, no-store"
    release.set()
    last = await communicator.receive_output(timeout=2)
    assert last["more_body"] is False and decode(last["body"][: -len(b"</html>")])["sub"] == "acme"
    assert await communicator.receive_nothing()
    await communicator.wait()


async def test_many_body_messages_are_streamed_one_by_one() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("state", {})["embed_tenant"] = "acme"
        nonce = nonce_of(scope)  # the page has the app's placeholders, so every message is scanned
        await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS})
        for index in range(50):
            body = own(b"<p>%d <JWT_TOKEN:a></p>" % index, nonce)
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    messages = await call_asgi(wrap(app), http_scope())
    check_sequence(messages)
    assert len(messages) == 52, "never buffered whole: one message out per message in"
    tokens = TOKEN.findall(b"".join(m.get("body", b"") for m in messages))
    assert len(tokens) == 50 and len(set(tokens)) == 1, "one token for the resource, in every message"


@pytest.mark.parametrize("content_type", [b"text/html", b"application/pdf"])
async def test_pathsend_goes_through_untouched(content_type: bytes, caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert "http.response.pathsend" in scope["extensions"], "the extension is left for the app"
        headers = [(b"content-type", content_type), (b"content-length", b"10")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": "/srv/static/file"})

    scope = http_scope()
    scope["extensions"] = {"http.response.pathsend": {}}
    with caplog.at_level(logging.WARNING, logger="embed_middleware"):
        messages = await call_asgi(wrap(app, resolver=lambda request: Tenant("acme")), scope)
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.pathsend"]
    assert messages[1] == {"type": "http.response.pathsend", "path": "/srv/static/file"}
    assert (b"content-length", b"10") in messages[0]["headers"]
    warned = "not rewritten" in caplog.text
    assert warned == (content_type == b"text/html")


async def test_zerocopysend_goes_through_untouched() -> None:
    sent = {"type": "http.response.zerocopysend", "file": 3, "count": 10, "more_body": False}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"video/mp4")]}
        )
        await send(dict(sent))

    messages = await call_asgi(wrap(app), http_scope())
    assert messages[1] == sent


async def test_trailers_are_declared_and_passed_on() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("state", {})["embed_tenant"] = "acme"
        await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS, "trailers": True})
        body = embed_placeholder(scope, None).encode()
        await send({"type": "http.response.body", "body": body, "more_body": False})
        await send(
            {"type": "http.response.trailers", "headers": [(b"x-checksum", b"1")], "more_trailers": False}
        )

    messages = await call_asgi(wrap(app), http_scope())
    assert messages[0]["trailers"] is True
    assert decode(messages[1]["body"])["sub"] == "acme"
    assert messages[2]["type"] == "http.response.trailers"
    check_sequence(messages)


async def test_early_hints_and_unknown_messages_pass_unchanged() -> None:
    hint = {"type": "http.response.early_hint", "links": [b'</style.css>; rel="preload"']}
    unknown = {"type": "http.response.something_new", "value": 1}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(dict(hint))
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok", "more_body": True})
        await send(dict(unknown))
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    messages = await call_asgi(wrap(app), http_scope())
    assert messages[0] == hint
    assert unknown in messages


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
async def test_other_scopes_pass_straight_through(kind: str) -> None:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope=scope, receive=receive, send=send)

    scope = {"type": kind, "asgi": {"version": "3.0"}}

    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: dict[str, Any]) -> None:
        return None

    await wrap(app)(scope, receive, send)
    assert seen == {"scope": scope, "receive": receive, "send": send}


async def test_asgi2_apps_are_accepted() -> None:
    class Legacy:
        def __init__(self, scope: dict[str, Any]) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            self.scope.setdefault("state", {})["embed_tenant"] = "acme"
            await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS})
            await send({"type": "http.response.body", "body": embed_placeholder(self.scope, None).encode()})

    messages = await call_asgi(wrap(Legacy), http_scope())
    assert decode(messages[1]["body"])["sub"] == "acme"


async def test_a_send_that_raises_after_disconnect_propagates() -> None:
    calls: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("state", {})["embed_tenant"] = "acme"
        await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS})
        await send({"type": "http.response.body", "body": b"<p>one</p>", "more_body": True})
        await send({"type": "http.response.body", "body": b"<p>two</p>", "more_body": False})

    async def send(message: dict[str, Any]) -> None:
        calls.append(message["type"])
        if message["type"] == "http.response.body":
            raise OSError("client went away")

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    with pytest.raises(OSError, match="client went away"):
        await wrap(app)(http_scope(), receive, send)
    assert calls == ["http.response.start", "http.response.body"], "no second start, nothing swallowed"


async def test_app_returning_without_finishing_its_body_loses_nothing() -> None:
    sent: list[bytes] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("state", {})["embed_tenant"] = "acme"
        await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS})
        # The start of the app's own placeholder: held back as it may still complete.
        sent.append(b"<p>held " + embed_placeholder(scope, "a").encode()[:-3])
        await send({"type": "http.response.body", "body": sent[0], "more_body": True})

    messages = await call_asgi(wrap(app), http_scope())
    check_sequence(messages)
    body = b"".join(m["body"] for m in messages[1:])
    assert body == sent[0]


async def test_sync_resolver_runs_off_the_event_loop_and_builtins_inline() -> None:
    threads: dict[str, int] = {}

    def blocking(request: Request) -> Tenant:
        threads["custom"] = threading.get_ident()
        return Tenant("acme")

    def lookup(raw: str) -> Tenant:
        threads["lookup"] = threading.get_ident()
        return Tenant(raw)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        threads["loop"] = threading.get_ident()
        await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS})
        await send({"type": "http.response.body", "body": embed_placeholder(scope, None).encode()})

    await call_asgi(wrap(app, resolver=blocking), http_scope())
    await call_asgi(
        wrap(app, resolver=from_header("X-Tenant", lookup=lookup)), http_scope(headers=[("X-Tenant", "a")])
    )
    assert threads["custom"] != threads["loop"]
    assert threads["lookup"] != threads["loop"], "a callable lookup may block too"
    plain = first_of(from_header("X-Tenant"))
    messages = await call_asgi(wrap(app, resolver=plain), http_scope(headers=[("X-Tenant", "b")]))
    assert decode(messages[1]["body"])["sub"] == "b"


def test_resolvers_get_the_same_request_type_and_api_as_under_wsgi() -> None:
    seen: list[Request] = []

    def resolver(request: Request) -> Tenant:
        seen.append(request)
        return Tenant("acme")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS})
        await send({"type": "http.response.body", "body": embed_placeholder(scope, None).encode()})

    scope = http_scope("/dash?x=1&q=%C3%A9", headers=[("Cookie", "a=1"), ("Cookie", "b=2"), ("X-Req", "v")])
    scope["query_string"] = b"x=1&q=\xc3\xa9&raw=\xff"  # a stray non-ASCII byte must not crash anything
    messages = asyncio.run(call_asgi(wrap(app, resolver=resolver), scope))
    assert decode(messages[1]["body"])["sub"] == "acme", "the resolver ran because a token was due"
    (request,) = seen
    assert isinstance(request, Request)
    assert request.path == "/dash" and request.args["x"] == "1" and request.args["q"] == "é"
    assert request.cookies.to_dict() == {"a": "1", "b": "2"}, "HTTP/2 split cookies are rejoined"
    assert request.headers["X-Req"] == "v" and request.host == "testserver"
    assert request.environ["asgi.scope"] is scope


async def test_starlette_request_state_marks_the_tenant() -> None:
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def page(request: StarletteRequest) -> str:
        request.state.embed_tenant = Tenant("globex", locked_claims={"workspace_id": "ws-g"})
        return f'<iframe src="x?token={embed_placeholder(request, "top")}">'

    app.add_middleware(EmbedASGIMiddleware, issuer=test_issuer(), resolver=from_environ())
    messages = await call_asgi(app, http_scope())
    claims = decode(TOKEN.search(messages[1]["body"]).group(0))  # type: ignore[union-attr]
    assert claims["sub"] == "globex" and claims["workspace_id"] == "ws-g" and claims["resource"] == "top"
    headers = dict(messages[0]["headers"])
    assert int(headers[b"content-length"]) == len(messages[1]["body"])


# -- a real server --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uvicorn_server() -> Iterator[int]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        scope.setdefault("state", {})["embed_tenant"] = "acme"
        nonce = nonce_of(scope)
        await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS})
        if scope["path"] == "/streamed":
            for part in own_chunks((b"<p>one <JWT_", b"TOKEN:a></p>", b"<p><JWT_TOKEN:b></p>"), nonce):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await send({"type": "http.response.body", "body": own(b"<p><JWT_TOKEN:a></p>", nonce)})

    with uvicorn_in_thread(wrap(app)) as port:
        yield port


@pytest.mark.parametrize("path", ["/single", "/streamed"])
def test_real_uvicorn_accepts_our_framing(uvicorn_server: int, path: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", uvicorn_server, timeout=5)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 200
    claims = [decode(t) for t in TOKEN.findall(body)]
    assert {c["sub"] for c in claims} == {"acme"} and len(claims) == (1 if path == "/single" else 2)
    if path == "/single":
        assert response.getheader("Content-Length") == str(len(body)), "uvicorn enforces Content-Length"
    else:
        assert response.getheader("Content-Length") is None
        assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Cache-Control") == "private, no-store"
    assert response.getheader("X-Accel-Expires") == "0"


async def test_a_hung_async_resolver_fails_closed_after_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    async def hung(request: Any) -> Tenant:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS})
        await send({"type": "http.response.body", "body": own(b"<p><JWT_TOKEN></p>", nonce_of(scope))})

    started = time.monotonic()
    messages = await call_asgi(wrap(app, resolver=hung, resolver_timeout=0.2), http_scope("/"))
    assert 0.2 <= time.monotonic() - started < 2
    assert messages[0]["status"] == 500
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    assert b"JWT_TOKEN" not in body and b"could not prepare the embed" in body
    assert any(isinstance(r.exc_info[1].__cause__, TimeoutError) for r in caplog.records if r.exc_info)


def test_resolver_timeout_is_validated() -> None:
    for bad in (0, -1, 301, "5", True):
        with pytest.raises(ConfigurationError, match="resolver_timeout"):
            wrap(lambda *a: None, resolver_timeout=bad)


async def test_a_streamed_response_that_is_not_rewritten_ends_exactly_once() -> None:
    """With a header token, JSON sent in several messages passes through; the end is not repeated."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("state", {})["embed_tenant"] = "acme"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        await send({"type": "http.response.body", "body": b"}", "more_body": False})

    messages = await call_asgi(wrap(app, header=HeaderDelivery()), http_scope("/api"))
    check_sequence(messages)
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert [m["body"] for m in bodies] == [b"{", b"}"]
    assert decode(dict(messages[0]["headers"])[b"x-embed-token"])["sub"] == "acme"


@pytest.mark.parametrize("where", ["scope", "state"])
@pytest.mark.parametrize("lookup", [None, {"acme": Tenant("acme")}, lambda raw: Tenant(raw)])
async def test_from_environ_with_its_own_key_finds_the_mark(where: str, lookup: Any) -> None:
    """from_environ(key=...) reads that key under ASGI too: scope[key] or request.state's same name."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if where == "scope":
            scope["my.key"] = "acme"
        else:
            scope.setdefault("state", {})["my.key"] = "acme"
        await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS})
        await send({"type": "http.response.body", "body": embed_placeholder(scope, "top").encode()})

    messages = await call_asgi(wrap(app, resolver=from_environ("my.key", lookup=lookup)), http_scope())
    assert decode(messages[1]["body"])["sub"] == "acme"


async def test_a_whole_page_keeps_the_apps_own_header_bytes_and_lowercases_names() -> None:
    """The one-step page path sends back the app's kept fields as the app sent them (names lowercased,
    as the spec wants, even from an app that wrote them in capitals), and ours beside them."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("state", {})["embed_tenant"] = "acme"
        body = own(b"<p><JWT_TOKEN:top></p>", nonce_of(scope))
        headers = [
            (b"Content-Type", b"text/html; charset=utf-8"),
            (b"X-Trace", b"\xe9t\xe9"),  # latin-1, not UTF-8: must come back byte for byte
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    messages = await call_asgi(wrap(app), http_scope())
    check_sequence(messages)
    headers = messages[0]["headers"]
    assert all(name == name.lower() for name, _ in headers)
    assert (b"content-type", b"text/html; charset=utf-8") in headers
    assert (b"x-trace", b"\xe9t\xe9") in headers
    assert (b"cache-control", b"private, no-store") in headers
    body = messages[1]["body"]
    assert dict(headers)[b"content-length"] == str(len(body)).encode()
    assert decode(body.removeprefix(b"<p>").removesuffix(b"</p>").decode())["sub"] == "acme"


@pytest.mark.parametrize("options", [{}, {"unsafe_legacy_placeholders": True}])
async def test_header_items_the_app_changes_after_sending_change_nothing(options: dict[str, Any]) -> None:
    """ASGI lets an app send its fields as [name, value] lists or bytearrays. One that edits them after
    ``http.response.start`` (reusing its objects) must not smuggle a field past the head rules: the page
    carrying a token has one Cache-Control, ours, and every field goes out as bytes (found by an
    adversarial review of the path that reuses the app's header bytes; a bytearray Content-Type used
    to raise TypeError)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("state", {})["embed_tenant"] = "acme"
        field = [b"x-note", b"ok"]
        value = bytearray(b"text/html")
        await send(
            {"type": "http.response.start", "status": 200, "headers": [[b"content-type", value], field]}
        )
        body = own(b"<p><JWT_TOKEN:top></p>", nonce_of(scope))
        field[0], field[1] = b"cache-control", b"public, max-age=3600"
        value[:] = b"text/plain"
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    messages = await call_asgi(wrap(app, **options), http_scope())
    headers = [(bytes(name), bytes(value)) for name, value in messages[0]["headers"]]
    assert [value for name, value in headers if name == b"cache-control"] == [b"private, no-store"]
    assert all(type(name) is bytes and type(value) is bytes for name, value in messages[0]["headers"])


@pytest.mark.parametrize("kind", ["plain def", "from_environ lookup"])
async def test_a_hung_thread_resolver_fails_closed_without_waiting_for_its_thread(kind: str) -> None:
    """A plain ``def`` resolver (and a marked value's blocking lookup) runs in a worker thread; past
    ``resolver_timeout`` the page is a clean 500 at once, while the thread is still stuck."""
    release = threading.Event()

    def stuck(_: Any) -> Tenant:
        release.wait(10)
        return Tenant("acme")

    resolver = stuck if kind == "plain def" else from_environ(lookup=stuck)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["embed.tenant"] = "acme"
        await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS})
        await send({"type": "http.response.body", "body": own(b"<p><JWT_TOKEN></p>", nonce_of(scope))})

    started = time.monotonic()
    try:
        messages = await call_asgi(wrap(app, resolver=resolver, resolver_timeout=0.2), http_scope("/"))
        assert 0.2 <= time.monotonic() - started < 2
        assert not release.is_set()  # the thread was abandoned, not waited for
    finally:
        release.set()
    assert messages[0]["status"] == 500
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    assert b"JWT_TOKEN" not in body and b"eyJ" not in body
