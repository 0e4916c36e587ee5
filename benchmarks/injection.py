"""Injection rows: what pages full of placeholders users wrote cost, and that they earn no token.

Any byte of a page may come from a user, so the middleware fills only placeholders carrying the
request's nonce. These rows show the price of telling them apart, in process, per response:

* **Echoed wall**, WSGI and ASGI: a POST's body echoed into the page, as a search box or a form's
  error page does, holding 10,000 placeholder-like strings (5,000 ``<JWT_TOKEN:rN>`` and 5,000
  ``&lt;JWT_TOKEN&gt;``), below the app's own chart, whose placeholder the app writes with
  ``embed_placeholder(environ_or_scope, "top_airlines")``. The engine finds all 10,001 candidates;
  10,000 are left exactly as written. Before the nonce this page cost 10,000 signatures.
* **Echoed wall, legacy opt-in** (WSGI): the same page under ``unsafe_legacy_placeholders=True``, with
  an issuer that names every ``rN`` and allows the unscoped token, the worst case for that option:
  ``max_tokens_per_response`` (16) bounds the signatures the page text can cost, counted apart from the
  app's own placeholders, so the wall cannot spend the chart's share: at most 16 + 1 tokens.
* **Page with user content**, WSGI and ASGI: ``serving_app``'s ~4 KB comments page, a few
  placeholder-like strings in comments beside the app's own placeholder (the end-to-end rows serve the
  same page from FastAPI and Flask).

Each figure is CPU time per response (``time.thread_time_ns``: the request runs wholly in this thread,
the resolver reads the app's mark, so no worker thread and no I/O is left out), wrapped against the
same app without the middleware, which writes a same-length stand-in where the helper would write the
placeholder (``serving_app.stand_in``). The cost is information; the target is the security property,
the number of tokens minted per response, counted by the issuer's ``on_issue`` hook over every timed
response. Before timing, each wrapped page must equal the raw one once its tokens are put back as
stand-ins: every attacker string comes back byte for byte. The middleware's warnings (said once per
middleware: no per-response cost) are silenced while these rows run.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from time import thread_time_ns
from typing import TYPE_CHECKING, Any

from werkzeug.test import EnvironBuilder

from embed_middleware import (
    EmbedASGIMiddleware,
    EmbedWSGIMiddleware,
    IssueEvent,
    TokenIssuer,
    embed_placeholder,
    from_environ,
)
from embed_middleware.asgi import ASGIApp, Message, Receive, Scope, Send
from embed_middleware.config import DEFAULT_MAX_TOKENS_PER_RESPONSE

from .memory_asgi import SCOPE
from .report import Row
from .serving_app import (
    COMMENTS_PAGE,
    HTML,
    RESOURCE,
    RESOURCES,
    SIGNING_KEY,
    TENANT,
    USER_PLACEHOLDERS,
    Page,
    Writer,
    bare_app,
    stand_in,
    write_stand_in,
)
from .timing import interleave

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

WALL_NAMES = tuple(f"r{i}" for i in range(5000))
WALL = b"".join(f"<JWT_TOKEN:{name}>".encode() for name in WALL_NAMES) + b"&lt;JWT_TOKEN&gt;" * 5000
ECHO_PATH = "/echo"
_ECHO = Page(
    (
        b'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Search</title></head><body>\n'
        b'<iframe src="https://charts.example/embed?token=',
        b'"></iframe>\n<h2>No results for</h2>\n<pre>',
    ),
    (RESOURCE,),
)
_ECHO_TAIL = b"</pre>\n</body></html>\n"
#: An HS256 token; its signature is always 43 characters, so tokens written side by side (the legacy
#: row fills adjacent placeholders) are still told apart.
_TOKEN = re.compile(rb"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}")


def _echo_body(write: Writer, holder: Any, posted: bytes) -> bytes:
    return _ECHO.render(write, holder) + posted + _ECHO_TAIL


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    def write(data: bytes) -> None:
        raise AssertionError("the benchmark apps never use write()")

    return write


def echo_wsgi(write: Writer) -> WSGIApplication:
    """Echoes the POST's body into the page below the app's chart (no escaping: the worst case)."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["embed.tenant"] = TENANT
        posted = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        body = _echo_body(write, environ, posted)
        start_response("200 OK", [("Content-Type", HTML), ("Content-Length", str(len(body)))])
        return [body]

    return app


