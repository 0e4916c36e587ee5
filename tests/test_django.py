"""The Django middleware: sync (WSGI) and async (ASGI) Django, plain and streaming responses, resolvers
on ``request.user`` (the ORM under ASGI), settings checks, the token view, the parity table through
both of Django's own handlers, and the Chartio example end to end.

Django is configured once per process by ``tests.support.django_setup`` (whose URLconf is this module);
each test picks its middleware options with ``override_settings``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import jwt
import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.test import AsyncClient, Client, RequestFactory, override_settings
from django.urls import path, re_path

from embed_middleware import (
    Tenant,
    TokenIssuer,
    first_of,
    from_cookie,
    from_environ,
    from_header,
    from_path_prefix,
    from_subdomain,
)
from embed_middleware.django import EmbedMiddleware, embed_token_view
from examples.django_chartio import settings as example_settings
from tests.support import django_setup  # noqa: F401 - settings.configure, once per process
from tests.support.app_placeholders import TEST_RESOURCES, own, own_chunks
from tests.support.parity import Case, Result, call_asgi, check_sequence, http_scope, serve_wsgi
from tests.support.parity_cases import CASES
from tests.support.tokens import TOKEN
from tests.support.wsgi_helpers import KEY, decode, run

PAGE = b"<html><iframe src='x?token=<JWT_TOKEN:top>'></iframe></html>"
#: Many chunks, the placeholder split across three of them.
CHUNKS = [b"<html>", *(b"<p>row %d</p>" % i for i in range(40)), b"<iframe src='x?token=<JWT_", b"TOKEN:to"]
CHUNKS += [b"p>'>", b"</iframe></html>"]
ISSUER = TokenIssuer(KEY, resources=TEST_RESOURCES, allow_unscoped=True)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def embed(**options: Any) -> override_settings:
    options.setdefault("issuer", ISSUER)
    options.setdefault("resolver", from_environ())
    return override_settings(EMBED_MIDDLEWARE=options)


# -- the app's views ----------------------------------------------------------------------------------

produced: list[int] = []


def page_of(request: HttpRequest) -> bytes:
    """PAGE as the app writes it for this request: its placeholder carries the request's nonce."""
    return own(PAGE, request.META)


def marked(request: HttpRequest, response: Any) -> Any:
    request.META["embed.tenant"] = "acme"  # what a view does to name its tenant; from_environ() reads it
    return response


