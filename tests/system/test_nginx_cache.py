"""A real nginx ``proxy_cache`` in front of the app never serves a response that carries a token.

The app asks every cache to keep each of its answers for a minute: ``X-Accel-Expires: 60`` (which
nginx obeys ahead of ``Cache-Control``), or ``Cache-Control: public, max-age=60`` with
``Surrogate-Control``, or all three. Tenants acme and globex and an anonymous visitor take turns at the
same URLs through Debian's nginx; every token must come from the app, never from nginx's cache, and
reach only its own tenant. The three ways a token leaves the middleware are covered: a page with the
app's placeholder, a header token, and the token endpoint. Two nginx servers front the same app: one
honours ``Vary`` (nginx's default), one ignores it (``proxy_ignore_headers Vary``, a common way to get
hits at all from an app that varies on Cookie), so the tokens' safety never rests on ``Vary``.

Before the fix (commit 33896cd) the middleware kept the app's ``X-Accel-Expires: 60`` beside its own
``no-store``, and nginx cached token pages and header tokens: over these visits, 48 of the 96 tokens
served came from nginx's cache. Behind the server honouring ``Vary`` each tenant was served its own
token again; behind the one ignoring it globex and the anonymous visitor were served acme's (24 times).
``Cache-Control`` alone and the token endpoint were already safe then.

The controls prove the cache is really on: JSON and a page without a placeholder, with the same
headers, are a HIT on the second request.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jwt
import pytest
from werkzeug.wrappers import Request

from embed_middleware import (
    EmbedWSGIMiddleware,
    HeaderDelivery,
    Tenant,
    TokenIssuer,
    embed_placeholder,
    from_cookie,
    from_environ,
)
from embed_middleware.tenants import ENVIRON_KEY
from tests.support.http_client import Browser
from tests.support.redis_server import free_port
from tests.support.tokens import TOKEN as JWT_TEXT
from tests.support.wsgi_thread import wsgi_in_thread

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

NGINX = Path("/usr/sbin/nginx")
SKIP_NO_NGINX = f"nginx not installed at {NGINX}: apt-get install nginx; `make test` installs it"
pytestmark = pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason=SKIP_NO_NGINX)

SIGNING_KEY = secrets.token_urlsafe(48)
RESOURCE = "top_airlines"
DASHBOARD = "https://charts.example.com"
#: Session ids (unguessable, as a real session cookie's) -> tenant.
SESSIONS = {secrets.token_urlsafe(16): "acme", secrets.token_urlsafe(16): "globex"}
COOKIES = {tenant: f"session={sid}" for sid, tenant in SESSIONS.items()}
#: Who asks, in turn, VISITS times each: two tenants and an anonymous visitor (None).
VISITORS = ("acme", "globex", None)
VISITS = 3
TOKEN_ENDPOINT = "/embed/token"
#: What the app sends on every response, asking every cache to keep it for a minute.
KEEP_A_MINUTE: dict[str, list[tuple[str, str]]] = {
    "accel": [("X-Accel-Expires", "60")],
    "public": [("Cache-Control", "public, max-age=60"), ("Surrogate-Control", "max-age=60")],
    "all": [
        ("X-Accel-Expires", "60"),
        ("Cache-Control", "public, max-age=60"),
        ("Surrogate-Control", "max-age=60"),
    ],
}
#: nginx servers in front of the app: nginx's default, and one that ignores Vary.
FRONTS = ("honours-vary", "ignores-vary")

NGINX_CONF = """\
daemon off;
master_process off;
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    proxy_cache_path {dir}/cache-honours-vary keys_zone=honours-vary:1m;
    proxy_cache_path {dir}/cache-ignores-vary keys_zone=ignores-vary:1m;
    upstream app {{ server 127.0.0.1:{upstream}; }}
    server {{
        listen 127.0.0.1:{honours-vary};
        location / {{
            proxy_pass http://app;
            proxy_cache honours-vary;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
    server {{
        listen 127.0.0.1:{ignores-vary};
        location / {{
            proxy_pass http://app;
            proxy_cache ignores-vary;
            proxy_ignore_headers Vary;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""


def lookup(session_id: str) -> Tenant | None:
    """The session store: a lookup function, so the token endpoint's cookie counts as verified."""
    tenant = SESSIONS.get(session_id)
    return None if tenant is None else Tenant(tenant)


def host_app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """``/<kind>/<headers>``: a page with the app's placeholder, a page without one, or JSON."""
    request = Request(environ)
    tenant = SESSIONS.get(request.cookies.get("session", ""))
    if tenant is not None:
        environ[ENVIRON_KEY] = tenant  # what a login layer does for the page side
    kind, _, headers = request.path.strip("/").partition("/")
    if kind == "data.json":
        body, content_type = json.dumps({"rows": [1, 2, 3]}), "application/json"
    elif kind == "page":
        src = f"{DASHBOARD}/embed/{RESOURCE}?token={embed_placeholder(environ, RESOURCE)}"
        body, content_type = f'<h1>Analytics</h1><iframe src="{src}"></iframe>', "text/html"
    else:  # "header" (the token goes in X-Embed-Token) and "static"
        body, content_type = "<h1>Analytics</h1>", "text/html"
    data = body.encode()
    start_response(
        "200 OK",
        [("Content-Type", content_type), ("Content-Length", str(len(data))), *KEEP_A_MINUTE[headers]],
    )
    return [data]


def front_app() -> WSGIApplication:
    """One middleware per delivery path, chosen by the path's first segment."""
    issuer = TokenIssuer(SIGNING_KEY, resources=[RESOURCE])
    stacks = {
        "header": EmbedWSGIMiddleware(
            host_app,
            issuer=issuer,
            resolver=from_environ(),
            header=HeaderDelivery(name="X-Embed-Token", resource=RESOURCE),
        ),
        # The middleware answers the endpoint without running the app: it reads the session itself.
        "embed": EmbedWSGIMiddleware(
            host_app,
            issuer=issuer,
            resolver=from_cookie("session", lookup=lookup),
            token_endpoint=TOKEN_ENDPOINT,
        ),
    }
    pages = EmbedWSGIMiddleware(host_app, issuer=issuer, resolver=from_environ())

    def route(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        first = str(environ.get("PATH_INFO", "")).split("/")[1:2]
        return stacks.get(first[0] if first else "", pages)(environ, start_response)

    return route


@dataclass
class Nginx:
    """Debian's nginx as one foreground process with its own config, logs and caches under ``dir``."""

    dir: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, directory: Path, upstream: int, timeout: float = 10.0) -> Nginx:
        ports = {front: free_port() for front in FRONTS}
        user = "user root;" if os.geteuid() == 0 else ""
        conf = directory / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=directory, upstream=upstream, user=user, **ports))
        # -e: the error log from the first line on (before it reads the config, not /var/log/nginx).
        command = [str(NGINX), "-p", str(directory), "-c", str(conf), "-e", str(directory / "error.log")]
        output = (directory / "stdout").open("wb")
        with output:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output)
        nginx = cls(directory, ports, process)
        try:
            nginx.wait_until_listening(timeout)
        except BaseException:
            nginx.stop()
            raise
        return nginx

    def wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = set(self.ports.values())
        while waiting:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start (exit {self.process.returncode}):\n{self.log()}")
            for port in list(waiting):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                    waiting.discard(port)
            time.sleep(0.02)

    def log(self) -> str:
        parts = [self.dir / "stdout", self.dir / "error.log"]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())

    def url(self, front: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[front]}{path}"

    def cached_files(self, path: str) -> list[Path]:
        """The cache files nginx wrote for ``path`` (each starts with a header holding its key)."""
        key = f"KEY: http://app{path}\n".encode()
        return [p for p in self.dir.glob("cache-*/**/*") if p.is_file() and key in p.read_bytes()[:4096]]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    with wsgi_in_thread(front_app()) as upstream:
        server = Nginx.start(tmp_path_factory.mktemp("nginx"), upstream)  # its log in the error, if not
        try:
            yield server
        finally:
            server.stop()


@dataclass(frozen=True)
class Served:
    """One answer through nginx: who asked, nginx's cache status, and every token in it."""

    visitor: str | None
    status: int
    cache: str
    tokens: list[str]


def visit(url: str, visitor: str | None) -> Served:
    headers = {} if visitor is None else {"Cookie": COOKIES[visitor]}
    reply = Browser().get(url, headers)
    text = "\n".join([reply.body, *(f"{k}: {v}" for k, v in reply.headers.items())])
    tokens = [t.decode() for t in JWT_TEXT.findall(text.encode())]
    return Served(visitor, reply.status, reply.headers.get("X-Cache-Status", ""), tokens)


def take_turns(url: str) -> list[Served]:
    return [visit(url, visitor) for visitor in VISITORS for _ in range(VISITS)]


def fresh(path: str) -> str:
    """``path`` with a query of its own: each test starts with nothing cached at its URLs."""
    return f"{path}{'&' if '?' in path else '?'}run={uuid.uuid4().hex}"


PATHS = [
    *(f"/page/{headers}" for headers in KEEP_A_MINUTE),
    *(f"/header/{headers}" for headers in KEEP_A_MINUTE),
    f"{TOKEN_ENDPOINT}?resource={RESOURCE}",  # the middleware's own answer: the app's headers are not on it
]


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("path", PATHS)
def test_no_token_is_served_from_the_cache(nginx: Nginx, front: str, path: str) -> None:
    url = fresh(path)
    served = take_turns(nginx.url(front, url))
    with_token = [answer for answer in served if answer.tokens]
    # Not vacuous: both tenants were given tokens (through nginx), the anonymous visitor none.
    assert {answer.visitor for answer in with_token} == {"acme", "globex"}, served
    assert [answer for answer in with_token if answer.cache == "HIT"] == [], "a token came from the cache"
    claims = [
        (answer.visitor, jwt.decode(token, SIGNING_KEY, algorithms=["HS256"]))
        for answer in with_token
        for token in answer.tokens
    ]
    assert [(visitor, c["sub"], c["resource"]) for visitor, c in claims] == [
        (visitor, visitor, RESOURCE) for visitor, _ in claims
    ], "a token reached someone other than its tenant"
    ids = [c["jti"] for _, c in claims]
    assert len(ids) == 2 * VISITS and len(set(ids)) == len(ids), "a token was served twice"
    # What nginx wrote to disk for this URL (its cache key is in each file): not one token.
    assert [p for p in nginx.cached_files(url) if JWT_TEXT.search(p.read_bytes())] == []
    if path.startswith(TOKEN_ENDPOINT):
        assert [a.status for a in served if a.visitor is None] == [401] * VISITS
        assert all(a.cache != "HIT" for a in served)


CONTROLS = [f"/{kind}/{headers}" for kind in ("data.json", "static") for headers in KEEP_A_MINUTE]


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("path", CONTROLS)
def test_the_cache_is_on_for_answers_without_a_token(nginx: Nginx, front: str, path: str) -> None:
    """The control: the same headers make nginx cache JSON and a page the app wrote no placeholder in."""
    url = fresh(path)
    assert [visit(nginx.url(front, url), visitor).cache for visitor in VISITORS] == ["MISS", "HIT", "HIT"]
    assert len(nginx.cached_files(url)) == 1  # and cached_files finds what nginx wrote


@pytest.mark.parametrize("path", ["/page/accel", "/header/accel"])
def test_a_tenant_after_an_anonymous_visitor_still_gets_a_token(nginx: Nginx, path: str) -> None:
    """Not a leak, a broken embed: the page's answer depends on the Cookie, and nginx is not told."""
    url = nginx.url("honours-vary", fresh(path))
    assert visit(url, None).tokens == []
    acme = visit(url, "acme")
    assert acme.tokens, f"acme was served the anonymous visitor's page (X-Cache-Status: {acme.cache})"
