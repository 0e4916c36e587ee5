"""Placeholder injection, attacked through the raw WSGI and ASGI adapters (the framework integrations are
in ``test_injection_frameworks.py``).

Every sink x every spelling x whole or streamed in 5-byte chunks (so each placeholder is split across
chunks): the page's own iframe, written with ``embed_placeholder``, gets a token for the right tenant
and resource; the attacker's text arrives byte for byte and gets none. Against the code before the
nonce, every one of these cases leaked the victim's token into the attacker's text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import pytest

from embed_middleware import (
    EmbedASGIMiddleware,
    EmbedWSGIMiddleware,
    IssueEvent,
    TokenIssuer,
    embed_placeholder,
    from_environ,
)
from tests.support.injection_cases import (
    KEY,
    MARK,
    RESOURCE,
    SINKS,
    SPELLINGS,
    TENANT,
    TOKEN,
    check_page,
    chunked,
    page,
)
from tests.support.parity import call_asgi, check_sequence, http_scope
from tests.support.wsgi_helpers import run

CHUNKINGS = {"whole": 0, "streamed": 5}


def issuer(**options: Any) -> TokenIssuer:
    return TokenIssuer(KEY, resources=[RESOURCE], **options)


def glued(placeholder: str, glue: tuple[str, str]) -> str:
    """The app's placeholder with user text (escaped as a text node would be, or raw) on either side."""
    return f"{glue[0]}{placeholder}{glue[1]}"


def wsgi_page(
    bodies: Any,
    sinks: tuple[str, ...],
    attacker: str,
    size: int,
    glue: tuple[str, str] = ("", ""),
    **options: Any,
) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ["embed.tenant"] = TENANT
        html = page(glued(embed_placeholder(environ, RESOURCE), glue), attacker, sinks).encode()
        bodies.append(page(glued(MARK, glue), attacker, sinks))
        headers = [("Content-Type", "text/html; charset=utf-8")]
        if not size:
            headers.append(("Content-Length", str(len(html))))
        start_response("200 OK", headers)
        return chunked(html, size) if size else [html]

    options.setdefault("issuer", issuer())
    return EmbedWSGIMiddleware(app, resolver=from_environ(), **options)


def asgi_page(
    bodies: Any,
    sinks: tuple[str, ...],
    attacker: str,
    size: int,
    glue: tuple[str, str] = ("", ""),
    **options: Any,
) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["embed.tenant"] = TENANT
        html = page(glued(embed_placeholder(scope, RESOURCE), glue), attacker, sinks).encode()
        bodies.append(page(glued(MARK, glue), attacker, sinks))
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        parts = chunked(html, size) if size else [html]
        for index, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": index < len(parts) - 1})

    options.setdefault("issuer", issuer())
    return EmbedASGIMiddleware(app, resolver=from_environ(), **options)


def serve(
    adapter: str, sinks: tuple[str, ...], attacker: str, size: int, **options: Any
) -> tuple[bytes, str]:
    """The body the client got, and the app's own rendering of it (its placeholder as MARK)."""
    references: list[str] = []
    if adapter == "wsgi":
        _, headers, body = run(wsgi_page(references, sinks, attacker, size, **options))
        assert ("Cache-Control", "private, no-store") in headers
    else:
        wrapped = asgi_page(references, sinks, attacker, size, **options)
        messages = asyncio.run(call_asgi(wrapped, http_scope("/")))
        check_sequence(messages)
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return body, references[0]


@pytest.mark.parametrize("adapter", ["wsgi", "asgi"])
@pytest.mark.parametrize("chunking", sorted(CHUNKINGS))
@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
@pytest.mark.parametrize("sink", sorted(SINKS))
def test_attacker_text_stays_as_rendered_and_gets_no_token(
    adapter: str, chunking: str, spelling: str, sink: str
) -> None:
    attacker = f"https://evil.example/c?t={SPELLINGS[spelling]}"
    body, reference = serve(adapter, (sink,), attacker, CHUNKINGS[chunking])
    check_page(body, reference)


@pytest.mark.parametrize("adapter", ["wsgi", "asgi"])
def test_every_sink_at_once_in_every_spelling(adapter: str) -> None:
    attacker = " ".join(SPELLINGS.values())
    body, reference = serve(adapter, tuple(SINKS), attacker, 3)
    check_page(body, reference)


