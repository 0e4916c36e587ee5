"""Compression order: the embed middleware must sit inside (closer to the app than) the compressor.

(a) Compression outside: the client gets gzip that decompresses to the rewritten page, with a valid
    token and a Content-Length that matches the bytes sent.
(b) Compression inside: the middleware sees ``Content-Encoding: gzip``, leaves the body untouched
    (the app's placeholder, nonce and all, is still in the decompressed page, no token anywhere) and
    logs one warning per middleware, however many requests, that names the fix.

The views write their placeholder with ``embed_placeholder(request, "top_airlines")``, as an app does.

Starlette's ``GZipMiddleware`` runs in this process. Django's runs in a child process (this file run
as a script), because Django's settings are process-wide and other modules configure their own. With
Django's WSGI handler wrapped by ``EmbedWSGIMiddleware`` the compressor is always inside Django, so
that arrangement is case (b); case (a) needs a Django-native embed middleware placed after
``GZipMiddleware`` in ``MIDDLEWARE``.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from embed_middleware import EmbedASGIMiddleware, TokenIssuer, embed_placeholder, from_environ
from tests.support.app_placeholders import own, own_chunks
from tests.support.parity import call_asgi, check_sequence, http_scope
from tests.support.tokens import TOKEN, signing_secret

KEY = signing_secret("compression", 64)
ROOT = Path(__file__).resolve().parents[2]
FIX = "place the embed middleware inside (closer to the app than) any compression middleware"
PAGE = (
    b"<!doctype html><html><body>\n"
    + b"<p>an ordinary dashboard page, long enough to be worth compressing</p>\n" * 12
    + b'<iframe src="https://charts.example.com/embed?token=<JWT_TOKEN:top_airlines>"></iframe>\n'
    + b"</body></html>\n"
)
#: The page in three chunks, the placeholder split across the first two.
SPLIT = PAGE.index(b"<JWT_TOKEN") + 5
CHUNKS = (PAGE[:SPLIT], PAGE[SPLIT:-20], PAGE[-20:])
#: The app's own placeholder, as embed_placeholder() writes it.
OWN_PLACEHOLDER = re.compile(rb"<JWT_TOKEN:top_airlines:([A-Za-z0-9_-]{22})>")


def issuer() -> TokenIssuer:
    return TokenIssuer(KEY, resources=["top_airlines"])


def own_page(request: Any) -> bytes:
    """PAGE with the app's placeholder for this request (what a template's embed_placeholder() writes)."""
    return PAGE.replace(b"<JWT_TOKEN:top_airlines>", embed_placeholder(request, "top_airlines").encode())


def own_chunks_for(request: Any) -> list[bytes]:
    """CHUNKS likewise, split beside the same text."""
    nonce = embed_placeholder(request, None)[len("<JWT_TOKEN:") : -1]
    return own_chunks(CHUNKS, nonce)


DJANGO_EMBED = "embed_middleware.django.EmbedMiddleware"
DJANGO_SKIP = "Django embed middleware not available"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def page(self) -> bytes:
        return gzip.decompress(self.body) if self.headers.get("content-encoding") == "gzip" else self.body


def check_rewritten(reply: Reply, *, whole: bool) -> None:
    """Case (a): gzip on the wire, the rewritten page inside, a token for acme's top_airlines."""
    assert reply.status == 200
    assert reply.headers["content-encoding"] == "gzip"
    if whole:
        assert int(reply.headers["content-length"]) == len(reply.body)
    else:
        assert "content-length" not in reply.headers
    page = reply.page
    assert b"JWT_TOKEN" not in page, "the app's placeholder is replaced whole, nonce and all"
    tokens = TOKEN.findall(page)
    assert len(tokens) == 1
    claims = jwt.decode(tokens[0], KEY, algorithms=["HS256"])
    assert (claims["sub"], claims["resource"]) == ("acme", "top_airlines")
    assert page == PAGE.replace(b"<JWT_TOKEN:top_airlines>", tokens[0])
    assert reply.headers["cache-control"] == "private, no-store"
    assert "accept-encoding" in reply.headers["vary"].lower()


