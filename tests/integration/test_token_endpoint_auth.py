"""Who may call the token endpoint: never a caller whose only credential is what it addresses.

The exploit this suite closes: with ``first_of(from_environ(), from_subdomain("example.com"))`` (once the
recommended resolver) and ``token_endpoint=``, the middleware answered the endpoint before the app ran,
so nothing marked the environ, and an anonymous ``GET /embed/token`` with ``Host: globex.example.com``
fell through to the subdomain and got globex's token, under WSGI and a real uvicorn. Now such a
resolver stops the app at start-up, and the endpoint can be mounted inside the app, behind its session.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client
from werkzeug.wrappers import Request

from embed_middleware import (
    ConfigurationError,
    EmbedASGIMiddleware,
    EmbedWSGIMiddleware,
    Tenant,
    TokenEndpointASGI,
    TokenEndpointWSGI,
    TokenIssuer,
    first_of,
    from_cookie,
    from_environ,
    from_header,
    from_path_prefix,
    from_subdomain,
    require_all,
)
from tests.support.parity import call_asgi, http_scope
from tests.support.uvicorn_thread import uvicorn_in_thread
from tests.support.wsgi_helpers import KEY, decode

ISSUER = TokenIssuer(KEY, resources=["top"])
TENANTS = {"acme": Tenant("acme"), "globex": Tenant("globex")}


def plain_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"app"]


CLIENT_STEERED: dict[str, Callable[[], Any]] = {
    "subdomain": lambda: from_subdomain("example.com"),
    "subdomain with lookup": lambda: from_subdomain("example.com", lookup=TENANTS),
    "header": lambda: from_header("X-Tenant"),
    "path prefix": lambda: from_path_prefix("/t/"),
    "cookie": lambda: from_cookie("org"),
    "cookie with a table": lambda: from_cookie("org", lookup=TENANTS),
    "first_of falling through to the subdomain": lambda: first_of(
        from_environ(), from_subdomain("example.com")
    ),
}


@pytest.mark.parametrize("kind", sorted(CLIENT_STEERED))
def test_a_client_steered_resolver_cannot_serve_a_token_endpoint(kind: str) -> None:
    resolver = CLIENT_STEERED[kind]()
    for build in (
        lambda: EmbedWSGIMiddleware(
            plain_app, issuer=ISSUER, resolver=resolver, token_endpoint="/embed/token"
        ),
        lambda: EmbedASGIMiddleware(
            plain_app, issuer=ISSUER, resolver=resolver, token_endpoint="/embed/token"
        ),
        lambda: TokenEndpointWSGI(issuer=ISSUER, resolver=resolver),
        lambda: TokenEndpointASGI(issuer=ISSUER, resolver=resolver),
    ):
        with pytest.raises(ConfigurationError, match="an anonymous caller would get that tenant's token"):
            build()
    # Pages may still use it (the operator's choice), and so may an endpoint behind an authenticating proxy.
    EmbedWSGIMiddleware(plain_app, issuer=ISSUER, resolver=resolver)
    EmbedWSGIMiddleware(
        plain_app,
        issuer=ISSUER,
        resolver=resolver,
        token_endpoint="/embed/token",
        token_endpoint_trusts_client_input=True,
    )


def session_lookup(raw: str) -> Tenant | None:
    """Stands for a signed-session check: only ``signed:<tenant>`` verifies."""
    prefix, _, tenant = raw.partition(":")
    return TENANTS.get(tenant) if prefix == "signed" else None


@pytest.mark.parametrize(
    "resolver",
    [
        from_environ(),
        lambda request: None,
        from_cookie("session", lookup=session_lookup),
        require_all(from_cookie("session", lookup=session_lookup), from_subdomain("example.com")),
    ],
    ids=["from_environ", "your own function", "cookie verified by a lookup function", "require_all"],
)
def test_resolvers_that_authenticate_are_accepted(resolver: Any) -> None:
    EmbedWSGIMiddleware(plain_app, issuer=ISSUER, resolver=resolver, token_endpoint="/embed/token")


def test_the_reproduced_exploit_is_closed_and_require_all_demands_both() -> None:
    """The combination the old docstring recommended, and the one that replaces it."""
    with pytest.raises(ConfigurationError):
        EmbedWSGIMiddleware(
            plain_app,
            issuer=ISSUER,
            resolver=first_of(from_environ(), from_subdomain("example.com")),
            token_endpoint="/embed/token",
        )
    resolver = require_all(from_cookie("session", lookup=session_lookup), from_subdomain("example.com"))
    client = Client(
        EmbedWSGIMiddleware(plain_app, issuer=ISSUER, resolver=resolver, token_endpoint="/embed/token")
    )

    def ask(host: str, cookie: str | None) -> Any:
        if cookie:
            client.set_cookie("session", cookie, domain=host)
        else:
            client.delete_cookie("session", domain=host)
        return client.get("/embed/token?resource=top", headers={"Host": host})

    assert ask("globex.example.com", None).status_code == 401, "anonymous: no token, whatever the Host"
    assert ask("globex.example.com", "signed:acme").status_code == 401, "acme's session on globex's host"
    assert ask("acme.example.com", "forged:acme").status_code == 401, "an unverified cookie"
    answer = ask("acme.example.com", "signed:acme")
    assert answer.status_code == 200 and decode(answer.json["token"])["sub"] == "acme"


def session_tenant(request: Request) -> Tenant | None:
    """The tenant Starlette's SessionMiddleware decoded (and verified) into the scope."""
    scope: Mapping[str, Any] = getattr(request, "scope", {})
    session = scope.get("session")
    tenant = session.get("tenant") if isinstance(session, Mapping) else None
    return TENANTS.get(tenant) if isinstance(tenant, str) else None


