"""Starlette: ``Middleware(EmbedASGIMiddleware, ...)`` in the app's middleware list (last, so innermost:
after sessions/auth, before compression); templates through ``add_embed_globals(templates.env)``."""

from __future__ import annotations

import jinja2
from common import DATA, OPTIONS, PAGE_TEMPLATE, PLAIN, PLAIN_HEADERS, aslow_chunks, astream, stream_chunks
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from embed_middleware import EmbedASGIMiddleware, embed_placeholder
from embed_middleware.templating import add_embed_globals

templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.DictLoader({"page.html": PAGE_TEMPLATE})))
add_embed_globals(templates.env)


async def page(request: Request) -> Response:
    return templates.TemplateResponse(request, "page.html")


async def stream(request: Request) -> Response:
    return StreamingResponse(
        astream(stream_chunks(embed_placeholder(request, "top"))), media_type="text/html"
    )


async def slow(request: Request) -> Response:
    return StreamingResponse(aslow_chunks(embed_placeholder(request, "top")), media_type="text/html")


async def plain(request: Request) -> Response:
    return HTMLResponse(PLAIN, headers=PLAIN_HEADERS)


async def data(request: Request) -> Response:
    return Response(DATA, media_type="application/json")


app = Starlette(
    routes=[
        Route("/page", page),
        Route("/stream", stream),
        Route("/slow", slow),
        Route("/plain", plain),
        Route("/data.json", data),
    ],
    middleware=[Middleware(EmbedASGIMiddleware, **OPTIONS)],
)
