"""The built-in resolvers read werkzeug's and Django's requests alike, and one contract holds everywhere:
a resolver answers a ``Tenant``, a tenant id (``str``) or ``None``.

One table of requests runs against both request types, through the plain call and the async one (what
the ASGI adapters await), so the two frameworks cannot drift. Django is configured by
``tests.support.django_setup`` (``settings.configure`` may run once per process); ``tests.test_django``
lends its views and helpers.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client as DjangoClient
from django.test import RequestFactory, override_settings
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import (
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
    in_main_thread,
    require_all,
)
from embed_middleware.tenants import as_async
from tests import test_django  # configures Django (settings, apps) once; its views and helpers
from tests.support.parity import call_asgi, http_scope
from tests.support.wsgi_helpers import KEY, decode

ACME = Tenant("acme", {"org": 1})
KNOWN = {"acme": ACME}


def known(raw: str) -> Tenant | None:
    """A lookup function (stands for a verified session: the cookie resolver counts as verified)."""
    return KNOWN.get(raw)


@dataclass(frozen=True)
class Req:
    """One request, built for both frameworks: ``meta`` entries go into the environ / META raw."""

    path: str = "/"
    host: str = "app.example.com"
    meta: Mapping[str, Any] = field(default_factory=dict)


def werkzeug_request(spec: Req) -> Request:
    environ = EnvironBuilder(path=spec.path, base_url=f"http://{spec.host}/").get_environ()
    environ.update(spec.meta)
    return Request(environ)


def django_request(spec: Req) -> Any:
    return RequestFactory().get(spec.path, HTTP_HOST=spec.host, **spec.meta)


REQUEST_TYPES: dict[str, Callable[[Req], Any]] = {"werkzeug": werkzeug_request, "django": django_request}

#: (resolver, request, the tenant id it must find or None)
TABLE: dict[str, tuple[Callable[[], Any], Req, str | None]] = {
    "header": (lambda: from_header("X-Tenant"), Req(meta={"HTTP_X_TENANT": "acme"}), "acme"),
    "header absent": (lambda: from_header("X-Tenant"), Req(), None),
    "header with CR LF": (lambda: from_header("X-Tenant"), Req(meta={"HTTP_X_TENANT": "a\r\nb"}), None),
    "header looked up": (lambda: from_header("X-T", lookup=KNOWN), Req(meta={"HTTP_X_T": "acme"}), "acme"),
    "header unknown": (lambda: from_header("X-T", lookup=KNOWN), Req(meta={"HTTP_X_T": "globex"}), None),
    "cookie": (lambda: from_cookie("sid", lookup=known), Req(meta={"HTTP_COOKIE": "a=1; sid=acme"}), "acme"),
    "cookie absent": (lambda: from_cookie("sid", lookup=known), Req(meta={"HTTP_COOKIE": "a=1"}), None),
    "subdomain": (lambda: from_subdomain("example.com"), Req(host="acme.example.com"), "acme"),
    "subdomain with port": (lambda: from_subdomain("example.com"), Req(host="acme.example.com:8000"), "acme"),
    "base domain": (lambda: from_subdomain("example.com"), Req(host="example.com"), None),
    "nested subdomain": (lambda: from_subdomain("example.com"), Req(host="a.b.example.com"), None),
    "path prefix": (lambda: from_path_prefix("/t/"), Req(path="/t/acme/report"), "acme"),
    "other path": (lambda: from_path_prefix("/t/"), Req(path="/x/acme"), None),
    "environ mark (id)": (lambda: from_environ(), Req(meta={"embed.tenant": "acme"}), "acme"),
    "environ mark (Tenant)": (lambda: from_environ(), Req(meta={"embed.tenant": ACME}), "acme"),
    "environ mark looked up": (
        lambda: from_environ(lookup=known),
        Req(meta={"embed.tenant": "acme"}),
        "acme",
    ),
    "no environ mark": (lambda: from_environ(), Req(), None),
    "first_of falls through": (
        lambda: first_of(from_environ(), from_header("X-Tenant")),
        Req(meta={"HTTP_X_TENANT": "acme"}),
        "acme",
    ),
    "require_all agreeing": (
        lambda: require_all(from_path_prefix("/t/"), from_subdomain("example.com")),
        Req(path="/t/acme/", host="acme.example.com"),
        "acme",
    ),
    "require_all disagreeing": (
        lambda: require_all(from_path_prefix("/t/"), from_subdomain("example.com")),
        Req(path="/t/acme/", host="globex.example.com"),
        None,
    ),
    "first_of over a function answering a str": (
        lambda: first_of(lambda request: "", lambda request: "acme"),
        Req(),
        "acme",
    ),
    "require_all over a function answering a str": (
        lambda: require_all(lambda request: "acme", from_header("X-Tenant")),
        Req(meta={"HTTP_X_TENANT": "acme"}),
        "acme",
    ),
    "in_main_thread keeps a built-in": (
        lambda: in_main_thread(from_header("X-Tenant")),
        Req(meta={"HTTP_X_TENANT": "acme"}),
        "acme",
    ),
}


@pytest.mark.parametrize("kind", sorted(REQUEST_TYPES))
@pytest.mark.parametrize("case", sorted(TABLE))
def test_built_in_resolvers_read_werkzeug_and_django_requests_alike(case: str, kind: str) -> None:
    make_resolver, spec, expected = TABLE[case]
    resolver = make_resolver()
    with override_settings(ALLOWED_HOSTS=[".example.com"]):
        request = REQUEST_TYPES[kind](spec)
        found = resolver(request)
        found_async = asyncio.run(as_async(resolver)(request))
    for answer in (found, found_async):
        assert answer is None if expected is None else (isinstance(answer, Tenant) and answer.id == expected)
    if expected == "acme" and "looked up" in case:
        assert found is ACME, "a lookup's Tenant is the resolver's answer, claims and all"


def test_django_path_prefix_reads_the_path_inside_the_app() -> None:
    """Django's ``path`` carries SCRIPT_NAME, werkzeug's does not: both resolvers see ``/t/acme/…``."""
    request = RequestFactory().get("/t/acme/page", SCRIPT_NAME="/mounted")
    request.path = "/mounted/t/acme/page"
    assert from_path_prefix("/t/")(request) == Tenant("acme")


# -- one contract: Tenant | str | None, for every way a resolver is plugged in -------------------------

ANSWERS: dict[str, tuple[Any, str | None]] = {
    "Tenant": (Tenant("globex"), "globex"),
    "str": ("globex", "globex"),
    "None": (None, None),
    "empty str": ("", None),
    "malformed str": ("glo\x00bex", None),
}


def resolvers_answering(answer: Any) -> dict[str, Any]:
    async def async_resolver(request: Any) -> Any:
        return answer

    return {"plain": lambda request: answer, "async": async_resolver}


ISSUER = TokenIssuer(KEY, resources=["top"])


@pytest.mark.parametrize("style", ["plain", "async"])
@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_token_endpoints_take_a_tenant_its_id_or_none(answer: str, style: str) -> None:
    value, sub = ANSWERS[answer]
    resolver = resolvers_answering(value)[style]
    wsgi = Client(TokenEndpointWSGI(issuer=ISSUER, resolver=resolver)).get("/?resource=top")
    messages = asyncio.run(
        call_asgi(TokenEndpointASGI(issuer=ISSUER, resolver=resolver), http_scope("/?resource=top"))
    )
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    for status, text in ((wsgi.status_code, wsgi.get_data()), (messages[0]["status"], body)):
        if sub is None:
            assert (status, json.loads(text)) == (401, {"error": "no_tenant"})
        else:
            assert status == 200 and decode(json.loads(text)["token"])["sub"] == sub


@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_django_settings_resolver_takes_a_tenant_its_id_or_none(answer: str) -> None:
    value, sub = ANSWERS[answer]
    resolver = resolvers_answering(value)["plain"]
    with test_django.embed(resolver=resolver):
        response = DjangoClient().get("/t/anonymous")
    assert response.status_code == 200
    tokens = test_django.claims(test_django.body_of(response))
    assert [t["sub"] for t in tokens] == ([sub] if sub else [])


def test_a_resolver_answering_anything_else_is_a_clean_500() -> None:
    answer = Client(TokenEndpointWSGI(issuer=ISSUER, resolver=lambda request: 42)).get("/?resource=top")
    assert answer.status_code == 500 and b"eyJ" not in answer.get_data()


# -- where the built-ins live ---------------------------------------------------------------------------


def test_built_ins_live_in_resolvers_and_stay_importable_from_tenants_without_a_warning() -> None:
    resolvers = importlib.import_module("embed_middleware.resolvers")
    tenants = importlib.import_module("embed_middleware.tenants")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in resolvers.__all__:
            assert getattr(tenants, name) is getattr(resolvers, name), name


def test_resolvers_imports_first_in_a_fresh_interpreter() -> None:
    """``tenants`` imports ``resolvers`` at its end: either may be imported first."""
    code = (
        "import embed_middleware.resolvers as r, embed_middleware.tenants as t\n"
        "assert t.from_header is r.from_header"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)
