"""The pages the end-to-end rows serve, and the ASGI apps that serve them under uvicorn.

``python -m uvicorn benchmarks.serving_app:raw`` (or ``:wrapped``) is a bare ASGI callable rather
than a framework, so that its wrapped/raw ratio shows the middleware's cost undiluted by routing: the
worst case, a do-nothing app. ``fastapi_raw``/``fastapi_wrapped`` are factories (``uvicorn
--factory``) for the same routes as a FastAPI app, the kind of app the middleware is actually put in
front of, live in ``serving_fastapi``. ``serving_wsgi_app`` serves the same routes from
Flask, for gunicorn.

**The app writes its own placeholders, per request.** Only a placeholder carrying the request's nonce
is filled, so a page cannot be prebuilt with ``<JWT_TOKEN:…>`` in it: each page is a :class:`Page`,
fixed bytes around slots, and the wrapped app fills each slot for each request with the helper users
call (``embed_placeholder(scope_or_request, name)``, the README's FastAPI quick start). The raw app has
no middleware, hence no nonce: it fills the slots with a stand-in of the same length
(``<JWT_TOKEN:name:000…>``), so both sides assemble and send the same number of bytes and the ratio is
the middleware's cost, the helper's included. Views assemble bytes rather than render a template: a
template engine would add the same cost to both sides and only dilute the ratio.

Routes, identical in every app:

* ``/page``: a ~2 KB HTML page with one placeholder (``top_airlines``), sent in one body message with
  its ``Content-Length``; the app marks the tenant the way a Starlette view would
  (``request.state.embed_tenant``, i.e. ``scope["state"]["embed_tenant"]``).
* ``/page5``: the same size of page with five named placeholders (``kpis`` ...), a dashboard of five
  charts: five tokens minted per request.
* ``/plain``: the same size of HTML page without a placeholder. Its app never asks for the nonce, so
  the middleware knows the page cannot hold one of the app's and does not scan it.
* ``/comments``: a ~4 KB page with user content, what a forum or a dashboard with comments looks like:
  four comments carry placeholder-like text as it reaches a page (autoescaped, percent-encoded in a
  posted link, and one echoed unescaped), plus the app's own chart. One token; the rest left as typed.
* ``/data``: a small JSON document, which the middleware must hand on untouched.
* anything else: 404, plain text.

``lifespan`` is answered, so uvicorn starts without complaint; the middleware passes it through.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from werkzeug.test import EnvironBuilder

from embed_middleware import (
    EmbedASGIMiddleware,
    EmbedWSGIMiddleware,
    TokenIssuer,
    embed_placeholder,
    from_environ,
)

from .rewriting import filler

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: ``(environ, scope or request, resource) -> placeholder``: how an app writes a slot for one request.
Writer = Callable[[Any, str], str]

SIGNING_KEY = "x" * 48
TENANT = "acme"
PAGE_PATH = "/page"
PAGE5_PATH = "/page5"
PLAIN_PATH = "/plain"
COMMENTS_PATH = "/comments"
JSON_PATH = "/data"
PAGE_BYTES = 2048
COMMENTS_BYTES = 4096
RESOURCE = "top_airlines"
#: The charts of the five-placeholder page, in page order; each gets its own token.
NAMES = ("kpis", "top_airlines", "routes", "delays", "map")
#: The issuer's allowlist (``TokenIssuer(resources=...)``), which the middleware requires.
RESOURCES = NAMES
HTML = "text/html; charset=utf-8"
JSON = "application/json"

_TAIL = b"</table></body></html>\n"
#: Placeholder-like text from users, as it arrives in the page: typed into a comment and autoescaped,
#: in a link a user posted, quoted from the docs, and a display name echoed without escaping (the
#: case the nonce exists for). Each is a candidate the engine finds; none carries the nonce.
USER_PLACEHOLDERS = (
    b"&lt;JWT_TOKEN:top_airlines&gt;",
    b"%3CJWT_TOKEN%3E",
    b"&lt;JWT_TOKEN&gt;",
    b"<JWT_TOKEN:kpis>",
)
COMMENTS = (
    b'<section class="comments"><h2>Comments (4)</h2>\n'
    b'<article class="comment"><h3>ana</h3><p>How do I embed this chart in my wiki? I pasted '
    b"&lt;JWT_TOKEN:top_airlines&gt; into the page and nothing happened.</p></article>\n"
    b'<article class="comment"><h3>bo</h3><p>Try <a href="https://evil.example/collect?t=%3CJWT_TOKEN%3E" '
    b'rel="nofollow ugc">this guide</a>, it worked for me.</p></article>\n'
    b'<article class="comment"><h3>cy</h3><p>The docs say to write &lt;JWT_TOKEN&gt; where the token '
    b"goes, but that is for the app, not for comments.</p></article>\n"
    b'<article class="comment"><h3><JWT_TOKEN:kpis></h3><p>Delays look better this week.</p></article>\n'
    b"</section>\n"
)


def _nonce_length() -> int:
    """How many characters the nonce in an app's placeholder has, read from one the helper really
    wrote under the middleware (public names only, so the benchmarks survive a reorganised core)."""
    written: list[str] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        written.append(embed_placeholder(environ, RESOURCE))
        start_response("204 No Content", [])
        return []

    issuer = TokenIssuer(SIGNING_KEY, resources=RESOURCES)
    wrapped = EmbedWSGIMiddleware(app, issuer=issuer, resolver=from_environ())
    server: Any = wrapped  # called with a bare start_response, as a test server would
    list(server(EnvironBuilder().get_environ(), lambda status, headers, exc_info=None: None))
    prefix = f"<JWT_TOKEN:{RESOURCE}:"
    if len(written) != 1 or not (written[0].startswith(prefix) and written[0].endswith(">")):
        raise RuntimeError(f"unexpected placeholder spelling: {written}")
    return len(written[0]) - len(prefix) - 1


#: The length of the nonce in every placeholder the helper writes.
NONCE_LENGTH = _nonce_length()


def stand_in(name: str) -> str:
    """What the raw app writes in a slot: a placeholder's length and spelling, without a nonce."""
    return f"<JWT_TOKEN:{name}:{'0' * NONCE_LENGTH}>"


