"""The Flask extension: the resolver runs in Flask's request context, templates name placeholders with
``embed_placeholder()``, and the token endpoint is a Flask view answering as the core endpoint does."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask, g, jsonify, render_template_string, request, session, url_for
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from embed_middleware import ConfigurationError, EmbedWSGIMiddleware, Tenant, TokenIssuer
from embed_middleware.errors import TokenIssueError
from embed_middleware.flask import EXTENSION_KEY, TOKEN_VIEW, Embed
from embed_middleware.placeholders import NONCE_KEY, EmbedContext, PlaceholderError
from tests.support.tokens import JWT_TEXT as TOKEN
from tests.support.wsgi_helpers import KEY, decode

RESOURCES = ("top_airlines", "bookings", "x", "a.b:c-d_1")

TENANTS = {"acme": Tenant("acme"), "globex": Tenant("globex", resources=frozenset({"top_airlines"}))}
PAGE = """<!doctype html>
<iframe id="named" src="https://charts.example.com/e?token={{ embed_placeholder('top_airlines') }}"></iframe>
<iframe id="bare" src="https://charts.example.com/e?token={{ embed_placeholder() }}"></iframe>
<iframe id="handwritten" src="https://charts.example.com/e?token={{ '<JWT_TOKEN:bookings>' }}"></iframe>
<a id="link" href="{{ url_for('page', token=embed_placeholder('top_airlines')) }}">same page</a>
<p id="text">{{ embed_placeholder('top_airlines') }}</p>
"""


def session_tenant() -> Tenant | None:
    """The tenant of the signed-in user, from Flask's (signed) session cookie."""
    return TENANTS.get(session.get("tenant", ""))


# What it reads, for Vary (undeclared, the middleware could only say "*").
session_tenant.vary = ("Cookie",)  # type: ignore[attr-defined]


def make_app(*, factory: bool = False, **options: Any) -> tuple[Flask, Embed]:
    app = Flask(__name__)
    app.secret_key = "test-secret-" + "s" * 32
    options.setdefault("issuer", TokenIssuer(KEY, resources=RESOURCES, allow_unscoped=True))
    options.setdefault("resolver", session_tenant)
    if factory:
        embed = Embed(**options)
        embed.init_app(app)
    else:
        embed = Embed(app, **options)

    @app.post("/login/<tenant>")
    def login(tenant: str) -> str:
        session["tenant"] = tenant
        return "ok"

    @app.get("/")
    def page() -> str:
        return render_template_string(PAGE)

    @app.get("/api")
    def api() -> Any:
        return jsonify(ok=True)

    return app, embed


def client_of(app: Flask, tenant: str | None = None) -> FlaskClient:
    client = app.test_client()
    if tenant is not None:
        assert client.post(f"/login/{tenant}").status_code == 200
    return client


def claims_from(response: TestResponse) -> dict[str, Any]:
    """The claims of the token a token endpoint answered with."""
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.json
    assert isinstance(body, dict)
    return decode(body["token"])


def tokens_in(html: str, element_id: str) -> list[dict[str, Any]]:
    line = next(line for line in html.splitlines() if f'id="{element_id}"' in line)
    return [decode(token) for token in TOKEN.findall(line)]


@pytest.mark.parametrize("factory", [False, True], ids=["constructor", "init_app"])
def test_both_forms_fill_what_embed_placeholder_wrote_and_nothing_else(factory: bool) -> None:
    app, embed = make_app(factory=factory)
    assert app.extensions[EXTENSION_KEY] is embed
    assert isinstance(app.wsgi_app, EmbedWSGIMiddleware)
    response = client_of(app, "acme").get("/")
    html = response.get_data(as_text=True)
    assert html.count("JWT_TOKEN") == 1, html
    assert [c["resource"] for c in tokens_in(html, "named")] == ["top_airlines"]
    assert [c.get("resource") for c in tokens_in(html, "bare")] == [None]
    assert tokens_in(html, "handwritten") == [], "a placeholder the template typed by hand is not the app's"
    assert "token=&lt;JWT_TOKEN:bookings&gt;" in html, "and it stays exactly as rendered"
    assert [c["resource"] for c in tokens_in(html, "link")] == ["top_airlines"], "percent-encoded too"
    assert [c["resource"] for c in tokens_in(html, "text")] == ["top_airlines"]
    assert {c["sub"] for c in tokens_in(html, "named") + tokens_in(html, "bare")} == {"acme"}
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "Cookie" in response.headers["Vary"]


def in_context(app: Flask, embed: Embed) -> Any:
    """A request context carrying the middleware's per-request context, as a real request would."""
    return app.test_request_context(
        "/", environ_base={NONCE_KEY: EmbedContext(embed.config.placeholder_rules)}
    )


