"""The embedded dashboard in headless Chromium (Debian's, driven by Playwright), through the SDK.

The host app of ``make superset-demo`` serves each tenant a page whose first guest token the
middleware wrote; ``@superset-ui/embedded-sdk`` hands it to Superset's iframe, and Superset must
draw that tenant's rows only. Tokens live ``TTL`` seconds here, so the SDK asks the middleware's
token endpoint for the next one mid-test; after the first token has expired, the dashboard's own
refresh button must still load the tenant's rows, with the refreshed token.

The screenshot for the README is saved to ``docs/superset.png`` (Acme's page).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

pytest.importorskip("playwright.sync_api", reason="playwright not installed: `make test` installs it")

from playwright.sync_api import Browser, Frame, Page, Request, expect, sync_playwright
from superset_interop import Stack

from examples.demo import _serve
from examples.superset_demo import TOKEN_ENDPOINT, create_app, superset_profile
from examples.superset_provision import SALES
from tests.support.browser_helpers import SKIP_NO_CHROMIUM, chromium_missing, launch

pytestmark = [
    pytest.mark.browser,
    pytest.mark.interop,
    pytest.mark.skipif(chromium_missing() is not None, reason=SKIP_NO_CHROMIUM),
]

TTL = 12
SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "superset.png"
DATA = "/api/v1/chart/data"
TOKEN = re.compile(r'data-token="([^"]+)"')
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def host(stack: Stack) -> Iterator[str]:
    profile = superset_profile(stack.provisioned.embedded, stack.audience)
    server, stop = _serve(create_app(profile, stack.key, stack.superset.url, ttl=TTL), 0, "superset-host")
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


def dashboard_frame(page: Page) -> Frame:
    page.wait_for_function("() => !!document.querySelector('#dashboard iframe')")
    for _ in range(100):
        frames = [f for f in page.frames if "/embedded/" in f.url]
        if frames:
            return frames[0]
        time.sleep(0.1)
    raise AssertionError("no Superset iframe on the page")


def table_rows(frame: Frame, tenant: str) -> list[list[str]]:
    body = frame.locator("table tbody tr")
    expect(body).to_have_count(len(SALES[tenant]), timeout=WAIT_MS)
    cells = body.evaluate_all("rs => rs.map(r => [...r.cells].map(c => c.textContent.trim()))")
    return sorted(cells)


def expected(tenant: str) -> list[list[str]]:
    return sorted([tenant, region, str(amount)] for region, amount in SALES[tenant])


def open_as(browser: Browser, host: str, tenant: str) -> tuple[Page, list[Request], list[str]]:
    """Logs ``tenant`` in; returns the page, its Superset data requests and the page's HTML as sent."""
    context = browser.new_context(viewport={"width": 1100, "height": 640})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    data: list[Request] = []
    html: list[str] = []
    page.on("request", lambda r: data.append(r) if r.url.split("?")[0].endswith(DATA) else None)
    page.on("response", lambda r: html.append(r.text()) if r.url == f"{host}/" and r.ok else None)
    page.goto(f"{host}/login")
    page.locator(f'form:has(input[value="{tenant}"]) button').click()
    page.wait_for_url(f"{host}/")
    return page, data, html


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_embedded_dashboard_shows_each_tenant_its_rows(
    stack: Stack, host: str, browser: Browser, tenant: str
) -> None:
    page, data, html = open_as(browser, host, tenant)
    try:
        frame = dashboard_frame(page)
        assert table_rows(frame, tenant) == expected(tenant)
        others = [region for other, sales in SALES.items() if other != tenant for region, _ in sales]
        content = frame.content()
        assert not [region for region in others if f">{region}<" in content]
        # The token Superset was sent is the one the middleware wrote into this page.
        (written,) = TOKEN.findall(html[0])
        assert [r.headers.get("x-guesttoken") for r in data][:1] == [written]
        claims = jwt.decode(written, stack.key, algorithms=["HS256"], audience=stack.audience)
        assert claims["rls_rules"] == [{"clause": f"tenant = '{tenant}'"}]
        assert claims["resources"] == [{"type": "dashboard", "id": stack.provisioned.embedded["sales"]}]
        if tenant == "acme":
            page.screenshot(path=str(SCREENSHOT))
    finally:
        page.context.close()


def test_dashboard_keeps_working_across_a_token_refresh(stack: Stack, host: str, browser: Browser) -> None:
    page, data, html = open_as(browser, host, "globex")
    try:
        frame = dashboard_frame(page)
        assert table_rows(frame, "globex") == expected("globex")
        (first,) = TOKEN.findall(html[0])
        expires = jwt.decode(first, options={"verify_signature": False})["exp"]
        with page.expect_response(lambda r: TOKEN_ENDPOINT in r.url, timeout=(TTL + 5) * 1000) as refreshed:
            pass
        assert refreshed.value.status == 200
        fresh = refreshed.value.json()["token"]
        assert fresh != first
        time.sleep(max(0.0, expires + 1 - time.time()))  # the page's first token is now dead
        before = len(data)
        with page.expect_response(lambda r: DATA in r.url) as answer:
            frame.get_by_role("button", name=re.compile("refresh", re.I)).first.click()
        assert answer.value.status == 200
        used = data[before].headers.get("x-guesttoken")
        assert used is not None and used != first
        assert jwt.decode(used, stack.key, algorithms=["HS256"], audience=stack.audience)["exp"] > time.time()
        assert table_rows(frame, "globex") == expected("globex")
    finally:
        page.context.close()