_STAND_INS = {name: stand_in(name) for name in RESOURCES}


def write_stand_in(holder: Any, name: str) -> str:
    """The raw apps' writer (a dictionary look-up: the least a slot can cost)."""
    return _STAND_INS[name]


@dataclass(frozen=True)
class Page:
    """A response body as its template: ``parts`` around one slot per name in ``names``."""

    parts: tuple[bytes, ...]
    names: tuple[str, ...] = ()

    def render(self, write: Writer, holder: Any) -> bytes:
        """The body for one request, each slot written by ``write(holder, name)``."""
        if not self.names:
            return self.parts[0]  # no slot: the app never asks for the nonce
        pieces = [self.parts[0]]
        for name, part in zip(self.names, self.parts[1:], strict=True):
            pieces += [write(holder, name).encode("ascii"), part]
        return b"".join(pieces)


def _snippet(placeholder: bytes) -> bytes:
    return b'<iframe src="https://charts.example/embed?token=' + placeholder + b'"></iframe>\n'


def _page(names: Sequence[str], size: int = PAGE_BYTES, extra: bytes = b"") -> Page:
    """``size`` bytes of HTML with one embed per name, between table rows and spread evenly through the
    page, as in a dashboard (a single one sits near the middle); ``extra`` goes just before the end."""
    slots = [stand_in(name).encode() for name in names]
    snippets = [_snippet(slot) for slot in slots]
    body = filler(size - sum(map(len, snippets)) - len(extra) - len(_TAIL))
    pieces, start = [], 0
    for index, snippet in enumerate(snippets):
        cut = body.rindex(b"\n", 0, (index + 1) * len(body) // (len(snippets) + 1)) + 1
        pieces += [body[start:cut], snippet]
        start = cut
    whole = b"".join([*pieces, body[start:], extra, _TAIL])
    parts, rest = [], whole
    for slot in slots:  # cut the page at each slot: the app writes it per request
        before, _, rest = rest.partition(slot)
        parts.append(before)
    return Page((*parts, rest), tuple(names))


PAGE = _page([RESOURCE])
PAGE5 = _page(NAMES)
PLAIN = _page([])
COMMENTS_PAGE = _page([RESOURCE], COMMENTS_BYTES, COMMENTS)
JSON_BODY = json.dumps(
    {
        "tenant": TENANT,
        "rows": [{"origin": "SFO", "dest": "JFK", "flights": 1234 + i, "share": 0.125 * i} for i in range(8)],
        "note": "a JSON response may mention <JWT_TOKEN> as data: it must pass through untouched",
    },
    separators=(",", ":"),
).encode()


@dataclass(frozen=True)
class Route:
    content_type: str
    page: Page
    #: Whether the view marks the request's tenant (the pages that may carry a token).
    mark: bool


#: Path -> what every app serves there.
ROUTES: dict[str, Route] = {
    PAGE_PATH: Route(HTML, PAGE, True),
    PAGE5_PATH: Route(HTML, PAGE5, True),
    PLAIN_PATH: Route(HTML, PLAIN, True),
    COMMENTS_PATH: Route(HTML, COMMENTS_PAGE, True),
    JSON_PATH: Route(JSON, Page((JSON_BODY,)), False),
}
_NOT_FOUND = b"not found\n"


def _headers(content_type: str, length: int) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type.encode()), (b"content-length", str(length).encode("ascii"))]


