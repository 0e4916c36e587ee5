"""The pages the end-to-end rows serve, and the ASGI apps that serve them under uvicorn.

``python -m uvicorn benchmarks.serving_app:raw`` (or ``:wrapped``) is a bare ASGI callable rather
than a framework, so that its wrapped/raw ratio shows the middleware's cost undiluted by routing: the
worst case, a do-nothing app. ``fastapi_raw``/``fastapi_wrapped`` are factories (``uvicorn
--factory``) for the same routes as a FastAPI app, the kind of app the middleware is actually put in
front of; they import FastAPI only when called, so this module (and the runner that imports the
pages from it) loads without FastAPI installed. ``serving_wsgi_app`` serves the same routes from
Flask, for gunicorn.

Routes, identical in every app:

* ``/page``: a ~2 KB HTML page with one ``<JWT_TOKEN>`` placeholder, sent in one body message with
  its ``Content-Length``; the app marks the tenant the way a Starlette view would
  (``request.state.embed_tenant``, i.e. ``scope["state"]["embed_tenant"]``).
* ``/page5``: the same size of page with five named placeholders (``<JWT_TOKEN:kpis>`` ...), a
  dashboard of five charts: five tokens minted per request.
* ``/plain``: the same size of HTML page without a placeholder, which the middleware must scan and
  then send unchanged.
* ``/data``: a small JSON document, which the middleware must hand on untouched.
* anything else: 404, plain text.

``lifespan`` is answered, so uvicorn starts without complaint; the middleware passes it through.
"""

# No ``from __future__ import annotations``: FastAPI resolves a view's annotations in the module's
# globals, and the FastAPI names here are imported inside the factory, so they must be real objects.
import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from embed_middleware import EmbedASGIMiddleware, TokenIssuer, from_environ

from .rewriting import filler

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SIGNING_KEY = "x" * 48
TENANT = "acme"
PAGE_PATH = "/page"
PAGE5_PATH = "/page5"
PLAIN_PATH = "/plain"
JSON_PATH = "/data"
PAGE_BYTES = 2048
PLACEHOLDER = b"<JWT_TOKEN>"
#: The charts of the five-placeholder page, in page order; each gets its own token.
NAMES = ("kpis", "top_airlines", "routes", "delays", "map")
NAMED_PLACEHOLDERS = tuple(b"<JWT_TOKEN:" + name.encode() + b">" for name in NAMES)
HTML = "text/html; charset=utf-8"
JSON = "application/json"

_TAIL = b"</table></body></html>\n"


def _snippet(placeholder: bytes) -> bytes:
    return b'<iframe src="https://charts.example/embed?token=' + placeholder + b'"></iframe>\n'


def _page(placeholders: Sequence[bytes]) -> bytes:
    """``PAGE_BYTES`` of HTML with one embed per placeholder, between table rows and spread evenly
    through the page, as in a dashboard (a single one sits near the middle)."""
    snippets = [_snippet(placeholder) for placeholder in placeholders]
    body = filler(PAGE_BYTES - sum(map(len, snippets)) - len(_TAIL))
    parts, start = [], 0
    for index, snippet in enumerate(snippets):
        cut = body.rindex(b"\n", 0, (index + 1) * len(body) // (len(snippets) + 1)) + 1
        parts += [body[start:cut], snippet]
        start = cut
    return b"".join([*parts, body[start:], _TAIL])


PAGE = _page([PLACEHOLDER])
PAGE5 = _page(NAMED_PLACEHOLDERS)
PLAIN = _page([])
JSON_BODY = json.dumps(
    {
        "tenant": TENANT,
        "rows": [{"origin": "SFO", "dest": "JFK", "flights": 1234 + i, "share": 0.125 * i} for i in range(8)],
        "note": "a JSON response may mention <JWT_TOKEN> as data: it must pass through untouched",
    },
    separators=(",", ":"),
).encode()
#: Path -> (content type, body, whether the app marks the tenant): what every app serves.
ROUTES: dict[str, tuple[str, bytes, bool]] = {
    PAGE_PATH: (HTML, PAGE, True),
    PAGE5_PATH: (HTML, PAGE5, True),
    PLAIN_PATH: (HTML, PLAIN, True),
    JSON_PATH: (JSON, JSON_BODY, False),
}
_NOT_FOUND = b"not found\n"


def _headers(content_type: str, body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode("ascii"))]


#: Prebuilt once, so that the raw app costs as little as an app can.
_RESPONSES = {path: (_headers(kind, body), body, mark) for path, (kind, body, mark) in ROUTES.items()}
_NOT_FOUND_RESPONSE = (_headers("text/plain; charset=utf-8", _NOT_FOUND), _NOT_FOUND, False)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def raw(scope: Scope, receive: Receive, send: Send) -> None:
    """The app without the middleware: the floor of the bare-ASGI rows."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    headers, body, mark = _RESPONSES.get(scope["path"], _NOT_FOUND_RESPONSE)
    if mark:
        scope.setdefault("state", {})["embed_tenant"] = TENANT
    status = 404 if body is _NOT_FOUND else 200
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body, "more_body": False})


wrapped = EmbedASGIMiddleware(raw, issuer=TokenIssuer(SIGNING_KEY), resolver=from_environ())


def _fastapi_app(*, embed: bool) -> Any:
    """The same routes as a FastAPI app: what a real user's app costs per request."""
    from fastapi import FastAPI, Request, Response

    app = FastAPI()

    def route(path: str, content_type: str, body: bytes, mark: bool) -> None:
        async def view(request: Request) -> Response:
            if mark:
                request.state.embed_tenant = TENANT
            return Response(body, media_type=content_type)

        app.add_api_route(path, view, methods=["GET"], name=path)

    for path, (content_type, body, mark) in ROUTES.items():
        route(path, content_type, body, mark)
    if embed:
        app.add_middleware(EmbedASGIMiddleware, issuer=TokenIssuer(SIGNING_KEY), resolver=from_environ())
    return app


def fastapi_raw() -> Any:
    """``uvicorn --factory benchmarks.serving_app:fastapi_raw``: the floor of the FastAPI rows."""
    return _fastapi_app(embed=False)


def fastapi_wrapped() -> Any:
    """``uvicorn --factory benchmarks.serving_app:fastapi_wrapped``: the app with the middleware."""
    return _fastapi_app(embed=True)