@pytest.mark.parametrize("adapter", ["wsgi", "asgi"])
def test_an_echoed_wall_of_placeholders_costs_no_signature(adapter: str) -> None:
    """10,000 placeholders echoed from a POST: the scan finds them all, and none is signed."""
    minted: list[IssueEvent] = []
    wall = "".join(f"<JWT_TOKEN:r{i}>" for i in range(5000)) + "&lt;JWT_TOKEN&gt;" * 5000
    body, reference = serve(adapter, ("text node",), wall, 0, issuer=issuer(on_issue=minted.append))
    check_page(body, reference)
    assert len(minted) == 1, "one signature: the app's own iframe"


@pytest.mark.parametrize("adapter", ["wsgi", "asgi"])
def test_legacy_mode_is_bounded_and_loud(adapter: str, caplog: pytest.LogCaptureFixture) -> None:
    """The unsafe opt-in fills hand-written placeholders, but never more than the cap per response."""
    minted: list[IssueEvent] = []
    names = [f"r{i}" for i in range(40)]
    wall = " ".join(f"<JWT_TOKEN:{name}>" for name in names)
    options: dict[str, Any] = {
        "issuer": TokenIssuer(KEY, resources=names, on_issue=minted.append),
        "resolver": from_environ(),
        "unsafe_legacy_placeholders": True,
        "max_tokens_per_response": 5,
    }
    with caplog.at_level(logging.WARNING, logger="embed_middleware"):
        if adapter == "wsgi":

            def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
                environ["embed.tenant"] = TENANT
                start_response("200 OK", [("Content-Type", "text/html")])
                return [wall.encode()]

            _, _, body = run(EmbedWSGIMiddleware(app, **options))
        else:

            async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
                scope["embed.tenant"] = TENANT
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-type", b"text/html")],
                    }
                )
                await send({"type": "http.response.body", "body": wall.encode()})

            messages = asyncio.run(call_asgi(EmbedASGIMiddleware(asgi_app, **options), http_scope("/")))
            body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    assert len(TOKEN.findall(body)) == 5 and len(minted) == 5
    assert body.count(b"<JWT_TOKEN:") == 35, "the rest stays as written"
    assert "unsafe_legacy_placeholders=True fills EVERY placeholder" in caplog.text
    assert "max_tokens_per_response=5" in caplog.text


def test_legacy_page_text_cannot_use_up_the_apps_share_of_the_cap() -> None:
    """Echoed text first, the app's chart last: the chart still gets its token."""
    minted: list[IssueEvent] = []
    names = [f"r{i}" for i in range(40)]

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ["embed.tenant"] = TENANT
        start_response("200 OK", [("Content-Type", "text/html")])
        wall = " ".join(f"<JWT_TOKEN:{name}>" for name in names)
        return [f"{wall} <iframe src='x?t={embed_placeholder(environ, RESOURCE)}'>".encode()]

    issuer = TokenIssuer(KEY, resources=[*names, RESOURCE], on_issue=minted.append)
    wrapped = EmbedWSGIMiddleware(
        app,
        issuer=issuer,
        resolver=from_environ(),
        unsafe_legacy_placeholders=True,
        max_tokens_per_response=3,
    )
    _, _, body = run(wrapped)
    assert [event.resource for event in minted] == ["r0", "r1", "r2", RESOURCE]
    assert body.count(b"<JWT_TOKEN:") == 37


@pytest.mark.parametrize("adapter", ["wsgi", "asgi"])
@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("<JWT_TOKEN:", ""),
        ("<JWT_TOKEN:secret_pipe", ""),
        ("&lt;JWT_TOKEN:other&gt;&lt;JWT_TOKEN:", ""),
        ("%3CJWT_TOKEN%3Aevil", "%3E"),
        ("", ":evil>"),
        ("<JWT_TOKEN", ":x>"),
    ],
)
def test_text_glued_to_the_apps_placeholder_cannot_change_its_scope(
    adapter: str, before: str, after: str
) -> None:
    """User text written right against the app's own placeholder, on either side, trying to extend it into
    a placeholder for another resource: the app's placeholder still opens and closes itself."""
    body, reference = serve(adapter, ("text node",), "", 0, glue=(before, after))
    verdict = check_page(body, reference, (before, after))
    assert verdict.claims["resource"] == RESOURCE
