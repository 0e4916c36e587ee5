"""Quart: ``app.asgi_app = EmbedASGIMiddleware(app.asgi_app, ...)``; templates: ``add_embed_globals``."""

from __future__ import annotations

from typing import Any

from common import DATA, OPTIONS, PAGE_TEMPLATE, PLAIN, PLAIN_HEADERS, aslow_chunks, astream, stream_chunks
from quart import Quart, Response, render_template_string, request

from embed_middleware import EmbedASGIMiddleware, embed_placeholder
from embed_middleware.templating import add_embed_globals

app = Quart(__name__)
add_embed_globals(app.jinja_env)


@app.get("/page")
async def page() -> str:
    return await render_template_string(PAGE_TEMPLATE)


@app.get("/stream")
async def stream() -> Any:
    return astream(stream_chunks(embed_placeholder(request, "top"))), 200, {"Content-Type": "text/html"}


@app.get("/slow")
async def slow() -> Any:
    return aslow_chunks(embed_placeholder(request, "top")), 200, {"Content-Type": "text/html"}


@app.get("/plain")
async def plain() -> Response:
    return Response(PLAIN, mimetype="text/html", headers=PLAIN_HEADERS)


@app.get("/data.json")
async def data() -> Response:
    return Response(DATA, mimetype="application/json")


app.asgi_app = EmbedASGIMiddleware(app.asgi_app, **OPTIONS)  # type: ignore[method-assign]
