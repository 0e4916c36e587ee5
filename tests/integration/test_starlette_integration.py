"""FastAPI/Starlette: resolvers that read what the app's own middleware put in the scope.

``SessionMiddleware`` sets ``scope["session"]``, ``AuthenticationMiddleware`` ``scope["user"]``, and
``request.state`` is ``scope["state"]``. The rule these tests pin down: **add ``EmbedASGIMiddleware``
first** (Starlette runs the middleware added last first, so the one added first sits closest to the
app). Pages then work whatever the resolver reads, and so does the token endpoint, which the embed
middleware answers without calling what is inside it. Added last (outermost), pages still get their
token only because the inner middlewares write into the very scope dict the embed middleware holds,
and it resolves lazily, after them; the token endpoint finds no session and no user, and a
middleware that hands a copy of the scope on hides what it set.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser, SimpleUser
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection
from starlette.requests import Request as StarletteRequest
from werkzeug.wrappers import Request as WerkzeugRequest

from embed_middleware import EmbedASGIMiddleware, Tenant, TokenIssuer, embed_placeholder, from_environ
from tests.support.parity import call_asgi, check_sequence, http_scope
from tests.support.tokens import TOKEN
from tests.support.wsgi_helpers import KEY, decode

PAGE = '<iframe src="https://charts.example.com/e?token={}"></iframe>'


def page_for(request: Request) -> str:
    return PAGE.format(embed_placeholder(request, "top_airlines"))


ENDPOINT = "/embed/token"

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]
#: status, response headers (lowercase names), body
Response = tuple[int, dict[str, str], bytes]


# -- resolvers reading the scope ---------------------------------------------------------------------


def scope_of(request: WerkzeugRequest) -> Mapping[str, Any]:
    """The ASGI scope behind the request a resolver gets (``environ["asgi.scope"]``)."""
    scope = request.environ.get("asgi.scope")
    return scope if isinstance(scope, Mapping) else {}


def from_scope_user(attr: str = "tenant_id") -> Callable[[WerkzeugRequest], Tenant | None]:
    """``scope["user"].<attr>`` of an authenticated user (Starlette's AuthenticationMiddleware).

    A candidate built-in: reads the scope, never ``request.user`` (which asserts), so a missing
    AuthenticationMiddleware means no tenant (401, empty placeholders) rather than a 500.
    """

    def resolve(request: WerkzeugRequest) -> Tenant | None:
        user = scope_of(request).get("user")
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        tenant_id = getattr(user, attr, None)
        return Tenant(tenant_id) if isinstance(tenant_id, str) else None

    return resolve


def from_session(request: WerkzeugRequest) -> Tenant | None:
    """The tenant in the session SessionMiddleware verified."""
    session = scope_of(request).get("session")
    tenant = session.get("tenant") if isinstance(session, Mapping) else None
    return Tenant(tenant) if isinstance(tenant, str) else None


def strict_request_user(request: WerkzeugRequest) -> Tenant | None:
    """Starlette's own ``request.user``: asserts when AuthenticationMiddleware has not run."""
    user = StarletteRequest(dict(scope_of(request))).user
    return Tenant(user.tenant_id) if user.is_authenticated else None


def from_state_org(request: WerkzeugRequest) -> Tenant | None:
    """``request.state.org``, set by the app's own middleware."""
    state = scope_of(request).get("state")
    org = state.get("org") if isinstance(state, Mapping) else None
    return Tenant(org) if isinstance(org, str) else None


RESOLVERS = {"scope user": from_scope_user(), "session": from_session, "request.user": strict_request_user}


# -- the app -------------------------------------------------------------------------------------------


class TenantUser(SimpleUser):
    def __init__(self, username: str, tenant_id: str) -> None:
        super().__init__(username)
        self.tenant_id = tenant_id


class SessionBackend(AuthenticationBackend):
    """The app's authentication: the user named in the (signed) session; needs SessionMiddleware."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        tenant = conn.session.get("tenant")
        if not isinstance(tenant, str):
            return None
        return AuthCredentials(["authenticated"]), TenantUser(f"user@{tenant}", tenant)


class CopyingUserMiddleware:
    """An app middleware that hands a *copy* of the scope on, as some do (``{**scope, ...}``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "user": TenantUser("api-key", "initech")}
        await self.app(scope, receive, send)


class StateOrgMiddleware:
    """The app's own pure-ASGI middleware putting the organisation on ``request.state``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            org = dict(scope["headers"]).get(b"x-org")
            scope.setdefault("state", {})["org"] = org.decode() if org else None
        await self.app(scope, receive, send)


def make_app(*, embed_added: str, resolver: Any, extra: Any = None) -> FastAPI:
    """``embed_added`` is "first" (innermost: the rule) or "last" (outermost)."""
    app = FastAPI()

    @app.post("/login/{tenant}")
    async def login(tenant: str, request: Request) -> dict[str, bool]:
        request.session["tenant"] = tenant
        return {"ok": True}

    @app.get("/page", response_class=HTMLResponse)
    async def page(request: Request) -> str:
        return page_for(request)

    @app.get("/marked", response_class=HTMLResponse)
    async def marked(request: Request) -> str:
        request.state.embed_tenant = Tenant("umbrella")  # what from_environ() reads under ASGI
        return page_for(request)

    def add_embed() -> None:
        app.add_middleware(
            EmbedASGIMiddleware,  # type: ignore[arg-type, unused-ignore]
            issuer=TokenIssuer(KEY, resources=["top_airlines"]),
            resolver=resolver,
            token_endpoint=ENDPOINT,
        )

    if embed_added == "first":
        add_embed()
    if extra is not None:
        app.add_middleware(extra)
    app.add_middleware(AuthenticationMiddleware, backend=SessionBackend())
    app.add_middleware(SessionMiddleware, secret_key="session-secret-" + "s" * 32)
    if embed_added == "last":
        add_embed()
    return app


# -- driving it ------------------------------------------------------------------------------------------


def fetch(app: ASGIApp, path: str, *headers: tuple[str, str], method: str = "GET") -> Response:
    messages = asyncio.run(call_asgi(app, http_scope(path, method, headers)))
    check_sequence(messages)
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


def login(app: ASGIApp, tenant: str) -> tuple[str, str]:
    """Logs in through the app itself; the session cookie, as a request header."""
    status, headers, _ = fetch(app, f"/login/{tenant}", method="POST")
    assert status == 200
    return "cookie", headers["set-cookie"].split(";", 1)[0]


def page_tenants(app: ASGIApp, path: str = "/page", *headers: tuple[str, str]) -> list[str]:
    status, _, body = fetch(app, path, *headers)
    assert status == 200
    return [decode(token)["sub"] for token in TOKEN.findall(body)]


def endpoint(app: ASGIApp, *headers: tuple[str, str]) -> tuple[int, dict[str, Any]]:
    status, _, body = fetch(app, f"{ENDPOINT}?resource=top_airlines", *headers)
    return status, json.loads(body) if body.startswith(b"{") else {}


# -- the tests -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resolver", RESOLVERS.values(), ids=RESOLVERS.keys())
def test_embed_added_first_sees_session_and_user_everywhere(resolver: Any) -> None:
    app = make_app(embed_added="first", resolver=resolver)
    acme, globex = login(app, "acme"), login(app, "globex")
    assert page_tenants(app, "/page", acme) == ["acme"]
    assert page_tenants(app, "/page", globex) == ["globex"]
    assert page_tenants(app, "/page") == [], "anonymous: no token"
    for session, tenant in ((acme, "acme"), (globex, "globex")):
        status, body = endpoint(app, session)
        assert status == 200 and decode(body["token"])["sub"] == tenant
    assert endpoint(app) == (401, {"error": "no_tenant"})


@pytest.mark.parametrize("resolver", RESOLVERS.values(), ids=RESOLVERS.keys())
def test_embed_added_last_fills_pages_but_its_endpoint_sees_no_session(resolver: Any) -> None:
    app = make_app(embed_added="last", resolver=resolver)
    acme = login(app, "acme")
    # Pages: the inner middlewares wrote into the scope dict the embed middleware holds, before the
    # first placeholder made it resolve.
    assert page_tenants(app, "/page", acme) == ["acme"]
    # The endpoint is answered before the session and the user exist.
    status, body = endpoint(app, acme)
    if resolver is strict_request_user:
        assert status == 500, "request.user asserts: the resolver raised, a clean 500"
    else:
        assert (status, body) == (401, {"error": "no_tenant"})


@pytest.mark.parametrize(("embed_added", "expected"), [("first", ["initech"]), ("last", [])])
def test_an_outer_embed_cannot_see_what_a_copying_middleware_sets(
    embed_added: str, expected: list[str]
) -> None:
    """Why "first" is the rule for pages too: outside, the embed middleware only sees its own scope."""
    app = make_app(embed_added=embed_added, resolver=from_scope_user(), extra=CopyingUserMiddleware)
    assert page_tenants(app) == expected


@pytest.mark.parametrize("embed_added", ["first", "last"])
def test_request_state_set_by_an_app_middleware(embed_added: str) -> None:
    app = make_app(embed_added=embed_added, resolver=from_state_org, extra=StateOrgMiddleware)
    assert page_tenants(app, "/page", ("x-org", "hooli")) == ["hooli"], "pages: either order"
    status, _ = endpoint(app, ("x-org", "hooli"))
    assert status == (200 if embed_added == "first" else 401), "the endpoint: only when added first"


@pytest.mark.parametrize("embed_added", ["first", "last"])
def test_request_state_marked_by_a_view(embed_added: str) -> None:
    """``request.state.embed_tenant`` is what ``from_environ()`` reads under ASGI, in either order."""
    app = make_app(embed_added=embed_added, resolver=from_environ())
    assert page_tenants(app, "/marked") == ["umbrella"]
