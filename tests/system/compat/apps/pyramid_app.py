"""Pyramid: ``EmbedWSGIMiddleware`` around ``config.make_wsgi_app()``."""

from __future__ import annotations

from common import DATA, OPTIONS, PLAIN, PLAIN_HEADERS, page, slow_chunks, stream_chunks
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from embed_middleware import EmbedWSGIMiddleware, embed_placeholder


def page_view(request: Request) -> Response:
    body = page(embed_placeholder(request, "top"), embed_placeholder(request, "side"))
    return Response(body, content_type="text/html", charset="utf-8")


def stream(request: Request) -> Response:
    chunks = stream_chunks(embed_placeholder(request, "top"))
    return Response(app_iter=iter(chunks), content_type="text/html", charset="utf-8")


def slow(request: Request) -> Response:
    chunks = slow_chunks(embed_placeholder(request, "top"))
    return Response(app_iter=chunks, content_type="text/html", charset="utf-8")


def plain(request: Request) -> Response:
    response = Response(PLAIN, content_type="text/html", charset="utf-8")
    response.headers.update(PLAIN_HEADERS)
    return response


def data(request: Request) -> Response:
    return Response(DATA, content_type="application/json", charset=None)


with Configurator() as config:
    for name, view in [("page", page_view), ("stream", stream), ("slow", slow), ("plain", plain)]:
        config.add_route(name, f"/{name}")
        config.add_view(view, route_name=name)
    config.add_route("data", "/data.json")
    config.add_view(data, route_name="data")
    app = EmbedWSGIMiddleware(config.make_wsgi_app(), **OPTIONS)
