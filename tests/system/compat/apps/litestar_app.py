"""Litestar: ``middleware=[DefineMiddleware(EmbedASGIMiddleware, ...)]`` (after sessions and auth in the
list, so closer to the handlers)."""

from __future__ import annotations

from common import (
    DATA,
    ISSUER,
    OPTIONS,
    PLAIN,
    PLAIN_HEADERS,
    RESOLVER,
    aslow_chunks,
    astream,
    page,
    stream_chunks,
)
from litestar import Litestar, MediaType, Request, Response, asgi, get, route
from litestar.middleware import DefineMiddleware
from litestar.response import Stream

from embed_middleware import EmbedASGIMiddleware, TokenEndpointASGI, embed_placeholder

#: Litestar runs middleware only for paths it routes: the endpoint is a route of its own.
token_endpoint = asgi("/embed/token")(TokenEndpointASGI(issuer=ISSUER, resolver=RESOLVER))


@route("/page", http_method=["GET", "HEAD"], media_type=MediaType.HTML)
async def page_view(request: Request) -> Response[str]:
    body = page(embed_placeholder(request, "top"), embed_placeholder(request, "side"))
    return Response(body, media_type=MediaType.HTML)


@get("/stream")
async def stream(request: Request) -> Stream:
    return Stream(astream(stream_chunks(embed_placeholder(request, "top"))), media_type=MediaType.HTML)


@get("/slow")
async def slow(request: Request) -> Stream:
    return Stream(aslow_chunks(embed_placeholder(request, "top")), media_type=MediaType.HTML)


@get("/plain")
async def plain() -> Response[bytes]:
    return Response(PLAIN, media_type=MediaType.HTML, headers=PLAIN_HEADERS)


@get("/data.json")
async def data() -> Response[bytes]:
    return Response(DATA, media_type=MediaType.JSON)


app = Litestar(
    route_handlers=[page_view, stream, slow, plain, data, token_endpoint],
    middleware=[DefineMiddleware(EmbedASGIMiddleware, **{**OPTIONS, "token_endpoint": None})],
)