def page_wsgi(write: Writer, page: Page) -> WSGIApplication:
    """Serves ``page``, its slots written by ``write`` for each request."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["embed.tenant"] = TENANT
        body = page.render(write, environ)
        start_response("200 OK", [("Content-Type", HTML), ("Content-Length", str(len(body)))])
        return [body]

    return app


def echo_asgi(write: Writer) -> ASGIApp:
    """The ASGI twin of ``echo_wsgi``: reads the request body, answers in one message."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["embed.tenant"] = TENANT
        posted, more = b"", True
        while more:
            message = await receive()
            posted += message.get("body", b"")
            more = message.get("more_body", False)
        body = _echo_body(write, scope, posted)
        headers = [(b"content-type", HTML.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app


def wsgi_client(
    app: WSGIApplication, path: str, posted: bytes, headers: Sequence[tuple[str, str]] = ()
) -> Callable[[], bytes]:
    """One request per call, as a WSGI server makes it: a fresh environ and input, the body joined."""
    method = "POST" if posted else "GET"
    base = EnvironBuilder(path=path, method=method, data=posted or None, headers=list(headers)).get_environ()

    def call() -> bytes:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(posted)
        result = app(environ, _start_response)
        try:
            return b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    return call


def asgi_client(app: ASGIApp, path: str, posted: bytes) -> Callable[[], bytes]:
    """One request per call on this thread's event loop; the body's messages joined."""
    loop = asyncio.new_event_loop()
    method = "POST" if posted else "GET"
    base = {**SCOPE, "method": method, "path": path, "raw_path": path.encode()}

    def call() -> bytes:
        pieces: list[bytes] = []
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": posted, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body":
                pieces.append(message.get("body", b""))
            elif message["status"] != 200:
                raise RuntimeError(f"{path}: status {message['status']}")

        loop.run_until_complete(app(dict(base), receive, send))
        return b"".join(pieces)

    return call


@dataclass
class Minted:
    """The issuer's ``on_issue`` hook: counts signatures."""

    count: int = 0

    def __call__(self, event: IssueEvent) -> None:
        self.count += 1


@dataclass(frozen=True)
class Case:
    label: str
    adapter: str
    #: ``(writer) -> app``: the raw app with the stand-in writer, the wrapped one with the helper.
    build: Callable[[Writer], Any]
    path: str
    posted: bytes
    #: Tokens each response must mint at most (exactly, when ``exact``).
    tokens: int
    exact: bool = True
    legacy: bool = False


def _issuer(case: Case, minted: Minted) -> TokenIssuer:
    if case.legacy:  # the worst case for the opt-in: every echoed name allowed, and the bare token
        return TokenIssuer(
            SIGNING_KEY, resources=[*RESOURCES, *WALL_NAMES], allow_unscoped=True, on_issue=minted
        )
    return TokenIssuer(SIGNING_KEY, resources=RESOURCES, on_issue=minted)


def clients(case: Case, minted: Minted) -> tuple[Callable[[], bytes], Callable[[], bytes]]:
    """(wrapped, raw) request callables for ``case``."""
    options: dict[str, Any] = {"issuer": _issuer(case, minted), "resolver": from_environ()}
    if case.legacy:
        options["unsafe_legacy_placeholders"] = True
    if case.adapter == "wsgi":
        wrapped_wsgi = EmbedWSGIMiddleware(case.build(embed_placeholder), **options)
        return (
            wsgi_client(wrapped_wsgi, case.path, case.posted),
            wsgi_client(case.build(write_stand_in), case.path, case.posted),
        )
    wrapped_asgi = EmbedASGIMiddleware(case.build(embed_placeholder), **options)
    return (
        asgi_client(wrapped_asgi, case.path, case.posted),
        asgi_client(case.build(write_stand_in), case.path, case.posted),
    )


def check(case: Case, wrapped: Callable[[], bytes], raw: Callable[[], bytes], minted: Minted) -> None:
    """The wrapped page is the raw one with its tokens in the app's slot(s), the rest as written."""
    before = minted.count
    ours, theirs = wrapped(), raw()
    tokens = _TOKEN.findall(ours)
    signed = minted.count - before
    if len(tokens) != signed or signed > case.tokens or (case.exact and signed != case.tokens):
        raise RuntimeError(f"{case.label}: {len(tokens)} tokens in the page, {signed} signed")
    own = stand_in(RESOURCE).encode()
    if not ours.startswith(theirs.split(own, 1)[0] + tokens[0]):
        raise RuntimeError(f"{case.label}: the app's own placeholder did not get the first token")
    restored = ours.replace(tokens[0], own, 1)
    if case.legacy:  # the attacker's names that got tokens: put them back as the attacker wrote them
        for name, token in zip(WALL_NAMES, tokens[1:], strict=False):
            restored = restored.replace(token, f"<JWT_TOKEN:{name}>".encode(), 1)
    if restored != theirs:
        raise RuntimeError(f"{case.label}: the page differs from the app's beyond its tokens")


CASES = (
    Case("echoed wall (10,000 placeholders + 1 own), WSGI", "wsgi", echo_wsgi, ECHO_PATH, WALL, 1),
    Case("echoed wall (10,000 placeholders + 1 own), ASGI", "asgi", echo_asgi, ECHO_PATH, WALL, 1),
    Case(
        "echoed wall, unsafe_legacy_placeholders=True, WSGI",
        "wsgi",
        echo_wsgi,
        ECHO_PATH,
        WALL,
        # The cap counts page text and the app's own placeholders apart: 16 names of the wall + the chart.
        DEFAULT_MAX_TOKENS_PER_RESPONSE + 1,
        exact=False,
        legacy=True,
    ),
    Case(
        f"4 KB page, user content ({len(USER_PLACEHOLDERS)} placeholder-like + 1 own), WSGI",
        "wsgi",
        lambda write: page_wsgi(write, COMMENTS_PAGE),
        "/comments",
        b"",
        1,
    ),
    Case(
        f"4 KB page, user content ({len(USER_PLACEHOLDERS)} placeholder-like + 1 own), ASGI",
        "asgi",
        bare_app,
        "/comments",
        b"",
        1,
    ),
)


def _batch(call: Callable[[], bytes], size: int) -> Callable[[], None]:
    def run() -> None:
        for _ in repeat(None, size):
            call()

    return run


def _time(nanoseconds: float) -> str:
    microseconds = nanoseconds / 1000
    return f"{microseconds / 1000:.2f} ms" if microseconds >= 1000 else f"{microseconds:.1f} µs"


def measure(case: Case, rounds: int) -> Row:
    minted = Minted()
    wrapped, raw = clients(case, minted)
    check(case, wrapped, raw, minted)
    size = 2 if case.posted else 200  # a round of milliseconds either way
    warmup = 2
    before = minted.count
    paired = interleave(_batch(wrapped, size), _batch(raw, size), rounds, warmup, clock=thread_time_ns)
    responses = (warmup + rounds + rounds % 2) * size
    per_response = (minted.count - before) / responses
    met = per_response == case.tokens if case.exact else per_response <= case.tokens
    plural = "" if per_response == 1 else "s"
    return Row(
        benchmark=f"{case.label}: CPU/response",
        ours=f"{_time(paired.ours / size)}, {per_response:g} token{plural}",
        floor=_time(paired.floor / size),
        ratio=f"{paired.time_ratio:,.1f}x",
        target=f"{'' if case.exact else '<= '}{case.tokens} token{'s' if case.tokens > 1 else ''}",
        met=met,
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The legacy warning and the once-per-middleware notes would interleave with the table."""
    logger = logging.getLogger("embed_middleware")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def run(*, quick: bool) -> list[Row]:
    """Five rows: the wall (WSGI, ASGI, legacy) and the page with user content (WSGI, ASGI)."""
    rounds = 6 if quick else 30
    with _quiet():
        return [measure(case, rounds) for case in CASES]
