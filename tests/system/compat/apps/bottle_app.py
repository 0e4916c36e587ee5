"""Bottle: ``EmbedWSGIMiddleware`` around the app; views call ``embed_placeholder(request.environ)``."""

from __future__ import annotations

from collections.abc import Iterator

import bottle
from common import DATA, OPTIONS, PLAIN, PLAIN_HEADERS, page, slow_chunks, stream_chunks

from embed_middleware import EmbedWSGIMiddleware, embed_placeholder

inner = bottle.Bottle()


def _placeholder(name: str) -> str:
    return embed_placeholder(bottle.request.environ, name)


@inner.get("/page")
def page_view() -> str:
    return page(_placeholder("top"), _placeholder("side"))


@inner.get("/stream")
def stream() -> Iterator[bytes]:
    return iter(stream_chunks(_placeholder("top")))


@inner.get("/slow")
def slow() -> Iterator[bytes]:
    return slow_chunks(_placeholder("top"))


@inner.get("/plain")
def plain() -> bytes:
    for name, value in PLAIN_HEADERS.items():
        bottle.response.set_header(name, value)
    return PLAIN


@inner.get("/data.json")
def data() -> bytes:
    bottle.response.content_type = "application/json"
    return DATA


app = EmbedWSGIMiddleware(inner, **OPTIONS)
