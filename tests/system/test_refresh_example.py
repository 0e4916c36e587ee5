"""The FastAPI refresh example end to end, over real sockets: uvicorn serving both servers on loopback.

A cookie jar plays the browser: it logs in, takes a token from the ``X-Embed-Token`` header of
``/api/me`` or from the token endpoint, and reads the dashboard's JSON with it, as the page's script
does. An expired token must be refused and a refreshed one accepted. When Node.js is installed, the
page's own script also runs, against the same servers, with a minimal stand-in for the DOM.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from itsdangerous import TimestampSigner

from examples.dashboard_server import WORKSPACE_ID
from examples.fastapi_app import SESSION_COOKIE, TOKEN_HEADER
from examples.refresh_demo import RunningRefreshDemo, start_refresh_demo
from tests.support.http_client import Browser, Reply
from tests.support.tokens import JWT_TEXT

SIGNING_KEY = secrets.token_urlsafe(48)
SESSION_SECRET = secrets.token_urlsafe(32)
TTL = 600
AIRLINES = {
    "acme": ["Lufthansa", "Iberia", "KLM", "TAP Air Portugal", "Aer Lingus"],
    "globex": ["Delta", "United", "JetBlue", "Alaska Airlines", "Southwest"],
}
PIPE = "/v0/pipes/top_airlines.json"


@pytest.fixture(scope="module")
def demo() -> Iterator[RunningRefreshDemo]:
    running = start_refresh_demo(SIGNING_KEY, ttl=TTL, access_log=True, session_secret=SESSION_SECRET)
    try:
        yield running
    finally:
        running.stop()


def logged_in(demo: RunningRefreshDemo, tenant: str) -> Browser:
    browser = Browser()
    reply = browser.post(f"{demo.host_url}/login", {"tenant": tenant})
    assert reply.status == 200, reply.body
    assert reply.url == f"{demo.host_url}/", "login should land on the dashboard page"
    return browser


def read_pipe(demo: RunningRefreshDemo, token: str) -> Reply:
    """What the page's fetch does: cross-origin, no cookies, the token in the query string."""
    query = urllib.parse.urlencode({"token": token})
    return Browser().get(f"{demo.dashboard_url}{PIPE}?{query}", {"Origin": demo.host_url})


def header_token(browser: Browser, demo: RunningRefreshDemo) -> str:
    reply = browser.get(f"{demo.host_url}/api/me")
    assert reply.status == 200, reply.body
    token = reply.headers[TOKEN_HEADER]
    assert token, "the middleware should have put a token on /api/me"
    return str(token)


def endpoint_token(browser: Browser, demo: RunningRefreshDemo) -> dict[str, Any]:
    reply = browser.get(f"{demo.host_url}/embed/token?resource=top_airlines")
    assert reply.status == 200, reply.body
    assert reply.headers["Cache-Control"] == "private, no-store"
    payload: dict[str, Any] = reply.json()
    return payload


def assert_own_rows(reply: Reply, tenant: str, other: str) -> None:
    assert reply.status == 200, reply.body
    assert reply.headers.get_content_type() == "application/json"
    body = reply.json()
    assert [row["airline"] for row in body["data"]] == AIRLINES[tenant]
    assert body["rows"] == 5
    assert not set(AIRLINES[other]) & {row["airline"] for row in body["data"]}


@pytest.mark.parametrize(("tenant", "other"), [("acme", "globex"), ("globex", "acme")])
def test_header_token_reads_only_the_tenants_rows(demo: RunningRefreshDemo, tenant: str, other: str) -> None:
    browser = logged_in(demo, tenant)
    me = browser.get(f"{demo.host_url}/api/me")
    assert me.status == 200
    assert me.json() == {"tenant": tenant, "name": me.json()["name"], "resource": "top_airlines"}
    assert me.headers["Cache-Control"] == "private, no-store"
    assert "cookie" in me.headers["Vary"].lower()
    token = str(me.headers[TOKEN_HEADER])

    claims = jwt.decode(token, SIGNING_KEY, algorithms=["HS256"])
    assert claims["workspace_id"] == WORKSPACE_ID
    assert claims["name"] == f"embed_{tenant}"
    assert claims["scopes"] == [
        {"type": "PIPES:READ", "resource": "top_airlines", "fixed_params": {"tenant_id": tenant}}
    ]
    assert claims["exp"] - claims["iat"] == TTL

    reply = read_pipe(demo, token)
    assert_own_rows(reply, tenant, other)
    assert reply.headers["Access-Control-Allow-Origin"] == demo.host_url
    assert reply.headers["Cache-Control"] == "no-store"


def test_token_endpoint_token_reads_the_tenants_rows(demo: RunningRefreshDemo) -> None:
    issued = endpoint_token(logged_in(demo, "acme"), demo)
    assert set(issued) == {"token", "expires_at", "expires_in"}
    assert issued["expires_in"] in (TTL - 1, TTL), "whole seconds it is still good for, never more"
    assert abs(issued["expires_at"] - (time.time() + TTL)) < 5
    assert_own_rows(read_pipe(demo, issued["token"]), "acme", "globex")