async def login(request: StarletteRequest) -> PlainTextResponse:
    request.session["tenant"] = request.path_params["tenant"]
    return PlainTextResponse("ok")


def test_a_mounted_asgi_endpoint_sees_the_session_under_uvicorn() -> None:
    app = Starlette(
        routes=[
            Route("/login/{tenant}", login, methods=["POST"]),
            Route(
                "/embed/token",
                TokenEndpointASGI(issuer=ISSUER, resolver=session_tenant),
                methods=["GET", "HEAD"],
            ),
        ],
        middleware=[Middleware(SessionMiddleware, secret_key="s" * 40)],
    )
    with uvicorn_in_thread(app) as port:

        def get(path: str, headers: dict[str, str], method: str = "GET") -> tuple[int, dict[str, str], bytes]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            answer = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            connection.close()
            return answer

        status, headers, _ = get("/login/acme", {}, "POST")
        cookie = headers["set-cookie"].split(";")[0]
        status, headers, body = get("/embed/token?resource=top", {"Cookie": cookie})
        assert status == 200 and decode(json.loads(body)["token"])["sub"] == "acme"
        assert headers["cache-control"] == "private, no-store" and headers["x-accel-expires"] == "0"
        status, _, body = get("/embed/token?resource=top", {"Host": "globex.example.com"})
        assert status == 401 and json.loads(body) == {"error": "no_tenant"}
        status, _, body = get("/embed/token?resource=top", {"Cookie": cookie}, "HEAD")
        assert status == 200 and body == b""


def test_a_mounted_wsgi_endpoint_runs_inside_the_app() -> None:
    def marking(app: Any) -> Any:
        """Stands for the app's own session middleware: marks the verified tenant."""

        def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
            cookie = Request(environ).cookies.get("session", "")
            tenant = session_lookup(cookie)
            if tenant is not None:
                environ["embed.tenant"] = tenant
            return app(environ, start_response)

        return wrapped

    app = marking(
        DispatcherMiddleware(
            plain_app, {"/embed/token": TokenEndpointWSGI(issuer=ISSUER, resolver=from_environ())}
        )
    )
    client = Client(app)
    assert client.get("/embed/token?resource=top").status_code == 401
    client.set_cookie("session", "signed:globex")
    answer = client.get("/embed/token?resource=top")
    assert answer.status_code == 200 and decode(answer.json["token"])["sub"] == "globex"
    assert client.get("/embed/token?resource=nope").status_code == 404


def test_require_all_under_asgi() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise AssertionError("the intercepted endpoint never runs the app")

    resolver = require_all(from_cookie("session", lookup=session_lookup), from_subdomain("example.com"))
    wrapped = EmbedASGIMiddleware(app, issuer=ISSUER, resolver=resolver, token_endpoint="/embed/token")

    def status_for(host: str, cookie: str) -> tuple[int, bytes]:
        scope = http_scope("/embed/token?resource=top")
        scope["headers"] = [(b"host", host.encode()), (b"cookie", f"session={cookie}".encode())]
        messages = asyncio.run(call_asgi(wrapped, scope))
        return messages[0]["status"], messages[1]["body"]

    assert status_for("globex.example.com", "signed:acme")[0] == 401
    status, body = status_for("acme.example.com", "signed:acme")
    assert status == 200 and decode(json.loads(body)["token"])["sub"] == "acme"
