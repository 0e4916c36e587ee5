"""Django, WSGI (``wsgi``) and ASGI (``asgi``): ``EmbedMiddleware`` in MIDDLEWARE below CommonMiddleware
(and below sessions/auth), GZipMiddleware if any above both; templates write
``{% embed_placeholder "top" %}``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import django
from common import (
    DATA,
    ISSUER,
    PLAIN,
    PLAIN_HEADERS,
    RESOLVER,
    aslow_chunks,
    astream,
    page,
    slow_chunks,
    stream_chunks,
)
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="compat-" + "s" * 40,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["embed_middleware"],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware", "embed_middleware.django.EmbedMiddleware"],
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
    EMBED_MIDDLEWARE={"issuer": ISSUER, "resolver": RESOLVER},
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.handlers.asgi import ASGIRequest  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse  # noqa: E402
from django.template import engines  # noqa: E402
from django.urls import path  # noqa: E402

from embed_middleware import embed_placeholder  # noqa: E402
from embed_middleware.django import embed_token_view  # noqa: E402

TEMPLATE = engines["django"].from_string(
    "{% load embed %}" + page('{% embed_placeholder "top" %}', '{% embed_placeholder "side" %}')
)


def page_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(TEMPLATE.render({}, request))


def _streamed(request: HttpRequest, sync: Iterator[bytes], async_: AsyncIterator[bytes]) -> Any:
    # Each handler gets the iterator of its own kind (Django warns when it must convert one).
    return StreamingHttpResponse(async_ if isinstance(request, ASGIRequest) else sync)


def stream(request: HttpRequest) -> StreamingHttpResponse:
    chunks = stream_chunks(embed_placeholder(request, "top"))
    return _streamed(request, iter(chunks), astream(chunks))  # type: ignore[no-any-return]


def slow(request: HttpRequest) -> StreamingHttpResponse:
    placeholder = embed_placeholder(request, "top")
    if isinstance(request, ASGIRequest):
        return StreamingHttpResponse(aslow_chunks(placeholder))
    return StreamingHttpResponse(slow_chunks(placeholder))


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PLAIN, headers=PLAIN_HEADERS)


def data(request: HttpRequest) -> HttpResponse:
    return HttpResponse(DATA, content_type="application/json")


urlpatterns = [
    path("page", page_view),
    path("stream", stream),
    path("slow", slow),
    path("plain", plain),
    path("data.json", data),
    path("embed/token", embed_token_view),
]

wsgi = get_wsgi_application()
asgi = get_asgi_application()