def page(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(
        page_of(request), headers={"Cache-Control": "public, max-age=3600", "ETag": '"v1"'}
    )
    response.headers["Vary"] = "Accept"
    response.set_cookie("app", "1")
    return marked(request, response)


def anonymous(request: HttpRequest) -> HttpResponse:
    return HttpResponse(page_of(request))


def stream(request: HttpRequest) -> StreamingHttpResponse:
    signed = own_chunks(CHUNKS, request.META)

    def chunks() -> Iterator[bytes]:
        for index, chunk in enumerate(signed):
            produced.append(index)
            yield chunk

    return marked(request, StreamingHttpResponse(chunks()))


def astream(request: HttpRequest) -> StreamingHttpResponse:
    signed = own_chunks(CHUNKS, request.META)

    async def chunks() -> AsyncIterator[bytes]:
        for index, chunk in enumerate(signed):
            produced.append(index)
            yield chunk

    return marked(request, StreamingHttpResponse(chunks()))


def big_page(request: HttpRequest) -> HttpResponse:
    return marked(request, HttpResponse(b"<p>" + b"padding " * 100 + b"</p>" + page_of(request)))


urlpatterns = [
    path("t/page", page),
    path("t/anonymous", anonymous),
    path("t/stream", stream),
    path("t/astream", astream),
    path("t/big", big_page),
    path("t/token", embed_token_view),
    re_path(r"^", lambda request: parity_view(request)),
]


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else bytes(response.content)


async def abody_of(response: Any) -> bytes:
    if not response.streaming:
        return bytes(response.content)
    return b"".join([chunk async for chunk in response.streaming_content])


def claims(body: bytes) -> list[dict[str, Any]]:
    return [decode(token) for token in TOKEN.findall(body)]


def carries_no_token(response: Any, body: bytes) -> None:
    assert not TOKEN.search(body)
    assert not any(TOKEN.search(value.encode()) for value in response.headers.values())


def clean_500(response: Any, body: bytes) -> None:
    assert response.status_code == 500
    assert body == b"Internal Server Error: could not prepare the embed.\n"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "app" not in response.cookies, "none of the app's headers or cookies on our 500"
    carries_no_token(response, body)


# -- Django's middleware conventions and settings ------------------------------------------------------


def test_the_middleware_follows_djangos_conventions() -> None:
    async def async_view(request: Any) -> HttpResponse:
        return HttpResponse()

    assert EmbedMiddleware.sync_capable and EmbedMiddleware.async_capable
    assert asyncio.iscoroutinefunction(EmbedMiddleware(async_view))
    assert not asyncio.iscoroutinefunction(EmbedMiddleware(lambda request: HttpResponse()))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, 'needs settings.EMBED_MIDDLEWARE: add EMBED_MIDDLEWARE = {"issuer"'),
        ([("issuer", ISSUER)], "must be a dict"),
        ({"issuer": ISSUER}, "has no resolver"),
        ({}, "has no issuer or resolver"),
        ({"issuer": ISSUER, "resolver": from_environ(), "token_endpoint": "/t"}, "embed_token_view"),
        ({"issuer": ISSUER, "resolver": from_environ(), "colour": "red"}, "unknown options colour; known:"),
        ({"issuer": ISSUER, "resolver": "nowhere.resolve"}, "['resolver']: cannot import 'nowhere.resolve'"),
        ({"issuer": ISSUER, "resolver": from_environ(), "missing_tenant": "x"}, ": missing_tenant must be"),
        ({"issuer": "tests.test_django.KEY", "resolver": from_environ()}, ": issuer must be a TokenIssuer"),
    ],
)
def test_bad_settings_stop_the_app_at_start_up(value: Any, message: str) -> None:
    with override_settings(EMBED_MIDDLEWARE=value), pytest.raises(ImproperlyConfigured) as raised:
        EmbedMiddleware(lambda request: HttpResponse())
    assert message in str(raised.value)


def test_the_placeholder_setting_is_a_deprecated_alias_of_placeholder_word() -> None:
    with embed(placeholder="EMBED"), pytest.warns(DeprecationWarning, match="placeholder_word"):
        old = EmbedMiddleware(lambda request: HttpResponse()).config
    with embed(placeholder_word="EMBED"):
        assert EmbedMiddleware(lambda request: HttpResponse()).config.syntax == old.syntax


def test_the_content_type_is_read_by_the_adapters_one_scan() -> None:
    """Django keeps one value per field, so repeats cannot reach it; what it has is read by the same
    scan as under WSGI and ASGI (a JSON body is never rewritten, a HTML one is)."""
    for content_type, rewritten in (("application/json", False), ("text/html", True)):

        def view(request: Any, content_type: str = content_type) -> HttpResponse:
            return marked(request, HttpResponse(page_of(request), content_type=content_type))

        with embed():
            body = EmbedMiddleware(view)(RequestFactory().get("/")).content
        assert bool(claims(body)) is rewritten


def test_dotted_paths_are_imported_once_django_is_ready() -> None:
    with override_settings(EMBED_MIDDLEWARE={"issuer": f"{__name__}.ISSUER", "resolver": f"{__name__}.ACME"}):
        response = Client().get("/t/anonymous")
    assert claims(response.content)[0]["sub"] == "acme"


def ACME(request: Any) -> Tenant:
    assert isinstance(request, HttpRequest), "hooks get Django's request"
    return Tenant("acme")


# -- HttpResponse, sync and async ----------------------------------------------------------------------


def expect_page(response: Any, body: bytes) -> None:
    assert response.status_code == 200
    (token,) = claims(body)
    assert token == {**token, "sub": "acme", "resource": "top"}
    assert body == PAGE.replace(b"<JWT_TOKEN:top>", TOKEN.search(body).group(0))  # type: ignore[union-attr]
    assert response.headers["Content-Length"] == str(len(body))
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Vary"] == "Accept, Cookie"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "ETag" not in response.headers
    assert response.cookies["app"].value == "1", "the app's cookies stay"


