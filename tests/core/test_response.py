"""The sans-I/O core on its own: phases, the Needs it returns, and how much it holds back.

No adapter here: the tests drive ``Exchange`` as an adapter would, so every transition and every
"need tokens / need the tenant" answer is checked without a server, a loop or a thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import HeaderDelivery, Tenant, from_environ, from_header
from embed_middleware._core.drive import drive_async, drive_sync
from embed_middleware._core.emission import Emission, WarnOnce
from embed_middleware._core.phase import Need, Phase
from embed_middleware._core.response import Exchange
from embed_middleware.config import EmbedConfig
from embed_middleware.placeholders import EmbedContext
from tests.support.hypothesis_profiles import examples
from tests.support.tokens import TOKEN
from tests.support.wsgi_helpers import decode, test_issuer

HTML = [("Content-Type", "text/html")]


def plain_resolver(request: Any) -> Tenant:
    return Tenant("acme")


def exchange(
    resolver: Any = plain_resolver,
    method: str = "GET",
    *,
    inline: bool = False,
    hooks: bool | None = None,
    **options: Any,
) -> Exchange:
    """An exchange as Django's event loop has it by default (nothing in place); ``inline``: as WSGI's
    thread; ``hooks`` alone: as plain ASGI (hooks on the loop, only non-blocking resolvers in place)."""
    config = EmbedConfig.from_options(issuer=test_issuer(), resolver=resolver, **options)
    return Exchange(
        config,
        method,
        lambda: Request(EnvironBuilder(headers={"X-Tenant": "acme"}).get_environ()),
        WarnOnce(),
        {}.get,
        EmbedContext(config.placeholder_rules),
        resolves_inline=inline,
        hooks_inline=inline if hooks is None else hooks,
    )


def placeholder(ex: Exchange, resource: str | None = "top") -> bytes:
    return ex.context.placeholder(resource).encode()


@pytest.mark.parametrize(
    ("method", "status", "headers", "phase"),
    [
        ("GET", 200, HTML, Phase.REWRITE_HELD),
        ("HEAD", 200, HTML, Phase.HEADLESS_HELD),
        ("GET", 200, [("Content-Type", "application/json")], Phase.PASS_HELD),
        ("GET", 304, HTML, Phase.PASS_HELD),
        ("GET", 200, [*HTML, ("Content-Encoding", "gzip")], Phase.PASS_HELD),
    ],
)
def test_start_picks_the_phase(
    method: str, status: int, headers: list[tuple[str, str]], phase: Phase
) -> None:
    ex = exchange(method=method)
    assert ex.phase is Phase.AWAITING_START and not ex.head_sent
    ex.start(status, headers)
    assert ex.phase is phase and not ex.head_sent and not ex.done


def test_a_whole_page_needs_its_token_then_ends() -> None:
    ex = exchange()
    ex.start(200, HTML)
    body = b"<p>" + placeholder(ex) + b"</p>"
    need = ex.body(body, final=True)
    assert need == Need(tenant=True, resources=("top",))
    assert ex.phase is Phase.REWRITE_HELD, "nothing goes out while the token is missing"
    with pytest.raises(RuntimeError, match="waiting"):
        ex.body(b"more", final=True)
    ex.provide(need)
    emission = ex.resume()
    assert isinstance(emission, Emission) and emission.head is not None and emission.last
    assert decode(TOKEN.search(emission.body).group(0))["resource"] == "top"  # type: ignore[union-attr]
    assert ("Content-Length", str(len(emission.body))) in emission.head.headers
    assert ex.phase is Phase.REWRITE_ENDED and ex.done and ex.head_sent


def test_a_page_without_placeholders_needs_nothing() -> None:
    ex = exchange()
    ex.start(200, HTML)
    emission = ex.body(b"<p>plain</p>", final=True)
    assert isinstance(emission, Emission) and emission.body == b"<p>plain</p>"
    assert not ex.tokens.settled, "no placeholder, no resolver call"


def test_a_streamed_head_needs_the_tenant_first() -> None:
    ex = exchange()
    ex.start(200, HTML)
    need = ex.body(b"<p>first", final=False)
    assert need == Need(tenant=True)
    ex.provide(need)
    first = ex.resume()
    assert isinstance(first, Emission) and first.head is not None and first.body == b"<p>first"
    assert ex.phase is Phase.REWRITE_SENT
    assert not any(k == "Content-Length" for k, _ in first.head.headers)


def test_each_new_resource_is_one_need_and_a_known_one_none() -> None:
    ex = exchange()
    ex.start(200, HTML)
    ex.provide(ex.body(b"<p>", final=False))  # type: ignore[arg-type]
    assert isinstance(ex.resume(), Emission)
    need = ex.body(placeholder(ex, "top") + b" " + placeholder(ex, "other"), final=False)
    assert need == Need(tenant=False, resources=("top",))
    ex.provide(need)
    need = ex.resume()
    assert need == Need(tenant=False, resources=("other",))
    ex.provide(need)
    out = ex.resume()
    assert isinstance(out, Emission) and len(TOKEN.findall(out.body)) == 2
    again = ex.body(placeholder(ex, "top"), final=True)
    assert isinstance(again, Emission) and TOKEN.search(again.body), "a minted token is reused in place"


def test_the_header_token_is_a_need_before_the_head() -> None:
    ex = exchange(header=HeaderDelivery(resource="top"))
    ex.start(200, HTML)
    need = ex.body(b"<p>plain</p>", final=True)
    assert need == Need(tenant=True, header=True) and need.calls_hooks
    ex.provide(need)
    emission = ex.resume()
    assert isinstance(emission, Emission) and emission.head is not None
    assert any(k == "X-Embed-Token" for k, _ in emission.head.headers)


def test_a_failing_resolver_becomes_our_500_before_any_header() -> None:
    def broken(request: Any) -> Tenant:
        raise RuntimeError("database down")

    ex = exchange(broken)
    ex.start(200, HTML)
    emission = drive_sync(ex, ex.body(placeholder(ex), final=True))
    assert emission.head is not None and emission.head.status == 500 and ex.phase is Phase.FAILED


def test_in_place_contexts_and_inline_resolvers_need_nothing() -> None:
    for ex in (exchange(inline=True), exchange(from_header("X-Tenant"), hooks=True)):
        ex.start(200, HTML)
        result = ex.body(placeholder(ex), final=True)
        assert isinstance(result, Emission), "WSGI's thread, or a built-in that cannot block: no round trip"


def test_drive_async_settles_an_async_resolver_without_a_task() -> None:
    tasks: list[object] = []

    async def resolver(request: Any) -> Tenant:
        tasks.append(asyncio.current_task())
        return Tenant("acme")

    async def run() -> Emission:
        tasks.append(asyncio.current_task())
        ex = exchange(resolver)
        ex.start(200, HTML)
        return await drive_async(ex, ex.body(placeholder(ex), final=True))

    emission = asyncio.run(run())
    assert TOKEN.search(emission.body) and tasks[0] is tasks[1], "awaited in the request's own task"


def test_the_mark_settles_inline() -> None:
    config = EmbedConfig.from_options(issuer=test_issuer(), resolver=from_environ("my.key"))
    ex = Exchange(config, "GET", lambda: None, WarnOnce(), {"my.key": "acme"}.get, resolves_inline=False)  # type: ignore[arg-type,return-value]
    ex.start(200, HTML)
    result = ex.body(ex.context.placeholder("top").encode(), final=True)
    assert isinstance(result, Emission) and decode(TOKEN.search(result.body).group(0))["sub"] == "acme"  # type: ignore[union-attr]


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=12), st.booleans())
def test_held_bytes_never_exceed_the_longest_placeholder(cuts: list[int], streamed: bool) -> None:
    ex = exchange()
    ex.start(200, HTML)
    body = (b"<div>" + placeholder(ex) + b"&lt;JWT_TOKEN:x</div>") * 3
    longest = ex._config.syntax.max_length
    out, at, fed = b"", 0, 0
    pieces = []
    for cut in cuts:
        pieces.append(body[at : at + cut])
        at += cut
    pieces.append(body[at:])
    for index, piece in enumerate(pieces):
        final = index == len(pieces) - 1
        result = ex.body(piece, final=final)
        while isinstance(result, Need):
            ex.provide(result)
            result = ex.resume()
        out += result.body
        fed += len(piece)
        rewriter = ex._rewriter
        assert rewriter is not None and not rewriter.blocked
        if ex.head_sent and not final:
            assert rewriter.held_back < longest
    assert len(TOKEN.findall(out)) == 3 and b"&lt;JWT_TOKEN:x" in out