def check_untouched(reply: Reply, *, whole: bool = True) -> None:
    """Case (b): gzip on the wire, the app's page inside exactly, no token in body or headers."""
    assert reply.status == 200
    assert reply.headers["content-encoding"] == "gzip"
    if whole:
        assert int(reply.headers["content-length"]) == len(reply.body)
    else:
        assert "content-length" not in reply.headers
    found = OWN_PLACEHOLDER.search(reply.page)
    assert found is not None, "the app's placeholder is still in the page"
    assert reply.page == own(PAGE, found.group(1).decode())
    assert not TOKEN.search(reply.page)
    assert not any(TOKEN.search(value.encode("latin-1")) for value in reply.headers.values())
    # It has a slot for a token (the app drew the nonce): personal, though nothing was filled.
    assert reply.headers["cache-control"] == "private, no-store"


def check_one_warning(messages: list[str]) -> None:
    assert len(messages) == 1, messages
    assert FIX in messages[0]


# -- Starlette, in this process ----------------------------------------------------------------------


def starlette_app(*, gzip_outside: bool) -> Starlette:
    async def dashboard(request: Request) -> Response:
        request.state.embed_tenant = "acme"
        return HTMLResponse(own_page(request))

    async def streamed(request: Request) -> Response:
        request.state.embed_tenant = "acme"
        parts = own_chunks_for(request)

        async def chunks() -> Any:
            for chunk in parts:
                yield chunk

        return StreamingResponse(chunks(), media_type="text/html")

    app = Starlette(routes=[Route("/dashboard", dashboard), Route("/streamed", streamed)])
    # Starlette: the middleware added last is the outermost.
    if gzip_outside:
        app.add_middleware(EmbedASGIMiddleware, issuer=issuer(), resolver=from_environ())
        app.add_middleware(GZipMiddleware, minimum_size=100)
    else:
        app.add_middleware(GZipMiddleware, minimum_size=100)
        app.add_middleware(EmbedASGIMiddleware, issuer=issuer(), resolver=from_environ())
    return app


async def asgi_get(app: Any, path: str, *, accept_gzip: bool = True) -> Reply:
    messages = await call_asgi(app, http_scope(path, headers=[("Accept-Encoding", "gzip")] * accept_gzip))
    check_sequence(messages)
    start, *bodies = messages
    names = [k.decode("latin-1") for k, _ in start["headers"]]
    assert names.count("content-length") <= 1 and names.count("content-encoding") <= 1
    head = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    return Reply(start["status"], head, b"".join(m.get("body", b"") for m in bodies))


def serve_starlette(app: Starlette, paths: list[str], *, accept_gzip: bool = True) -> list[Reply]:
    async def all_of_them() -> list[Reply]:
        return [await asgi_get(app, path, accept_gzip=accept_gzip) for path in paths]

    return asyncio.run(all_of_them())


@pytest.mark.parametrize("path", ["/dashboard", "/streamed"])
def test_starlette_gzip_outside_the_embed_middleware_works(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="embed_middleware"):
        replies = serve_starlette(starlette_app(gzip_outside=True), [path] * 3)
    for reply in replies:
        check_rewritten(reply, whole=path == "/dashboard")
    assert len({TOKEN.findall(r.page)[0] for r in replies}) == 3  # a fresh token per response
    assert not [r for r in caplog.records if r.name.startswith("embed_middleware")]


def test_starlette_gzip_inside_the_embed_middleware_is_left_alone_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = starlette_app(gzip_outside=False)
    with caplog.at_level(logging.WARNING, logger="embed_middleware"):
        replies = serve_starlette(app, ["/dashboard", "/dashboard", "/dashboard", "/dashboard"])
    for reply in replies:
        check_untouched(reply)
    check_one_warning([r.getMessage() for r in caplog.records if r.name.startswith("embed_middleware")])


def test_starlette_wrong_order_still_rewrites_for_clients_without_gzip() -> None:
    """Why the warning matters: the misordering only shows for clients that accept gzip (browsers)."""
    (reply,) = serve_starlette(starlette_app(gzip_outside=False), ["/dashboard"], accept_gzip=False)
    assert "content-encoding" not in reply.headers
    assert b"JWT_TOKEN" not in reply.body and TOKEN.search(reply.body)


# -- Django, in a child process -----------------------------------------------------------------------


def django_embed_available() -> bool:
    return importlib.util.find_spec(DJANGO_EMBED.rsplit(".", 1)[0]) is not None