def test_page_sync() -> None:
    with embed():
        response = Client().get("/t/page")
    expect_page(response, response.content)


@pytest.mark.anyio
async def test_page_async() -> None:
    with embed():
        response = await AsyncClient().get("/t/page")
    expect_page(response, await abody_of(response))


def test_responses_it_does_not_rewrite_are_handed_back_as_they_are() -> None:
    made = [JsonResponse({"a": "<JWT_TOKEN>"}), HttpResponse(b"<JWT_TOKEN>", content_type="text/plain")]
    with embed():
        for response in made:
            assert EmbedMiddleware(lambda request, r=response: r)(RequestFactory().get("/")) is response
    assert made[0].content == b'{"a": "<JWT_TOKEN>"}' and "Cache-Control" not in made[0].headers


def test_no_tenant_no_token() -> None:
    with embed():
        response = Client().get("/t/anonymous")
    assert response.content == b"<html><iframe src='x?token='></iframe></html>"
    carries_no_token(response, response.content)


def raising(request: Any) -> Tenant:
    raise LookupError("tenant store down")


@pytest.mark.parametrize("view", ["/t/page", "/t/stream"])
def test_resolver_raising_is_a_clean_500_sync(view: str) -> None:
    with embed(resolver=raising):
        response = Client().get(view)
    clean_500(response, body_of(response))


@pytest.mark.anyio
@pytest.mark.parametrize("view", ["/t/page", "/t/astream"])
async def test_resolver_raising_is_a_clean_500_async(view: str) -> None:
    with embed(resolver=raising):
        response = await AsyncClient().get(view)
    clean_500(response, await abody_of(response))


