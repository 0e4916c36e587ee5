"""The ASGI apps the end-to-end rows serve under uvicorn: ``raw`` and the same app ``wrapped``.

``python -m uvicorn benchmarks.serving_app:raw`` (or ``:wrapped``). A bare ASGI callable rather than
a framework, so that the wrapped/raw ratio shows the middleware's cost undiluted by routing:

* ``/page``: a ~2 KB HTML page with one ``<JWT_TOKEN>`` placeholder, sent in one body message with
  its ``Content-Length``; the app marks the tenant the way a Starlette view would
  (``request.state.embed_tenant``, i.e. ``scope["state"]["embed_tenant"]``).
* ``/data``: a small JSON document, which the middleware must hand on untouched.
* anything else: 404, plain text.

``fastapi_raw``/``fastapi_wrapped`` serve the same two routes from a FastAPI app, the kind of app
the middleware is actually put in front of.

``lifespan`` is answered, so uvicorn starts without complaint; the middleware passes it through.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request, Response

from embed_middleware import EmbedASGIMiddleware, TokenIssuer, from_environ

from .rewriting import filler

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SIGNING_KEY = "x" * 48
TENANT = "acme"
PAGE_PATH = "/page"
JSON_PATH = "/data"
PAGE_BYTES = 2048
PLACEHOLDER = b"<JWT_TOKEN>"

_SNIPPET = b'<iframe src="https://charts.example/embed?token=' + PLACEHOLDER + b'"></iframe>\n'
_TAIL = b"</table></body></html>\n"
_FILLER = filler(PAGE_BYTES - len(_SNIPPET) - len(_TAIL))
#: The embed sits between two table rows near the middle of the page, as in a dashboard.
_CUT = _FILLER.rindex(b"\n", 0, len(_FILLER) // 2) + 1
PAGE = _FILLER[:_CUT] + _SNIPPET + _FILLER[_CUT:] + _TAIL
JSON_BODY = json.dumps(
    {
        "tenant": TENANT,
        "rows": [{"origin": "SFO", "dest": "JFK", "flights": 1234 + i, "share": 0.125 * i} for i in range(8)],
        "note": "a JSON response may mention <JWT_TOKEN> as data: it must pass through untouched",
    },
    separators=(",", ":"),
).encode()
_NOT_FOUND = b"not found\n"


def _headers(content_type: bytes, body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type), (b"content-length", str(len(body)).encode("ascii"))]


_PAGE_HEADERS = _headers(b"text/html; charset=utf-8", PAGE)
_JSON_HEADERS = _headers(b"application/json", JSON_BODY)
_NOT_FOUND_HEADERS = _headers(b"text/plain; charset=utf-8", _NOT_FOUND)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def raw(scope: Scope, receive: Receive, send: Send) -> None:
    """The app without the middleware: the floor of the end-to-end rows."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == PAGE_PATH:
        scope.setdefault("state", {})["embed_tenant"] = TENANT
        status, headers, body = 200, _PAGE_HEADERS, PAGE
    elif path == JSON_PATH:
        status, headers, body = 200, _JSON_HEADERS, JSON_BODY
    else:
        status, headers, body = 404, _NOT_FOUND_HEADERS, _NOT_FOUND
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body, "more_body": False})


wrapped = EmbedASGIMiddleware(raw, issuer=TokenIssuer(SIGNING_KEY), resolver=from_environ())


def _fastapi_app(*, embed: bool) -> Any:
    """The same two routes as a FastAPI app: what a real user's app costs per request."""
    app = FastAPI()

    @app.get(PAGE_PATH)
    async def page(request: Request) -> Response:
        request.state.embed_tenant = TENANT
        return Response(PAGE, media_type="text/html; charset=utf-8")

    @app.get(JSON_PATH)
    async def data() -> Response:
        return Response(JSON_BODY, media_type="application/json")

    if embed:
        app.add_middleware(EmbedASGIMiddleware, issuer=TokenIssuer(SIGNING_KEY), resolver=from_environ())
    return app


fastapi_raw = _fastapi_app(embed=False)
fastapi_wrapped = _fastapi_app(embed=True)