def test_expired_token_is_refused_and_a_refreshed_one_works() -> None:
    short = start_refresh_demo(SIGNING_KEY, ttl=2)
    try:
        browser = logged_in(short, "acme")
        token = header_token(browser, short)
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        # Just past exp (PyJWT allows no leeway). iat and exp are whole seconds, so a token minted
        # now, just after a second begins, lives nearly its full 2 s: time enough to be used below.
        while time.time() < expires + 0.1:
            time.sleep(0.02)
        refused = read_pipe(short, token)
        assert refused.status == 403
        assert refused.json() == {"error": "expired"}
        # The page must be able to read that 403 cross-origin, or it could not know to refresh.
        assert refused.headers["Access-Control-Allow-Origin"] == short.host_url

        fresh = endpoint_token(browser, short)["token"]
        assert fresh != token
        assert_own_rows(read_pipe(short, fresh), "acme", "globex")
    finally:
        short.stop()


def test_without_login_no_token_is_served(demo: RunningRefreshDemo) -> None:
    browser = Browser()
    endpoint = browser.get(f"{demo.host_url}/embed/token?resource=top_airlines")
    assert endpoint.status == 401
    assert endpoint.json() == {"error": "no_tenant"}

    me = browser.get(f"{demo.host_url}/api/me")
    assert me.status == 401
    assert TOKEN_HEADER not in me.headers

    page = browser.get(f"{demo.host_url}/")
    assert page.url == f"{demo.host_url}/login"
    assert not JWT_TEXT.search(page.body)


def starlette_session_cookie(secret: str, data: dict[str, str]) -> str:
    """A session cookie as Starlette's SessionMiddleware writes it, signed with ``secret``."""
    encoded = base64.b64encode(json.dumps(data).encode())
    return TimestampSigner(secret).sign(encoded).decode()


def test_forged_session_cookie_gets_no_token(demo: RunningRefreshDemo) -> None:
    url = f"{demo.host_url}/embed/token?resource=top_airlines"
    forged = starlette_session_cookie(secrets.token_urlsafe(32), {"tenant": "acme"})
    for cookie in (forged, "garbage", base64.b64encode(b'{"tenant": "acme"}').decode()):
        reply = Browser().get(url, {"Cookie": f"{SESSION_COOKIE}={cookie}"})
        assert reply.status == 401, cookie
    # The same cookie signed with the app's secret does work: the refusals were about the signature.
    genuine = starlette_session_cookie(SESSION_SECRET, {"tenant": "acme"})
    reply = Browser().get(url, {"Cookie": f"{SESSION_COOKIE}={genuine}"})
    assert reply.status == 200
    claims = jwt.decode(reply.json()["token"], SIGNING_KEY, algorithms=["HS256"])
    assert claims["scopes"][0]["fixed_params"] == {"tenant_id": "acme"}


def test_page_is_never_cached_and_carries_no_token(demo: RunningRefreshDemo) -> None:
    page = logged_in(demo, "globex").get(f"{demo.host_url}/")
    assert page.status == 200
    assert page.headers.get_content_type() == "text/html"
    assert page.headers["Cache-Control"] == "private, no-store"
    assert "Analytics for Globex Holidays" in page.body
    # The script fetches its token; none is written into the page.
    assert not JWT_TEXT.search(page.body)
    assert "JWT_TOKEN" not in page.body
    csp = page.headers["Content-Security-Policy"]
    assert f"connect-src 'self' {demo.dashboard_url}" in csp
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce is not None
    assert f'<script nonce="{nonce.group(1)}">' in page.body
    assert json.dumps(demo.dashboard_url) in page.body


def test_logout_ends_the_tokens(demo: RunningRefreshDemo) -> None:
    browser = logged_in(demo, "globex")
    assert browser.post(f"{demo.host_url}/logout", {}).url == f"{demo.host_url}/login"
    assert browser.get(f"{demo.host_url}/embed/token?resource=top_airlines").status == 401
    assert TOKEN_HEADER not in browser.get(f"{demo.host_url}/api/me").headers


def test_login_refuses_unknown_tenants(demo: RunningRefreshDemo) -> None:
    browser = Browser()
    assert browser.post(f"{demo.host_url}/login", {"tenant": "initech"}).status == 400
    assert browser.get(f"{demo.host_url}/embed/token?resource=top_airlines").status == 401
    assert browser.get(f"{demo.host_url}/embed/token").status == 404, "no unscoped token for anyone"


def test_only_the_pipe_the_tenant_may_embed(demo: RunningRefreshDemo) -> None:
    browser = logged_in(demo, "acme")
    reply = browser.get(f"{demo.host_url}/embed/token?resource=bookings_by_day")
    assert reply.status == 404
    assert reply.json()["error"] == "unknown_resource"
    # and the top_airlines token does not open the other pipe at the vendor either
    token = endpoint_token(browser, demo)["token"]
    other = Browser().get(f"{demo.dashboard_url}/v0/pipes/bookings_by_day.json?token={token}")
    assert other.status == 403
    assert other.json() == {"error": "out_of_scope"}