def _length(page: Page) -> int:
    """Every request's body has the same length: a nonce and its stand-in are equally long."""
    return len(page.render(write_stand_in, None))


#: Headers prebuilt once, so that the raw app costs as little as an app can.
_RESPONSES = {path: (_headers(r.content_type, _length(r.page)), r) for path, r in ROUTES.items()}
_NOT_FOUND_ROUTE = Route("text/plain; charset=utf-8", Page((_NOT_FOUND,)), False)
_NOT_FOUND_RESPONSE = (_headers(_NOT_FOUND_ROUTE.content_type, len(_NOT_FOUND)), _NOT_FOUND_ROUTE)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def bare_app(write: Writer) -> ASGIApp:
    """The routes as a bare ASGI app whose slots ``write`` fills, for each request."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers, route = _RESPONSES.get(scope["path"], _NOT_FOUND_RESPONSE)
        if route.mark:
            scope.setdefault("state", {})["embed_tenant"] = TENANT
        body = route.page.render(write, scope)
        status = 404 if route is _NOT_FOUND_ROUTE else 200
        await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app


def issuer(reuse: int | None = None) -> TokenIssuer:
    """What users configure: the key and the charts pages may embed (and, for the reuse rows, a
    window: every page after the first in a window is served the window's tokens, no signature)."""
    return TokenIssuer(SIGNING_KEY, resources=RESOURCES, reuse=reuse)


#: The reuse rows' window: half the default ttl, the longest allowed.
REUSE_WINDOW = 300


#: The app without the middleware: the floor of the bare-ASGI rows.
raw = bare_app(write_stand_in)
#: The same routes writing their placeholders with ``embed_placeholder(scope, name)``, wrapped.
wrapped = EmbedASGIMiddleware(bare_app(embed_placeholder), issuer=issuer(), resolver=from_environ())
#: The same, with token reuse on (issue 15).
wrapped_reuse = EmbedASGIMiddleware(
    bare_app(embed_placeholder), issuer=issuer(REUSE_WINDOW), resolver=from_environ()
)
