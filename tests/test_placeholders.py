"""The app's own placeholders (placeholders.py): the nonce, the helpers, the origin allowlist, and the
scoping rules the middleware enforces on them (allowlists, unscoped tokens, header delivery)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from embed_middleware import (
    ConfigurationError,
    EmbedError,
    EmbedWSGIMiddleware,
    HeaderDelivery,
    PlaceholderError,
    Tenant,
    TinybirdProfile,
    TokenIssuer,
    embed_placeholder,
    embed_url,
    from_environ,
)
from embed_middleware.placeholders import (
    NONCE_KEY,
    EmbedContext,
    PlaceholderRules,
    context_of,
    origins_setting,
    url_origin,
)
from tests.support.tokens import TOKEN
from tests.support.wsgi_helpers import KEY, decode, run

RULES = PlaceholderRules("JWT_TOKEN", 64, frozenset({"https://charts.example.com", "http://127.0.0.1:8001"}))
NONCE = r"[A-Za-z0-9_-]{22}"


def test_the_nonce_is_drawn_once_per_request_on_first_use() -> None:
    context = EmbedContext(RULES)
    assert not context.drawn and not context.matches("")
    first = context.placeholder("top")
    assert context.drawn
    nonce = re.fullmatch(rf"<JWT_TOKEN:top:({NONCE})>", first)
    assert nonce, first
    assert context.placeholder(None) == f"<JWT_TOKEN:{nonce.group(1)}>"
    assert context.matches(nonce.group(1))
    assert not context.matches(nonce.group(1)[:-1] + ("A" if nonce.group(1)[-1] != "A" else "B"))
    assert nonce.group(1) not in repr(context), "the nonce is a secret: never in a repr"
    assert EmbedContext(RULES).placeholder("top") != first, "another request, another nonce"


def test_context_is_found_wherever_frameworks_keep_it() -> None:
    context = EmbedContext(RULES)

    holding = {NONCE_KEY: context}
    werkzeug, starlette, django = (
        type(name, (), {attribute: holding})()
        for name, attribute in (("Werkzeug", "environ"), ("Starlette", "scope"), ("Django", "META"))
    )
    for holder in (holding, werkzeug, starlette, django):
        assert context_of(holder) is context
    with pytest.raises(PlaceholderError, match="no embed middleware handled this request"):
        context_of({})
    assert issubclass(PlaceholderError, EmbedError) and issubclass(PlaceholderError, ValueError)


@pytest.mark.parametrize("name", ["", "a b", 'x"><script>', "x" * 65, "é"])
def test_bad_names_are_refused_at_render_time(name: str) -> None:
    with pytest.raises(PlaceholderError, match="not a resource name"):
        embed_placeholder({NONCE_KEY: EmbedContext(RULES)}, name)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (
            "https://charts.example.com/embed",
            rf"https://charts\.example\.com/embed\?token=%3CJWT_TOKEN%3Atop%3A{NONCE}%3E",
        ),
        (
            "https://CHARTS.example.com:443/e?x=1",
            rf"https://CHARTS\.example\.com:443/e\?x=1&token=%3CJWT_TOKEN%3Atop%3A{NONCE}%3E",
        ),
        (
            "https://charts.example.com/d/7/{token}",
            rf"https://charts\.example\.com/d/7/%3CJWT_TOKEN%3Atop%3A{NONCE}%3E",
        ),
        (
            "http://127.0.0.1:8001/embed",
            rf"http://127\.0\.0\.1:8001/embed\?token=%3CJWT_TOKEN%3Atop%3A{NONCE}%3E",
        ),
    ],
)
def test_embed_url_puts_the_placeholder_into_allowed_origins(base: str, expected: str) -> None:
    assert re.fullmatch(expected, embed_url({NONCE_KEY: EmbedContext(RULES)}, base, "top"))


@pytest.mark.parametrize(
    "base",
    [
        "https://evil.example/embed",
        "https://charts.example.com.evil.example/embed",
        "https://charts.example.com@evil.example/embed",
        "https://user:pw@charts.example.com/embed",
        "http://charts.example.com/embed",
        "https://charts.example.com:8443/embed",
        "//charts.example.com/embed",
        "/embed",
        "javascript:alert(1)//charts.example.com",
        "https://charts.example.com\\@evil.example/",
        " https://charts.example.com/",
        "https://[::1/",
    ],
)
def test_embed_url_refuses_every_other_origin(base: str) -> None:
    with pytest.raises(PlaceholderError, match=r"embed_origins|embed_url"):
        embed_url({NONCE_KEY: EmbedContext(RULES)}, base, "top")


def test_embed_url_needs_origins_configured() -> None:
    with pytest.raises(PlaceholderError, match="embed_origins="):
        embed_url({NONCE_KEY: EmbedContext(PlaceholderRules("JWT_TOKEN", 64))}, "https://a.example", "top")


@pytest.mark.parametrize(
    "origins",
    ["https://charts.example.com", ["https://charts.example.com/embed"], ["http://charts.example.com"], [7]],
)
def test_bad_embed_origins_fail_at_start_up(origins: Any) -> None:
    with pytest.raises(ConfigurationError, match="embed_origins"):
        origins_setting(origins)


def test_origins_are_normalised() -> None:
    assert origins_setting(["https://Charts.Example.com/", "http://localhost:8000"]) == {
        "https://charts.example.com",
        "http://localhost:8000",
    }
    assert url_origin("https://[::1]:8443/x") == "https://[::1]:8443"


# -- scoped by default -------------------------------------------------------------------------------


def app_writing(*names: str | None) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["embed.tenant"] = Tenant("acme")
        body = " ".join(embed_placeholder(environ, name) for name in names)
        start_response("200 OK", [("Content-Type", "text/html")])
        return [body.encode()]

    return app


def test_the_middleware_will_not_start_without_an_allowlist() -> None:
    with pytest.raises(ConfigurationError, match="name the resources pages may embed"):
        EmbedWSGIMiddleware(app_writing(), issuer=TokenIssuer(KEY), resolver=from_environ())
    with pytest.raises(ConfigurationError, match="resources must be a list"):
        TokenIssuer(KEY, resources="top")


def test_only_allowlisted_names_and_no_unscoped_token_by_default(caplog: pytest.LogCaptureFixture) -> None:
    issuer = TokenIssuer(KEY, resources=["top"])
    _, _, body = run(
        EmbedWSGIMiddleware(app_writing("top", "other", None), issuer=issuer, resolver=from_environ())
    )
    first, other, bare = body.split(b" ")
    assert decode(first)["resource"] == "top"
    assert re.fullmatch(rf"<JWT_TOKEN:other:{NONCE}>".encode(), other), "left as written"
    assert re.fullmatch(rf"<JWT_TOKEN:{NONCE}>".encode(), bare), "no unscoped token unless allowed"
    assert "'other' as written" in caplog.text and "allow_unscoped=True" in caplog.text
    issuer = TokenIssuer(KEY, resources=["top"], allow_unscoped=True)
    _, _, body = run(EmbedWSGIMiddleware(app_writing(None), issuer=issuer, resolver=from_environ()))
    assert "resource" not in decode(body)


def test_a_profile_names_the_allowlist_and_a_tenant_narrows_it() -> None:
    issuer = TokenIssuer(KEY, claims=TinybirdProfile("ws", pipes=["top", "sales"]))
    assert issuer.resources == {"top", "sales"}
    assert issuer.allows(Tenant("a"), "top") and not issuer.allows(Tenant("a"), "other")
    assert not issuer.allows(Tenant("a", resources=frozenset({"sales"})), "top")
    per_tenant = TokenIssuer(KEY, resources="per-tenant")
    assert per_tenant.allows(Tenant("a", resources=frozenset({"x"})), "x")
    assert not per_tenant.allows(Tenant("a"), "x"), "a tenant listing nothing gets nothing"


def test_header_delivery_names_an_allowed_resource() -> None:
    issuer = TokenIssuer(KEY, resources=["top"])
    with pytest.raises(ConfigurationError, match="allow_unscoped"):
        EmbedWSGIMiddleware(app_writing(), issuer=issuer, resolver=from_environ(), header=HeaderDelivery())
    with pytest.raises(ConfigurationError, match="resource the issuer allows"):
        EmbedWSGIMiddleware(
            app_writing(), issuer=issuer, resolver=from_environ(), header=HeaderDelivery(resource="sales")
        )
    wrapped = EmbedWSGIMiddleware(
        app_writing(), issuer=issuer, resolver=from_environ(), header=HeaderDelivery(resource="top")
    )
    _, headers, _ = run(wrapped)
    assert decode(dict(headers)["X-Embed-Token"])["resource"] == "top"


def test_a_page_that_never_drew_the_nonce_is_passed_through_unscanned() -> None:
    body = b"<p><JWT_TOKEN:top> &lt;JWT_TOKEN&gt;</p>"

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["embed.tenant"] = "acme"
        start_response(
            "200 OK", [("Content-Type", "text/html"), ("ETag", '"v1"'), ("Content-Length", str(len(body)))]
        )
        return [body]

    issuer = TokenIssuer(KEY, resources=["top"])
    _, headers, out = run(EmbedWSGIMiddleware(app, issuer=issuer, resolver=from_environ()))
    assert out == body and dict(headers)["ETag"] == '"v1"', "user text untouched, the app's headers kept"
    assert not TOKEN.search(out)


@pytest.mark.parametrize("bad", [0, -1, 1001, True, "16"])
def test_max_tokens_per_response_is_validated(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_tokens_per_response"):
        EmbedWSGIMiddleware(
            app_writing(),
            issuer=TokenIssuer(KEY, resources=["top"]),
            resolver=from_environ(),
            max_tokens_per_response=bad,
        )


def test_a_non_ascii_or_wrong_candidate_never_matches_the_nonce() -> None:
    context = EmbedContext(RULES)
    assert not context.matches("x" * 22)  # nothing drawn yet
    nonce = context.placeholder("top")[-23:-1]
    assert context.matches(nonce)
    assert not context.matches(nonce[:-1] + ("A" if nonce[-1] != "A" else "B"))
    assert not context.matches(nonce[:-1] + "é")  # compare_digest refuses non-ASCII str: no match, no error


def test_remembered_resource_names_never_let_a_bad_name_through() -> None:
    rules = PlaceholderRules("JWT_TOKEN", 8)
    for _ in range(2):  # the second round answers from what the first remembered
        assert rules.is_resource_name("top")
        assert not rules.is_resource_name("toolongname")
        assert not rules.is_resource_name("bad name")
        assert not rules.is_resource_name(["top"])
    many = PlaceholderRules("JWT_TOKEN", 8)
    for index in range(1000):
        assert many.is_resource_name(f"n{index}")
    assert len(many._valid) <= 256  # bounded: names also arrive from pages and query strings