def test_embed_placeholder_writes_the_raw_placeholder_with_the_nonce_as_markup() -> None:
    app, embed = make_app()
    with in_context(app, embed):
        rendered = render_template_string(
            '<a href="?t={{ embed_placeholder("a.b:c-d_1") }}">{{ embed_placeholder() }}</a>'
        )
    nonce = r"[A-Za-z0-9_-]{22}"
    expected = rf'<a href="\?t=<JWT_TOKEN:a\.b:c-d_1:({nonce})>"><JWT_TOKEN:({nonce})></a>'
    match = re.fullmatch(expected, rendered)
    assert match, f"autoescape leaves it alone: {rendered}"
    assert match.group(1) == match.group(2), "one nonce per request"


def test_embed_placeholder_outside_the_middleware_says_what_is_missing() -> None:
    app, _ = make_app()
    with app.test_request_context("/"), pytest.raises(PlaceholderError, match="no embed middleware"):
        render_template_string("{{ embed_placeholder('x') }}")


@pytest.mark.parametrize("name", ['x"><script>', "", "a b", "x" * 65, 7])
def test_embed_placeholder_refuses_what_is_not_a_resource_name(name: object) -> None:
    app, embed = make_app()
    with in_context(app, embed), pytest.raises(PlaceholderError, match="not a resource name"):
        render_template_string("{{ embed_placeholder(name) }}", name=name)


def test_embed_token_is_the_deprecated_name_of_embed_placeholder() -> None:
    """It never returned a token: the old name still writes the same placeholder, with a warning."""
    app, embed = make_app()
    app.add_url_rule("/old", "old", lambda: render_template_string("<p>{{ embed_token('x') }}</p>"))
    with in_context(app, embed):
        new = render_template_string("{{ embed_placeholder('x') }}")
        with pytest.warns(DeprecationWarning, match=r"embed_token\(\) is now embed_placeholder\(\)"):
            old = render_template_string("{{ embed_token('x') }}")
        with pytest.warns(DeprecationWarning, match="embed_placeholder"):
            method = embed.embed_token("x")
    assert old == new == str(method) and re.fullmatch(r"<JWT_TOKEN:x:[A-Za-z0-9_-]{22}>", new)
    client = client_of(app, "acme")
    with pytest.warns(DeprecationWarning, match="embed_placeholder"):
        html = client.get("/old").get_data(as_text=True)
    assert [decode(t)["resource"] for t in TOKEN.findall(html)] == ["x"], "and the middleware fills it"


@pytest.mark.parametrize(
    ("answer", "sub"),
    [
        (lambda: "globex", "globex"),
        (lambda: Tenant("globex"), "globex"),
        (lambda: None, None),
        (lambda: "", None),
    ],
    ids=["str", "Tenant", "None", "empty str"],
)
def test_the_resolver_answers_a_tenant_its_id_or_none(answer: Any, sub: str | None) -> None:
    """The one contract (``Tenant | str | None``), as for the middleware, its endpoint and Django."""
    app, _ = make_app(resolver=answer, token_endpoint="/embed/token")
    html = app.test_client().get("/").get_data(as_text=True)
    assert {c["sub"] for c in tokens_in(html, "named")} == ({sub} if sub else set())
    response = app.test_client().get("/embed/token?resource=top_airlines")
    if sub is None:
        assert response.status_code == 401
    else:
        assert claims_from(response)["sub"] == sub


def test_custom_placeholder_word_is_what_templates_get() -> None:
    app, _ = make_app(placeholder_word="EMBED")
    app.add_url_rule(
        "/custom", "custom", lambda: render_template_string("<p>{{ embed_placeholder('x') }}</p>")
    )
    html = client_of(app, "acme").get("/custom").get_data(as_text=True)
    assert decode(TOKEN.findall(html)[0])["resource"] == "x"


def test_g_set_by_a_before_request_hook_names_the_tenant() -> None:
    app, _ = make_app(resolver=lambda: g.get("org"))

    @app.before_request
    def load_org() -> None:
        g.org = request.headers.get("X-Org")  # e.g. from an API key checked here

    html = app.test_client().get("/", headers={"X-Org": "globex"}).get_data(as_text=True)
    assert [c["sub"] for c in tokens_in(html, "named") + tokens_in(html, "bare")] == ["globex"] * 2
    html = app.test_client().get("/", headers={"X-Org": "bad\x7fid"}).get_data(as_text=True)
    assert TOKEN.search(html) is None, "a str is a tenant id, and a malformed one names no tenant"


