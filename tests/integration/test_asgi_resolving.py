"""How ASGI resolves a page's tenant cheaply (issue 16, item 7), and that the shortcuts agree.

The request's headers: the one-pass build agrees with the joining one and with what a WSGI server
would present. An ``async def`` resolver: awaited in the request's task, with a timer armed only if it
suspends, and the same bound (counted from its call) as ``asyncio.timeout`` around it.

``ScopeRequest.headers`` takes the raw scope fields as they are when no name repeats and no value
carries CR, LF or NUL, and otherwise joins repeats and drops forbidden fields. Both paths must give the
same fields, and resolvers must read the same values as from asgiref's environ of the same scope.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.wrappers import Request

from embed_middleware import EmbedASGIMiddleware, Tenant
from embed_middleware._core.request_tokens import _bounded
from embed_middleware.scope_request import ScopeRequest, _headers, _joined_fields, environ_from_scope
from tests.support.app_placeholders import nonce_of, own
from tests.support.parity import call_asgi, http_scope
from tests.support.tokens import TOKEN
from tests.support.wsgi_helpers import HTML, decode, test_issuer

ACME = Tenant("acme")
WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")

NAMES = st.sampled_from([b"Host", b"host", b"cookie", b"Cookie", b"x-tenant", b"X-Tenant", b"accept"])
CLEAN_VALUES = st.binary(max_size=12).filter(lambda v: not any(c in v for c in b"\r\n\0"))
VALUES = st.one_of(CLEAN_VALUES, st.sampled_from([b"a\rb", b"a\nb", b"a\0b", b"\r\n", b"caf\xe9"]))


def _scope(fields: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": "/",
        "root_path": "",
        "query_string": b"",
        "headers": fields,
    }


@given(st.lists(st.tuples(NAMES, VALUES), max_size=6))
def test_the_one_pass_build_gives_the_joined_fields(fields: list[tuple[bytes, bytes]]) -> None:
    assert list(_headers(_scope(fields)).items()) == _joined_fields(fields)


@given(st.lists(st.tuples(NAMES, CLEAN_VALUES), max_size=6))
def test_resolvers_read_what_a_wsgi_server_would_present(fields: list[tuple[bytes, bytes]]) -> None:
    scope = _scope(fields)
    ours = ScopeRequest(scope)
    theirs = Request(environ_from_scope(scope))
    for name in ("host", "cookie", "x-tenant", "accept", "absent"):
        assert ours.headers.get(name) == theirs.headers.get(name)
    assert ours.cookies.to_dict() == theirs.cookies.to_dict()


def test_a_forbidden_byte_drops_only_its_field() -> None:
    headers = ScopeRequest(
        _scope([(b"x-tenant", b"acme\r\nX-Evil: 1"), (b"host", b"acme.example.com")])
    ).headers
    assert headers.get("x-tenant") is None
    assert headers.get("host") == "acme.example.com"


def test_repeats_join_as_a_server_joins_them() -> None:
    headers = ScopeRequest(
        _scope([(b"cookie", b"a=1"), (b"Cookie", b"b=2"), (b"accept", b"x"), (b"Accept", b"y")])
    )
    assert headers.headers.get("cookie") == "a=1; b=2"
    assert headers.headers.get("accept") == "x,y"
    assert headers.cookies.to_dict() == {"a": "1", "b": "2"}


# -- an async def resolver: bounded by a timer only when it suspends ------------------------------------


def _bound(resolving: Any, timeout: float = 1.0) -> Any:
    async def run() -> Any:
        return await _bounded(resolving, timeout)

    return asyncio.run(run())


def test_a_resolver_that_never_suspends_arms_no_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_timer(*args: Any) -> Any:
        raise AssertionError("a timer was armed for a resolver that returned at once")

    monkeypatch.setattr(asyncio, "timeout_at", no_timer)
    monkeypatch.setattr(asyncio, "timeout", no_timer)

    async def resolver() -> Tenant:
        return ACME

    assert _bound(resolver()) is ACME


@pytest.mark.parametrize("pause", [0.0, 0.01])
def test_a_resolver_that_suspends_gets_its_answer_in_the_same_task_and_context(pause: float) -> None:
    seen: list[Any] = []

    async def resolver() -> Tenant:
        seen.append((asyncio.current_task(), WHO.get()))
        await asyncio.sleep(0)
        await asyncio.sleep(pause)
        seen.append((asyncio.current_task(), WHO.get()))
        return ACME

    async def run() -> tuple[Any, Any]:
        WHO.set("caller")
        return await _bounded(resolver(), 1.0), asyncio.current_task()

    answer, task = asyncio.run(run())
    assert answer is ACME
    assert seen == [(task, "caller"), (task, "caller")]


def test_a_resolver_that_hangs_times_out_promptly() -> None:
    async def resolver() -> Tenant:
        await asyncio.sleep(30)
        return ACME

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        _bound(resolver(), 0.1)
    assert time.monotonic() - started < 2


def test_the_deadline_counts_the_resolvers_first_step() -> None:
    """A slow synchronous start then a short await: over the bound in all, so it times out."""

    async def resolver() -> Tenant:
        time.sleep(0.15)
        await asyncio.sleep(0.15)
        return ACME

    with pytest.raises(TimeoutError):
        _bound(resolver(), 0.2)


def test_a_cancelled_resolver_may_clean_up_and_its_error_comes_through() -> None:
    cleaned: list[bool] = []

    async def slow() -> Tenant:
        try:
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0)  # an await while handling the cancellation
            cleaned.append(True)
        return ACME

    with pytest.raises(TimeoutError):
        _bound(slow(), 0.05)
    assert cleaned == [True]

    async def broken() -> Tenant:
        await asyncio.sleep(0)
        raise ValueError("lookup failed")

    with pytest.raises(ValueError, match="lookup failed"):
        _bound(broken())


def test_an_awaitable_that_is_not_a_coroutine_is_awaited_as_before() -> None:
    async def run() -> Any:
        future: asyncio.Future[Tenant] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, future.set_result, ACME)
        return await _bounded(future, 1.0)

    assert asyncio.run(run()) is ACME


def test_an_async_resolver_page_gets_its_token_whether_or_not_the_resolver_suspends() -> None:
    async def at_once(request: Any) -> Tenant:
        return ACME

    async def after_a_pause(request: Any) -> Tenant:
        await asyncio.sleep(0.001)
        return ACME

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", HTML.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": own(b"<p><JWT_TOKEN:top></p>", nonce_of(scope))})

    for resolver in (at_once, after_a_pause):
        wrapped = EmbedASGIMiddleware(app, issuer=test_issuer(), resolver=resolver)
        messages = asyncio.run(call_asgi(wrapped, http_scope("/")))
        assert messages[0]["status"] == 200
        claims = decode(TOKEN.search(messages[1]["body"]).group(0))  # type: ignore[union-attr]
        assert claims["sub"] == "acme" and claims["resource"] == "top"