def test_cors_allows_only_the_host_origin(demo: RunningRefreshDemo) -> None:
    token = header_token(logged_in(demo, "acme"), demo)
    url = f"{demo.dashboard_url}{PIPE}?token={token}"
    evil = Browser().get(url, {"Origin": "http://evil.example"})
    assert evil.status == 200  # CORS only stops a browser page reading it; the token is what guards
    assert "Access-Control-Allow-Origin" not in evil.headers
    assert "origin" in evil.headers["Vary"].lower()
    assert "Access-Control-Allow-Credentials" not in Browser().get(url, {"Origin": demo.host_url}).headers


def test_access_log_never_carries_a_token(demo: RunningRefreshDemo, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    token = header_token(logged_in(demo, "acme"), demo)
    assert read_pipe(demo, token).status == 200
    deadline = time.monotonic() + 5
    while not any(PIPE in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [record.getMessage() for record in caplog.records if record.name == "uvicorn.access"]
    assert any(f"{PIPE}?token=[redacted]" in line for line in lines), lines
    assert not any(token in line or JWT_TEXT.search(line) for line in lines)


# The page's own script, run by Node.js against the real servers. The DOM is a stand-in with just
# what the script touches; fetch is Node's, given the host's session cookie for same-origin calls and
# an Origin header (plus a CORS check) for cross-origin ones. Its first dashboard call gets a
# tampered token, to exercise the retry-once-on-403 path. The report names paths and query keys only.
HARNESS = r"""
const [host, cookie, seconds, pollMs] = process.argv.slice(1);  // node -e: no script path
const log = [];
const elements = {};
function element(name) {
  return {name, children: [], attrs: {}, textContent: "", hidden: false,
    setAttribute(k, v) { this.attrs[k] = String(v); },
    appendChild(c) { this.children.push(c); },
    removeChild(c) { this.children.splice(this.children.indexOf(c), 1); },
    get firstChild() { return this.children[0] || null; }};
}
globalThis.document = {
  getElementById(id) { return elements[id] || (elements[id] = element(id)); },
  createElementNS(ns, tag) { return element(tag); },
};
globalThis.location = {assign(url) { log.push({redirect: url}); }};
const realFetch = globalThis.fetch;
let tampered = false;
globalThis.fetch = async (url, init) => {
  const sameOrigin = url.startsWith("/");
  let target = sameOrigin ? host + url : url;
  if (!sameOrigin && !tampered) { target = target.replace(/token=[^&]*/, "token=tampered"); tampered = true; }
  const r = await realFetch(target, {headers: sameOrigin ? {Cookie: cookie} : {Origin: host}});
  const u = new URL(target);
  log.push({path: u.pathname, query: [...u.searchParams.keys()], status: r.status});
  if (!sameOrigin && r.headers.get("access-control-allow-origin") !== host) {
    throw new TypeError("blocked by CORS");
  }
  return r;
};
(async () => {
  const page = await (await realFetch(host + "/", {headers: {Cookie: cookie}})).text();
  const config = JSON.parse(page.match(/<script type="application\/json" id="embed-config">([^<]*)</)[1]);
  config.pollMs = Number(pollMs);
  document.getElementById("embed-config").textContent = JSON.stringify(config);
  new Function(page.match(/<script nonce="[^"]+">([\s\S]*?)<\/script>/)[1])();
  setTimeout(() => {
    const error = document.getElementById("error");
    console.log(JSON.stringify({
      log,
      labels: document.getElementById("chart").children.map((g) => g.attrs["data-label"]),
      status: document.getElementById("status").textContent,
      error: error.hidden ? null : error.textContent,
    }));
    process.exit(0);
  }, Number(seconds) * 1000);
})();
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_page_script_refreshes_before_expiry_and_retries_a_403() -> None:
    ttl = 4  # 3 s usable (whole-second iat/exp), refreshed a quarter of that early: every 2.25 s
    running = start_refresh_demo(SIGNING_KEY, ttl=ttl, session_secret=SESSION_SECRET)
    try:
        browser = logged_in(running, "acme")
        cookie = "; ".join(f"{c.name}={c.value}" for c in browser.jar if c.name == SESSION_COOKIE)
        assert cookie, "the login should have set the session cookie"
        node = shutil.which("node")
        assert node is not None
        result = subprocess.run(
            [node, "-e", HARNESS, running.host_url, cookie, "6", "400"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        running.stop()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    calls = [(entry.get("path"), entry.get("status")) for entry in report["log"]]
    assert not any("redirect" in entry for entry in report["log"]), calls
    # First token from the header; the tampered call's 403 fetches a new one and retries, once.
    assert calls[:4] == [("/api/me", 200), (PIPE, 403), ("/embed/token", 200), (PIPE, 200)], calls
    # Then, over 6 s of 4 s tokens, new ones arrive before the old expire: no further 403.
    assert calls.count(("/embed/token", 200)) >= 3, calls
    later = calls[4:]
    assert all(status == 200 for _, status in later), calls
    assert later.count((PIPE, 200)) >= 5, calls
    assert report["labels"] == AIRLINES["acme"]
    assert report["error"] is None
    assert "this token expires in" in report["status"]
    assert not JWT_TEXT.search(result.stdout)