def test_a_login_made_by_the_view_itself_counts() -> None:
    app, _ = make_app()

    @app.get("/login-and-show/<tenant>")
    def login_and_show(tenant: str) -> str:
        session["tenant"] = tenant
        return render_template_string(PAGE)

    html = app.test_client().get("/login-and-show/acme").get_data(as_text=True)
    assert tokens_in(html, "named")[0]["sub"] == "acme", "the resolver runs after the view"


def test_no_tenant_no_token() -> None:
    app, _ = make_app()
    response = app.test_client().get("/")
    html = response.get_data(as_text=True)
    assert TOKEN.search(html) is None and html.count("JWT_TOKEN") == 1, "only the hand-written one is left"
    assert html.count('?token="') == 3 and '<p id="text"></p>' in html, "placeholders emptied: fail closed"


def test_the_resolver_runs_only_for_responses_that_may_carry_a_token() -> None:
    calls: list[str] = []

    def counting() -> Tenant | None:
        calls.append(request.path)
        return session_tenant()

    app, _ = make_app(resolver=counting)
    client = client_of(app, "acme")
    client.get("/api")
    client.get("/")
    client.get("/")
    assert calls == ["/login/acme", "/", "/"], "never for the JSON answer; once per page"


def test_a_mark_set_by_the_view_wins() -> None:
    app, _ = make_app(resolver=lambda: pytest.fail("not called when the view marked the tenant"))

    @app.get("/marked")
    def marked() -> str:
        request.environ["embed.tenant"] = Tenant("initech")
        return render_template_string(PAGE)

    html = app.test_client().get("/marked").get_data(as_text=True)
    assert tokens_in(html, "named")[0]["sub"] == "initech"


def test_two_tenants_never_get_each_others_token() -> None:
    app, _ = make_app(token_endpoint="/embed/token")
    acme, globex = client_of(app, "acme"), client_of(app, "globex")
    for _ in range(3):  # interleaved, on one app and one extension
        for client, tenant in ((acme, "acme"), (globex, "globex"), (acme, "acme")):
            page = client.get("/").get_data(as_text=True)
            assert {c["sub"] for c in tokens_in(page, "named") + tokens_in(page, "link")} == {tenant}
            assert claims_from(client.get("/embed/token?resource=top_airlines"))["sub"] == tenant


def test_a_resolver_that_raises_is_a_500_and_is_called_once() -> None:
    calls = 0

    def broken() -> Tenant | None:
        nonlocal calls
        calls += 1
        raise RuntimeError("database down")

    app, _ = make_app(resolver=broken)
    response = app.test_client().get("/")
    assert response.status_code == 500
    assert TOKEN.search(response.get_data(as_text=True)) is None
    assert calls == 1, "not again for the error page"


def test_a_resolver_returning_something_else_is_a_500() -> None:
    app, embed = make_app(resolver=lambda: {"tenant": "acme"})
    assert app.test_client().get("/").status_code == 500
    with app.test_request_context("/"), pytest.raises(TokenIssueError, match="not Tenant, str or None"):
        embed.resolve()


def test_start_up_errors() -> None:
    issuer = TokenIssuer(KEY, resources=RESOURCES)
    with pytest.raises(ConfigurationError, match="takes no arguments"):
        Embed(issuer=issuer, resolver=lambda request: None)  # type: ignore[arg-type,misc]
    with pytest.raises(ConfigurationError, match="token_endpoint"):
        Embed(issuer=issuer, resolver=session_tenant, token_endpoint="embed/token")
    with pytest.raises(ConfigurationError, match="missing_tenant"):
        Embed(issuer=issuer, resolver=session_tenant, missing_tenant="ignore")
    with pytest.raises(ConfigurationError, match="name the resources"):
        Embed(issuer=TokenIssuer(KEY), resolver=session_tenant)
    app, embed = make_app()
    with pytest.raises(ConfigurationError, match="already"):
        embed.init_app(app)


# -- the token endpoint, as a Flask view --------------------------------------------------------------


@pytest.fixture
def endpoint_app() -> Flask:
    return make_app(token_endpoint="/embed/token")[0]


def test_token_view_answers_as_the_core_endpoint(endpoint_app: Flask) -> None:
    response = client_of(endpoint_app, "acme").get("/embed/token?resource=top_airlines")
    assert response.status_code == 200
    body = response.json
    assert body is not None and set(body) == {"token", "expires_at", "expires_in"}
    claims = decode(body["token"])
    assert (claims["sub"], claims["resource"]) == ("acme", "top_airlines")
    assert body["expires_at"] == claims["exp"] and 595 <= body["expires_in"] <= 600
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Vary"] == "Cookie", "once, though Flask's session adds it too"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    with endpoint_app.test_request_context("/"):
        assert url_for(TOKEN_VIEW, resource="x") == "/embed/token?resource=x"


