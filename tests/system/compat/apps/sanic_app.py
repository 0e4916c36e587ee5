"""Sanic as an ASGI app: ``EmbedASGIMiddleware(sanic_app, ...)``; Sanic needs a server with lifespan."""

from __future__ import annotations

from common import DATA, OPTIONS, PLAIN, PLAIN_HEADERS, SLOW_CHUNKS, SLOW_PAUSE, page, stream_chunks
from sanic import Request, Sanic, response
from sanic.response import HTTPResponse

from embed_middleware import EmbedASGIMiddleware, embed_placeholder

sanic = Sanic("compat")
sanic.config.TOUCHUP = False


@sanic.route("/page", methods=["GET", "HEAD"])
async def page_view(request: Request) -> HTTPResponse:
    return response.html(
        page(embed_placeholder(request.scope, "top"), embed_placeholder(request.scope, "side"))
    )


@sanic.get("/stream")
async def stream(request: Request) -> None:
    out = await request.respond(content_type="text/html")
    for chunk in stream_chunks(embed_placeholder(request.scope, "top")):
        await out.send(chunk)
    await out.eof()


@sanic.get("/slow")
async def slow(request: Request) -> None:
    import asyncio

    out = await request.respond(content_type="text/html")
    await out.send(b"<!doctype html><p>" + embed_placeholder(request.scope, "top").encode() + b"</p>")
    for index in range(SLOW_CHUNKS):
        await asyncio.sleep(SLOW_PAUSE)
        await out.send(b"<p>%d</p>" % index)
    await out.eof()


@sanic.get("/plain")
async def plain(request: Request) -> HTTPResponse:
    return response.raw(PLAIN, content_type="text/html; charset=utf-8", headers=PLAIN_HEADERS)


@sanic.get("/data.json")
async def data(request: Request) -> HTTPResponse:
    return response.raw(DATA, content_type="application/json")


app = EmbedASGIMiddleware(sanic, **OPTIONS)
