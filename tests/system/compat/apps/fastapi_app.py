"""FastAPI: ``app.add_middleware(EmbedASGIMiddleware, ...)`` first (before sessions, auth, compression)."""

from __future__ import annotations

from common import DATA, OPTIONS, PLAIN, PLAIN_HEADERS, aslow_chunks, astream, page, stream_chunks
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from embed_middleware import EmbedASGIMiddleware, embed_placeholder

app = FastAPI()
GET_HEAD = ["GET", "HEAD"]


@app.api_route("/page", methods=GET_HEAD, response_class=HTMLResponse)
async def page_view(request: Request) -> str:
    return page(embed_placeholder(request, "top"), embed_placeholder(request, "side"))


@app.get("/stream")
async def stream(request: Request) -> StreamingResponse:
    return StreamingResponse(
        astream(stream_chunks(embed_placeholder(request, "top"))), media_type="text/html"
    )


@app.get("/slow")
async def slow(request: Request) -> StreamingResponse:
    return StreamingResponse(aslow_chunks(embed_placeholder(request, "top")), media_type="text/html")


@app.get("/plain")
async def plain() -> HTMLResponse:
    return HTMLResponse(PLAIN, headers=PLAIN_HEADERS)


@app.get("/data.json")
async def data() -> Response:
    return Response(DATA, media_type="application/json")


app.add_middleware(EmbedASGIMiddleware, **OPTIONS)
