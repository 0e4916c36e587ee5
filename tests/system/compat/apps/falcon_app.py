"""Falcon, WSGI (``wsgi``) and ASGI (``asgi``): the middleware around ``falcon.App``/``falcon.asgi.App``."""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi
from common import (
    DATA,
    OPTIONS,
    PLAIN,
    PLAIN_HEADERS,
    aslow_chunks,
    astream,
    page,
    slow_chunks,
    stream_chunks,
)

from embed_middleware import EmbedASGIMiddleware, EmbedWSGIMiddleware, embed_placeholder


def _page(holder: Any) -> str:
    return page(embed_placeholder(holder, "top"), embed_placeholder(holder, "side"))


class Page:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = _page(req.env)

    on_head = on_get


class Stream:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.stream = iter(stream_chunks(embed_placeholder(req.env, "top")))


class Slow:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.stream = slow_chunks(embed_placeholder(req.env, "top"))


class Plain:
    def on_get(self, req: Any, resp: Any) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.data = PLAIN
        resp.set_headers(PLAIN_HEADERS)


class Data:
    def on_get(self, req: Any, resp: Any) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = DATA


class AsyncPage:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = _page(req.scope)

    on_head = on_get


class AsyncStream:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.stream = astream(stream_chunks(embed_placeholder(req.scope, "top")))


class AsyncSlow:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.stream = aslow_chunks(embed_placeholder(req.scope, "top"))


class AsyncPlain:
    async def on_get(self, req: Any, resp: Any) -> None:
        Plain().on_get(req, resp)


class AsyncData:
    async def on_get(self, req: Any, resp: Any) -> None:
        Data().on_get(req, resp)


def _routes(app: Any, resources: list[Any]) -> Any:
    for path, resource in zip(["/page", "/stream", "/slow", "/plain", "/data.json"], resources, strict=True):
        app.add_route(path, resource)
    return app


wsgi = EmbedWSGIMiddleware(_routes(falcon.App(), [Page(), Stream(), Slow(), Plain(), Data()]), **OPTIONS)
asgi = EmbedASGIMiddleware(
    _routes(falcon.asgi.App(), [AsyncPage(), AsyncStream(), AsyncSlow(), AsyncPlain(), AsyncData()]),
    **OPTIONS,
)
