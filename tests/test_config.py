"""What every adapter shares at start-up and on the first header scan: one options type, one
content-type rule, the app by position or by keyword, and ``placeholder_word`` (``placeholder`` is
its deprecated alias)."""

from __future__ import annotations

from typing import Any

import pytest

from embed_middleware import (
    ConfigurationError,
    EmbedASGIMiddleware,
    EmbedWSGIMiddleware,
    Tenant,
    TokenEndpointASGI,
    TokenEndpointWSGI,
    TokenIssuer,
    embed_placeholder,
    from_environ,
    from_header,
)
from embed_middleware._core import request_tokens
from embed_middleware._core.emission import content_headers
from embed_middleware.config import EmbedConfig
from tests.support.parity import call_asgi, http_scope
from tests.support.tokens import TOKEN
from tests.support.wsgi_helpers import decode, run

pytestmark = pytest.mark.anyio
ADAPTERS = [EmbedWSGIMiddleware, EmbedASGIMiddleware]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def noop_app(*args: Any) -> Any:
    raise AssertionError("not called")


# -- one content-type rule, on every path -----------------------------------------------------------

DUPLICATES = [
    ([("Content-Type", "text/html"), ("Content-Type", "application/json")], False),
    ([("Content-Type", "application/json"), ("Content-Type", "text/html")], True),
    ([("Content-Type", "text/html"), ("Content-Encoding", "identity"), ("Content-Encoding", "gzip")], False),
]


@pytest.mark.parametrize(("headers", "rewritten"), DUPLICATES)
def test_one_scan_reads_repeated_fields_alike_as_str_and_bytes(
    headers: list[tuple[str, str]], rewritten: bool, issuer: TokenIssuer
) -> None:
    as_bytes = [(k.encode(), v.encode()) for k, v in headers]
    assert content_headers(headers) == content_headers(as_bytes)
    config = EmbedConfig.from_options(issuer=issuer, resolver=from_environ())
    assert (config.policy.skip_reason("GET", 200, *content_headers(headers)) is None) is rewritten


def _wsgi_page(headers: list[tuple[str, str]]) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["embed.tenant"] = "acme"
        start_response("200 OK", headers)
        return [embed_placeholder(environ, "top").encode()]

    return app


@pytest.mark.parametrize(("headers", "rewritten"), DUPLICATES)
async def test_wsgi_and_asgi_agree_on_repeated_content_fields(
    headers: list[tuple[str, str]], rewritten: bool, issuer: TokenIssuer
) -> None:
    wsgi = EmbedWSGIMiddleware(_wsgi_page(headers), issuer=issuer, resolver=from_environ())
    _, _, wsgi_body = run(wsgi)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["embed.tenant"] = "acme"
        raw = [(k.lower().encode(), v.encode()) for k, v in headers]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        await send({"type": "http.response.body", "body": embed_placeholder(scope, "top").encode()})

    asgi = EmbedASGIMiddleware(app, issuer=issuer, resolver=from_environ())
    messages = await call_asgi(asgi, http_scope())
    for body in (wsgi_body, messages[1]["body"]):
        assert bool(TOKEN.search(body)) is rewritten


def test_the_untouched_shortcut_matches_the_policy_list(
    monkeypatch: pytest.MonkeyPatch, issuer: TokenIssuer
) -> None:
    from embed_middleware._core.policy import UNTOUCHED, ResponsePolicy, Skip

    config = EmbedConfig.from_options(issuer=issuer, resolver=from_environ())
    for skip in Skip:
        monkeypatch.setattr(ResponsePolicy, "skip_reason", lambda *args, skip=skip: skip)
        assert config.leaves_untouched("GET", 200, None, None) is (skip in UNTOUCHED)


# -- typed options, checked at start-up --------------------------------------------------------------


@pytest.mark.parametrize(
    "adapter", [*ADAPTERS, TokenEndpointWSGI, TokenEndpointASGI, EmbedConfig.from_options]
)
def test_an_unknown_option_fails_at_start_up_naming_it_and_the_valid_ones(
    adapter: Any, issuer: TokenIssuer
) -> None:
    args = (noop_app,) if adapter in ADAPTERS else ()
    with pytest.raises(ConfigurationError) as raised:
        adapter(*args, issuer=issuer, resolver=from_environ(), missing_tenent="leave")
    message = str(raised.value)
    assert "'missing_tenent'" in message and "missing_tenant" in message and "placeholder_word" in message


def test_issuer_and_resolver_are_required(issuer: TokenIssuer) -> None:
    with pytest.raises(ConfigurationError, match="resolver= required"):
        EmbedWSGIMiddleware(noop_app, issuer=issuer)  # type: ignore[call-arg]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_the_app_comes_by_position_or_by_keyword(adapter: Any, issuer: TokenIssuer) -> None:
    options: dict[str, Any] = {"issuer": issuer, "resolver": from_environ()}
    assert adapter(app=noop_app, **options).app is not None
    with pytest.raises(TypeError, match="needs the app to wrap"):
        adapter(**options)
    with pytest.raises(TypeError, match="pass the app once"):
        adapter(noop_app, app=noop_app, **options)


def test_placeholder_is_a_deprecated_alias_of_placeholder_word(issuer: TokenIssuer) -> None:
    with pytest.warns(DeprecationWarning, match="placeholder_word"):
        old = EmbedWSGIMiddleware(noop_app, issuer=issuer, resolver=from_environ(), placeholder="EMBED")
    new = EmbedWSGIMiddleware(noop_app, issuer=issuer, resolver=from_environ(), placeholder_word="EMBED")
    assert old.config.syntax == new.config.syntax and new.config.syntax.word == "EMBED"
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigurationError, match="placeholder_word= only"):
        EmbedConfig.from_options(
            issuer=issuer, resolver=from_environ(), placeholder="A", placeholder_word="B"
        )


# -- no task, timer or thread unless the resolver can block ------------------------------------------


async def test_only_a_plain_resolver_takes_the_threaded_path(
    monkeypatch: pytest.MonkeyPatch, issuer: TokenIssuer
) -> None:
    used: list[str] = []
    real, real_thread = request_tokens._within, request_tokens._in_worker_thread

    async def watched(resolving: Any, timeout: float) -> Any:
        used.append("task")
        return await real(resolving, timeout)

    async def watched_thread(call: Any, argument: Any, timeout: float) -> Any:
        used.append("thread")
        return await real_thread(call, argument, timeout)

    monkeypatch.setattr(request_tokens, "_within", watched)
    monkeypatch.setattr(request_tokens, "_in_worker_thread", watched_thread)

    async def async_resolver(request: Any) -> Tenant:
        return Tenant("acme")

    def plain_resolver(request: Any) -> Tenant:
        return Tenant("acme")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["embed.tenant"] = "acme"
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body", "body": embed_placeholder(scope, "top").encode()})

    scope = http_scope(headers=[("X-Tenant", "acme")])
    for resolver in (from_environ(), from_header("X-Tenant"), async_resolver):
        messages = await call_asgi(EmbedASGIMiddleware(app, issuer=issuer, resolver=resolver), scope)
        assert decode(messages[1]["body"])["sub"] == "acme"
    assert used == []
    messages = await call_asgi(EmbedASGIMiddleware(app, issuer=issuer, resolver=plain_resolver), scope)
    assert decode(messages[1]["body"])["sub"] == "acme" and used == ["thread"]