def test_token_view_uses_the_request_context(endpoint_app: Flask) -> None:
    """What the core endpoint cannot do: the session (or g, current_user) is there when it resolves."""
    bare = client_of(endpoint_app, "acme").get("/embed/token")
    assert "resource" not in claims_from(bare)


@pytest.mark.parametrize(
    ("tenant", "query", "status", "error"),
    [
        (None, "?resource=top_airlines", 401, "no_tenant"),
        ("nobody", "?resource=top_airlines", 401, "no_tenant"),
        ("globex", "?resource=bookings", 404, "unknown_resource"),
        ("globex", "", 404, "unknown_resource"),
        ("acme", "?resource=a%20b", 400, "invalid_resource"),
        ("acme", "?resource=" + "x" * 65, 400, "invalid_resource"),
    ],
)
def test_token_view_refusals(
    endpoint_app: Flask, tenant: str | None, query: str, status: int, error: str
) -> None:
    response = client_of(endpoint_app, tenant).get("/embed/token" + query)
    body = response.json
    assert isinstance(body, dict)
    assert (response.status_code, body["error"]) == (status, error)
    assert set(body) <= {"error", "reason"}
    assert response.headers["Cache-Control"] == "private, no-store"
    assert TOKEN.search(response.get_data(as_text=True)) is None


def test_token_view_head_mints_nothing_and_other_methods_are_refused() -> None:
    minted: list[object] = []
    issuer = TokenIssuer(KEY, resources=RESOURCES, on_issue=minted.append)
    client = client_of(make_app(token_endpoint="/embed/token", issuer=issuer)[0], "acme")
    head = client.head("/embed/token?resource=top_airlines")
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["Cache-Control"] == "private, no-store"
    assert minted == [], "HEAD mints no token and tells on_issue of none"
    assert client.head("/embed/token?resource=nope").status_code == 404, "HEAD answers GET's status"
    assert client.get("/embed/token?resource=top_airlines").status_code == 200 and len(minted) == 1
    post = client.post("/embed/token")
    assert post.status_code == 405 and "GET" in post.headers["Allow"]


def test_the_middleware_never_answers_the_endpoint_without_context(endpoint_app: Flask) -> None:
    """The path is a Flask route: the middleware is configured without it."""
    assert isinstance(endpoint_app.wsgi_app, EmbedWSGIMiddleware)
    assert endpoint_app.wsgi_app.config.token_endpoint is None


# -- flask-login -----------------------------------------------------------------------------------


def test_current_user_names_the_tenant() -> None:
    flask_login = pytest.importorskip("flask_login")

    class User(flask_login.UserMixin):  # type: ignore[misc,name-defined]
        def __init__(self, user_id: str, org: str) -> None:
            self.id = user_id
            self.org = org

    users = {"ann": User("ann", "acme"), "bob": User("bob", "globex")}

    def user_tenant() -> Tenant | None:
        user = flask_login.current_user
        return TENANTS.get(user.org) if user.is_authenticated else None

    app, _ = make_app(resolver=user_tenant, token_endpoint="/embed/token")
    manager = flask_login.LoginManager(app)
    manager.user_loader(users.get)

    @app.post("/signin/<name>")
    def signin(name: str) -> str:
        flask_login.login_user(users[name])
        return "ok"

    ann, bob, anonymous = app.test_client(), app.test_client(), app.test_client()
    ann.post("/signin/ann")
    bob.post("/signin/bob")
    assert tokens_in(ann.get("/").get_data(as_text=True), "named")[0]["sub"] == "acme"
    assert tokens_in(bob.get("/").get_data(as_text=True), "named")[0]["sub"] == "globex"
    assert TOKEN.search(anonymous.get("/").get_data(as_text=True)) is None
    assert claims_from(bob.get("/embed/token?resource=top_airlines"))["sub"] == "globex"
    assert anonymous.get("/embed/token").status_code == 401


def test_a_resolver_that_declares_nothing_varies_on_everything() -> None:
    """The middleware cannot know what a function of yours reads: it says ``Vary: *``, never a guess."""

    def undeclared() -> Tenant | None:
        return TENANTS.get(session.get("tenant", ""))

    app = make_app(resolver=undeclared, token_endpoint="/embed/token")[0]
    client = client_of(app, "acme")
    # Flask's session adds Cookie after the view; "*" among the members still means "*" to a cache.
    assert "*" in client.get("/embed/token?resource=top_airlines").headers["Vary"].split(", ")
    assert client.get("/").headers["Vary"] == "*", "the page: merged with the session's Cookie"