def serve_django(arrangement: str, requests: int = 4) -> tuple[list[Reply], list[str]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    child = subprocess.run(
        [sys.executable, "-W", "error", __file__, arrangement, str(requests)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-4000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    replies = [Reply(r["status"], r["headers"], base64.b64decode(r["body"])) for r in result["replies"]]
    return replies, result["warnings"]


def test_django_gzip_inside_django_and_embed_wsgi_outside_is_left_alone_with_one_warning() -> None:
    replies, warnings = serve_django("django-wsgi-outside")
    for index, reply in enumerate(replies):
        check_untouched(reply, whole=index % 2 == 0)
    check_one_warning(warnings)


@pytest.mark.skipif(not django_embed_available(), reason=DJANGO_SKIP)
@pytest.mark.parametrize("arrangement", ["django-native-inside", "django-native-outside"])
def test_django_native_embed_middleware_in_both_orders(arrangement: str) -> None:
    """``MIDDLEWARE = [GZipMiddleware, embed]`` (gzip outermost) works; the other order warns once."""
    replies, warnings = serve_django(arrangement)
    for index, reply in enumerate(replies):  # whole pages and streamed ones, alternately
        if arrangement == "django-native-inside":
            check_rewritten(reply, whole=index % 2 == 0)
        else:
            check_untouched(reply, whole=index % 2 == 0)
    if arrangement == "django-native-inside":
        assert not warnings
    else:
        check_one_warning(warnings)


def wsgi_get(application: Any, path: str) -> dict[str, Any]:
    """One GET that accepts gzip, served as a WSGI server would; the reply as JSON-ready values."""
    from werkzeug.test import EnvironBuilder

    head: list[Any] = []
    environ = EnvironBuilder(path=path, headers=[("Accept-Encoding", "gzip")]).get_environ()
    result = application(environ, lambda status, headers, exc_info=None: head.extend([status, headers]))
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    names = [k.lower() for k, _ in head[1]]
    assert names.count("content-length") <= 1 and names.count("content-encoding") <= 1, head
    headers = {k.lower(): v for k, v in head[1]}
    return {"status": int(head[0].split()[0]), "headers": headers, "body": base64.b64encode(body).decode()}


def django_child(arrangement: str, requests: int) -> dict[str, Any]:
    """Runs in the child: a minimal Django project in this module, served ``requests`` times."""
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
    from django.urls import path

    from embed_middleware import EmbedWSGIMiddleware

    def dashboard(request: HttpRequest) -> HttpResponse:
        request.META["embed.tenant"] = "acme"
        return HttpResponse(own_page(request), content_type="text/html; charset=utf-8")

    def streamed(request: HttpRequest) -> StreamingHttpResponse:
        request.META["embed.tenant"] = "acme"
        return StreamingHttpResponse(iter(own_chunks_for(request)), content_type="text/html; charset=utf-8")

    globals()["urlpatterns"] = [path("dashboard", dashboard), path("streamed", streamed)]
    embed_options = {"issuer": issuer(), "resolver": from_environ()}
    gzip_middleware = "django.middleware.gzip.GZipMiddleware"
    settings.configure(  # in the child only: Django's settings are process-wide
        DEBUG=False,
        SECRET_KEY="compression-order-" + "d" * 40,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[gzip_middleware],
        INSTALLED_APPS=[],
        USE_TZ=True,
        EMBED_MIDDLEWARE=embed_options,
    )
    if arrangement != "django-wsgi-outside":
        # Django runs MIDDLEWARE top to bottom on the way in: the first listed is the outermost.
        inside = arrangement == "django-native-inside"
        settings.MIDDLEWARE = [gzip_middleware, DJANGO_EMBED] if inside else [DJANGO_EMBED, gzip_middleware]
    django.setup()
    application: Any = get_wsgi_application()
    if arrangement == "django-wsgi-outside":
        application = EmbedWSGIMiddleware(application, **embed_options)

    warnings: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("embed_middleware").addHandler(handler)
    replies = [wsgi_get(application, ("/dashboard", "/streamed")[n % 2]) for n in range(requests)]
    return {"replies": replies, "warnings": warnings}


if __name__ == "__main__":
    print(json.dumps(django_child(sys.argv[1], int(sys.argv[2]))))