def test_compression_goes_outside() -> None:
    """GZipMiddleware above the embed middleware compresses the rewritten page; below it, the page
    reaches the embed middleware compressed and keeps its placeholder (logged once)."""
    gzip_mw = "django.middleware.gzip.GZipMiddleware"
    with embed(), override_settings(MIDDLEWARE=[gzip_mw, "embed_middleware.django.EmbedMiddleware"]):
        response = Client().get("/t/big", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert claims(gzip.decompress(response.content))[0]["sub"] == "acme"
    with embed(), override_settings(MIDDLEWARE=["embed_middleware.django.EmbedMiddleware", gzip_mw]):
        response = Client().get("/t/big", headers={"Accept-Encoding": "gzip"})
    assert b"<JWT_TOKEN:top:" in gzip.decompress(response.content)


# -- StreamingHttpResponse -----------------------------------------------------------------------------


def expect_stream(response: Any, body: bytes) -> None:
    assert response.streaming and "Content-Length" not in response.headers
    assert response.headers["Cache-Control"] == "private, no-store"
    ((token,),) = [TOKEN.findall(body)]
    assert body == b"".join(CHUNKS).replace(b"<JWT_TOKEN:top>", token)
    assert decode(token)["resource"] == "top"


def test_stream_sync_is_read_only_up_to_its_first_output() -> None:
    produced.clear()
    with embed():
        response = Client().get("/t/stream")
        assert produced == [0], "headers need only the first output; the rest streams as Django reads"
        parts = list(response.streaming_content)
    assert len(parts) > len(CHUNKS) // 2
    expect_stream(response, b"".join(parts))


@pytest.mark.anyio
async def test_stream_async_is_read_only_up_to_its_first_output() -> None:
    produced.clear()
    with embed():
        response = await AsyncClient().get("/t/astream")
        assert produced == [0]
        assert response.is_async
        body = await abody_of(response)
    expect_stream(response, body)


@pytest.mark.anyio
async def test_a_sync_stream_under_asgi_is_read_whole_with_djangos_warning() -> None:
    with embed(), pytest.warns(Warning, match="must consume synchronous iterators"):
        response = await AsyncClient().get("/t/stream")
    assert response.is_async, "so that Django does not read (and warn) a second time"
    expect_stream(response, await abody_of(response))


def test_an_async_stream_under_wsgi_is_read_whole_with_djangos_warning() -> None:
    with embed(), pytest.warns(Warning, match="must consume asynchronous iterators"):
        response = Client().get("/t/astream")
    assert not response.is_async
    expect_stream(response, body_of(response))


def test_file_responses_keep_sendfile_unless_they_are_pages(tmp_path: Any) -> None:
    (tmp_path / "a.html").write_bytes(PAGE)
    (tmp_path / "a.css").write_bytes(b"p{content:'<JWT_TOKEN>'}")
    with embed(resolver=ACME):
        css = FileResponse((tmp_path / "a.css").open("rb"))
        assert EmbedMiddleware(lambda request: css)(RequestFactory().get("/")) is css
        assert css.file_to_stream is not None
        css.close()
        html = FileResponse((tmp_path / "a.html").open("rb"))
        assert EmbedMiddleware(lambda request: html)(RequestFactory().get("/")) is html
    assert html.file_to_stream is None and "Content-Length" not in html.headers
    # A file on disk cannot carry this request's nonce: its placeholder is not the app's to fill.
    assert body_of(html) == PAGE
    html.close()


# -- resolvers on request.user, with the ORM under ASGI ------------------------------------------------


@pytest.fixture(scope="module")
def users() -> dict[str, Any]:
    call_command("migrate", verbosity=0)
    return {
        "alice": User.objects.create_user("alice", last_name="acme"),
        "bob": User.objects.create_user("bob", last_name="globex"),
    }


def tenant_of_user(request: Any) -> Tenant | None:
    """The tenant of the logged-in user: ``request.user`` is a lazy database read."""
    user = request.user
    return Tenant(user.last_name) if user.is_authenticated else None


def user_claims(tenant: Tenant, resource: str | None, request: Any) -> dict[str, Any]:
    # The ORM in a claims hook: under ASGI this only works off the event loop.
    return {
        "sub": tenant.id,
        "user": request.user.username,
        "peers": User.objects.filter(last_name=tenant.id).count(),
    }


def expect_user(body: bytes, user: str, tenant: str) -> None:
    (token,) = claims(body)
    assert (token["sub"], token["user"], token["peers"]) == (tenant, user, 1)


def test_request_user_resolver_sync(users: dict[str, Any]) -> None:
    client = Client()
    with embed(resolver=tenant_of_user, issuer=TokenIssuer(KEY, claims=user_claims, resources=["top"])):
        assert not TOKEN.search(client.get("/t/anonymous").content)
        client.force_login(users["bob"])
        expect_user(client.get("/t/anonymous").content, "bob", "globex")


@pytest.mark.anyio
async def test_request_user_resolver_and_orm_claims_async(users: dict[str, Any]) -> None:
    client = AsyncClient()
    with embed(resolver=tenant_of_user, issuer=TokenIssuer(KEY, claims=user_claims, resources=["top"])):
        assert not TOKEN.search((await client.get("/t/anonymous")).content)
        await client.aforce_login(users["alice"])
        expect_user((await client.get("/t/anonymous")).content, "alice", "acme")
        expect_user(await abody_of(await client.get("/t/astream")), "alice", "acme")


@pytest.mark.anyio
async def test_token_view_async_with_request_user(users: dict[str, Any]) -> None:
    client = AsyncClient()
    await client.aforce_login(users["alice"])
    with embed(resolver=tenant_of_user):
        response = await client.get("/t/token?resource=top")
    assert decode(response.json()["token"])["sub"] == "acme"


# -- the token view -------------------------------------------------------------------------------------


def restricted(request: Any) -> Tenant | None:
    name = request.headers.get("X-Tenant")
    return Tenant(name, resources=frozenset({"top"})) if name else None


@pytest.mark.parametrize(
    ("method", "query", "headers", "status", "error"),
    [
        ("get", "?resource=top", {"X-Tenant": "globex"}, 200, None),
        ("get", "", {}, 401, "no_tenant"),
        ("get", "?resource=a%20b", {"X-Tenant": "globex"}, 400, "invalid_resource"),
        ("get", "?resource=other", {"X-Tenant": "globex"}, 404, "unknown_resource"),
        ("get", "", {"X-Tenant": "globex"}, 404, "unknown_resource"),
        ("post", "", {"X-Tenant": "globex"}, 405, "method_not_allowed"),
    ],
)
def test_token_view(method: str, query: str, headers: dict[str, str], status: int, error: str | None) -> None:
    with embed(resolver=restricted, vary=["X-Tenant"]):
        response = getattr(Client(), method)("/t/token" + query, headers=headers)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Vary"] == "X-Tenant"
    if error is not None:
        assert json.loads(response.content)["error"] == error
        assert not TOKEN.search(response.content)
        return
    payload = response.json()
    assert decode(payload["token"])["sub"] == "globex" and decode(payload["token"])["resource"] == "top"
    assert (
        0 < payload["expires_in"] <= ISSUER.ttl and payload["expires_at"] == decode(payload["token"])["exp"]
    )


def test_token_view_head_and_resolver_failure() -> None:
    minted: list[object] = []
    issuer = TokenIssuer(KEY, resources=["top"], on_issue=minted.append)
    with embed(resolver=first_of(from_header("X-Tenant")), issuer=issuer):
        head = Client().head("/t/token?resource=top", headers={"X-Tenant": "globex"})
    assert head.status_code == 200 and head.content == b""
    assert minted == [], "HEAD mints nothing"
    with embed(resolver=raising):
        failed = Client().get("/t/token")
    assert failed.status_code == 500 and not TOKEN.search(failed.content)


# -- the parity table, through Django's own WSGI and ASGI handlers -------------------------------------

#: Cases that lean on the werkzeug request (``request.args``) or on the intercepted endpoint path.
DJANGO_CASES = [
    (c, e) for c, e in CASES if not c.path.startswith("/embed/token") and c.name != "tenant-locked claims win"
]
current: list[tuple[Case, bool]] = []


def parity_view(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    case, in_async = current[0]
    if case.tenant is not None:
        request.META["embed.tenant"] = case.tenant
    body = own_chunks(case.chunks, request.META) if case.own else list(case.chunks)
    headers = dict(case.headers)
    if case.declare_length:
        headers["Content-Length"] = str(sum(map(len, body)))
    kind = {"status": case.status, "headers": headers}
    if case.content_type is not None:
        kind["content_type"] = case.content_type
    if len(body) == 1:
        return HttpResponse(body[0], **kind)

    async def achunks() -> AsyncIterator[bytes]:
        for chunk in body:
            yield chunk

    return StreamingHttpResponse(achunks() if in_async else iter(body), **kind)


def serve_django(case: Case, in_async: bool) -> Result:
    current[:] = [(case, in_async)]
    options = {"issuer": ISSUER, "resolver": from_environ(), **case.options}
    with override_settings(EMBED_MIDDLEWARE=options, MIDDLEWARE=["embed_middleware.django.EmbedMiddleware"]):
        if in_async:
            messages = asyncio.run(
                call_asgi(ASGIHandler(), http_scope(case.path, case.method, case.request_headers))
            )
            check_sequence(messages)
            status, raw = messages[0]["status"], messages[0]["headers"]
            headers = {k.decode().lower(): v.decode() for k, v in raw}
            body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        else:
            extra = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in case.request_headers}
            path, _, query = case.path.partition("?")
            status_line, pairs, body = run(WSGIHandler(), path, case.method, QUERY_STRING=query, **extra)
            status, headers = int(status_line.split()[0]), {k.lower(): v for k, v in pairs}
    return Result(status, headers, b"" if case.method == "HEAD" else body)


def same_but_tokens(body: bytes) -> bytes:
    """Tokens, and nonces of placeholders left in place (each request draws its own), masked."""
    return NONCE_LEFT.sub(b":N>", TOKEN.sub(b"T", body))


NONCE_LEFT = re.compile(rb":[A-Za-z0-9_-]{22}>")


@pytest.mark.parametrize("in_async", [False, True], ids=["wsgi", "asgi"])
@pytest.mark.parametrize(("case", "expect"), DJANGO_CASES, ids=[case.name for case, _ in DJANGO_CASES])
def test_parity_through_django(case: Case, expect: Callable[[Result], None], in_async: bool) -> None:
    """Each case's expectation holds, and Django answers as the WSGI adapter does, tokens aside."""
    django_result = serve_django(case, in_async)
    expect(django_result)
    core = serve_wsgi(case)
    assert django_result.status == core.status
    assert same_but_tokens(django_result.body) == same_but_tokens(core.body)
    ignore = {"content-length", "x-embed-token"} | ({"content-type"} if case.content_type is None else set())
    assert {k: v for k, v in django_result.headers.items() if k not in ignore} == {
        k: v for k, v in core.headers.items() if k not in ignore
    }


# -- the Chartio example --------------------------------------------------------------------------------

EXAMPLE = {name: getattr(example_settings, name) for name in dir(example_settings) if name.isupper()}
del EXAMPLE["INSTALLED_APPS"]  # already installed here; changing it would reload every app
IFRAME = re.compile(r"<iframe\b[^>]*\bsrc=\"([^\"]+)\"")


def chartio_token(page: str) -> tuple[str, dict[str, Any]]:
    src = IFRAME.search(page).group(1)  # type: ignore[union-attr]
    return src, jwt.decode(src.rsplit("/", 1)[1], example_settings.CHARTIO_SECRET, algorithms=["HS256"])


def logged_in(user: str) -> Client:
    client = Client()
    assert client.post("/login/", {"user": user}).headers["Location"] == "/"
    return client


def test_example_end_to_end() -> None:
    secret = example_settings.CHARTIO_SECRET
    with override_settings(**EXAMPLE):
        assert Client().get("/").headers["Location"] == "/login/"
        alice, bob = logged_in("alice"), logged_in("bob")
        page = alice.get("/?origin=SFO&date_from=2024-01-10&acct_id=2&ACCT_ID=2")
        src, token = chartio_token(page.content.decode())
        assert (token["organization"], token["dashboard"]) == (16417, 38727)
        assert token["env"] == {"ACCT_ID": "1", "ORIGIN": "SFO", "DATE_FROM": "2024-01-10"}
        assert (
            page.headers["Cache-Control"] == "private, no-store" and page.headers["X-Frame-Options"] == "DENY"
        )
        chart = alice.get(src).content.decode()
        assert re.findall(r"<td>(\d{4}-\d\d-\d\d)</td>", chart) == ["2024-01-12"]  # SFO, from the 10th
        assert re.findall(r"<td>(LHR|CDG)</td>", chart) == [], "never another account's rows"
        _, bobs = chartio_token(bob.get("/?origin=LHR").content.decode())
        assert bobs["env"] == {"ACCT_ID": "2", "ORIGIN": "LHR"}
        forged = jwt.encode({**token, "env": {"ACCT_ID": "2"}}, "not-the-secret-" + "x" * 32)
        bogus = alice.get(src.rsplit("/", 1)[0] + "/" + forged)
        assert bogus.status_code == 403 and bogus.json()["error"] == "invalid_signature"
        refreshed = jwt.decode(bob.get("/embed/token?resource=flights").json()["token"], secret, ["HS256"])
        assert refreshed["env"] == {"ACCT_ID": "2"}
        assert Client().get("/embed/token?resource=flights").status_code == 401
        bob.post("/logout/")
        assert bob.get("/").status_code == 302


def test_example_runs_as_a_module() -> None:
    """``python -m examples.django_chartio --port 0`` serves on loopback and stops on SIGTERM."""
    from tests.support.http_client import Browser

    server = subprocess.Popen(
        [sys.executable, "-m", "examples.django_chartio", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = re.search(r"Open (http://127\.0\.0\.1:\d+/)", server.stdout.readline()).group(1)  # type: ignore[union-attr]
        browser = Browser()
        login = browser.get(url + "login/").body
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
        page = browser.post(url + "login/", {"user": "bob", "csrfmiddlewaretoken": csrf})
        assert page.url == url and page.headers["Cache-Control"] == "private, no-store"
        src = IFRAME.search(page.body).group(1)  # type: ignore[union-attr]
        assert "<td>LHR</td>" in browser.get(url.rstrip("/") + src).body
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=20)
    assert server.returncode == 0
    assert "eyJ" not in errors and "[redacted]" in errors, "tokens never reach the log"


# -- the built-in resolvers read Django's HttpRequest (issue 13: a 500 on every page before) ---------------

SESSIONS = {"s3cret-acme": Tenant("acme")}


def session_lookup(value: str) -> Tenant | None:
    """Stands for a lookup that verifies a session id (a function: the resolver counts as verified)."""
    return SESSIONS.get(value)


@pytest.mark.parametrize(
    ("resolver", "headers"),
    [
        (lambda: from_cookie("sid", lookup=session_lookup), {"Cookie": "sid=s3cret-acme"}),
        (lambda: from_subdomain("example.com"), {"Host": "acme.example.com"}),
        (lambda: from_header("X-Tenant"), {"X-Tenant": "acme"}),
    ],
    ids=["from_cookie", "from_subdomain", "from_header"],
)
@pytest.mark.parametrize("in_async", [False, True], ids=["wsgi", "asgi"])
def test_built_in_resolvers_read_djangos_request(
    resolver: Callable[[], Any], headers: dict[str, str], in_async: bool
) -> None:
    hosts = override_settings(ALLOWED_HOSTS=["testserver", ".example.com"])
    with embed(resolver=resolver()), hosts:
        if in_async:  # a scope of its own: Django's AsyncClient adds its own Host and Cookie fields
            scope = http_scope("/t/anonymous")
            scope["headers"] = [
                (k.lower().encode(), v.encode()) for k, v in {"Host": "testserver", **headers}.items()
            ]
            messages = asyncio.run(call_asgi(ASGIHandler(), scope))
            status = messages[0]["status"]
            body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        else:
            response = Client().get("/t/anonymous", headers=headers)
            status, body = response.status_code, body_of(response)
    assert status == 200, body
    (token,) = claims(body)
    assert (token["sub"], token["resource"]) == ("acme", "top")


def test_from_path_prefix_reads_the_path_inside_the_app() -> None:
    """Django's ``path`` carries SCRIPT_NAME; the resolver reads ``path_info``, as werkzeug's ``path``."""
    request = RequestFactory().get("/t/acme/page", SCRIPT_NAME="/mounted")
    request.path = "/mounted/t/acme/page"
    assert from_path_prefix("/t/")(request) == Tenant("acme")
    assert from_cookie("sid", lookup=session_lookup)(RequestFactory().get("/", HTTP_COOKIE="x=1")) is None


@pytest.mark.parametrize("in_async", [False, True], ids=["wsgi", "asgi"])
def test_head_of_a_page_keeps_no_length_under_common_middleware(in_async: bool) -> None:
    """CommonMiddleware (above the embed middleware) recounts ``content``: a HEAD used to get the
    unrewritten page's length (256 for a 629-byte GET). A body-less stream leaves nothing to count."""
    stack = ["django.middleware.common.CommonMiddleware", "embed_middleware.django.EmbedMiddleware"]
    with embed(), override_settings(MIDDLEWARE=stack):
        if in_async:
            messages = asyncio.run(call_asgi(ASGIHandler(), http_scope("/t/page", "HEAD")))
            headers = {k.decode().lower(): v.decode() for k, v in messages[0]["headers"]}
            body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
            cookies = [v for k, v in messages[0]["headers"] if k.lower() == b"set-cookie"]
        else:
            response = Client().head("/t/page")
            headers = {k.lower(): v for k, v in response.headers.items()}
            body, cookies = body_of(response), [response.cookies["app"].value]
            response.close()
    assert "content-length" not in headers, headers
    assert body == b"" and headers["cache-control"] == "private, no-store"
    assert cookies, "the app's cookies stay"
