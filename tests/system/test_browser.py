"""The examples in a real browser: headless Chromium (Debian's, driven by Playwright) on loopback.

For each example a tenant logs in and must see its own chart, drawn from its own data, and nothing
of the other tenant's: the dashboard server's data is disjoint (names, airlines, bar colours), so
any mix-up shows. The FastAPI page must keep its chart alive across token expiry by itself, and a
page carrying tokens must never come back from the HTTP cache on Back.

What Back does here (Chromium 156). Playwright turns the back/forward cache off by default; then
Back asks the server again for every example's page, as ``no-store`` keeps it out of the HTTP
cache, which a history navigation would otherwise reuse without asking (the demo's login page,
which lacks ``no-store``, comes from it). With bfcache on, as in a user's browser, Chromium keeps
``no-store`` pages in it unless a cookie changed or the page's script fetched ``no-store`` answers:
the demo's page is restored, and its pageshow handler reloads it at once (a request, new tokens);
the FastAPI page (its fetches) and the Django page (its CSRF cookie, re-sent by the login page)
are asked for again.
After logout, Back never shows a tenant's page: the demo's page reloads when restored from bfcache.

Screenshots land in ``build/screenshots/<example>-<tenant>.png``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import pytest

pytest.importorskip(
    "playwright.sync_api",
    reason="playwright not installed: pip install -e '.[test]'; `make test` installs it",
)

from playwright.sync_api import Browser, Page, Playwright, Route, expect, sync_playwright

from examples.demo import start_demo
from examples.refresh_demo import start_refresh_demo
from tests.support.browser_helpers import (
    CHARTIO_USERS,
    PIPE,
    SKIP_NO_CHROMIUM,
    TOKEN_ENDPOINT,
    ExampleProcess,
    ServerLog,
    Watch,
    bfcache_reasons,
    check_chartio_table,
    check_drawn_chart,
    check_drawn_rows,
    check_iframe_charts,
    chromium_missing,
    dashboard_verdict,
    go_back,
    launch,
    leave_and_come_back,
    log_in,
    log_out,
    new_context,
    page_tokens,
    restored_from_bfcache,
    screenshot,
    token_expiry,
    token_in,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing() is not None, reason=SKIP_NO_CHROMIUM),
]

SIGNING_KEY = secrets.token_urlsafe(48)
PAIRS = [("acme", "globex"), ("globex", "acme")]
#: The refresh example's token lifetime in the expiry tests, and its poll interval.
SHORT_TTL = 4
POLL_SECONDS = 5
#: The refresh example with tokens that live ``SHORT_TTL`` seconds.
SHORT = "refresh_short_ttl"


class Servers(Protocol):
    @property
    def host_url(self) -> str: ...
    def stop(self) -> None: ...


@dataclass(frozen=True)
class Example:
    """One example app: how to start it and log in, how to check a tenant's page, what Back does."""

    start: Callable[[], Servers]
    #: ``check(page, watch, tenant, other)``: the tenant's chart is on screen, the other's is not.
    check: Callable[[Page, Watch, str, str], None]
    #: With bfcache on, why Chromium does not restore the logged-in page on Back (None: it does).
    not_restored_because: str | None
    #: The login form: its path, the radio button's name, and its value per tenant.
    login: str = "/login"
    radio: str = "tenant"
    choices: Mapping[str, str] = field(default_factory=lambda: {"acme": "acme", "globex": "globex"})

    def log_in(self, page: Page, servers: Servers, tenant: str) -> None:
        log_in(page, servers.host_url, self.choices[tenant], field=self.radio, path=self.login)

    def log_out(self, page: Page, servers: Servers) -> None:
        log_out(page, servers.host_url, self.login)


EXAMPLES: dict[str, Example] = {
    "demo": Example(lambda: start_demo(SIGNING_KEY), partial(check_iframe_charts, key=SIGNING_KEY), None),
    # Its script fetched no-store answers (/api/me, /embed/token): Chromium keeps such pages out.
    "refresh": Example(
        lambda: start_refresh_demo(SIGNING_KEY, access_log=True),
        partial(check_drawn_chart, key=SIGNING_KEY),
        "JsNetworkRequestReceivedCacheControlNoStoreResource",
    ),
    # Django re-sends the CSRF cookie with every page that has a form, the login page included.
    "django_chartio": Example(
        lambda: ExampleProcess("examples.django_chartio", {"EMBED_SIGNING_KEY": SIGNING_KEY}),
        partial(check_chartio_table, key=SIGNING_KEY),
        "CacheControlNoStoreCookieModified",
        login="/login/",
        radio="user",
        choices={tenant: user for tenant, (user, _, _) in CHARTIO_USERS.items()},
    ),
}
NAMES = list(EXAMPLES)


@pytest.fixture(scope="module")
def server_log() -> Iterator[ServerLog]:
    with ServerLog() as log:
        yield log


@pytest.fixture(scope="module")
def running(server_log: ServerLog) -> Iterator[Callable[[str], Servers]]:
    """Each example's servers, started on first use and stopped at the end of the module."""
    started: dict[str, Servers] = {}

    def get(name: str) -> Servers:
        if name not in started:
            if name == SHORT:
                started[name] = start_refresh_demo(SIGNING_KEY, ttl=SHORT_TTL, access_log=True)
            else:
                started[name] = EXAMPLES[name].start()
        return started[name]

    try:
        yield get
    finally:
        for servers in started.values():
            servers.stop()


@pytest.fixture(scope="module")
def playwright(running: Callable[[str], Servers]) -> Iterator[Playwright]:
    """After ``running``, so that browsers close (and drop their keep-alive connections) first."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Playwright's defaults: no back/forward cache, so Back shows what the HTTP cache does."""
    chromium = launch(playwright)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def bfcache_browser(playwright: Playwright) -> Iterator[Browser]:
    """The back/forward cache on, as in a user's Chromium."""
    chromium = launch(playwright, bfcache=True)
    yield chromium
    chromium.close()


@pytest.fixture
def short_lived(running: Callable[[str], Servers]) -> Servers:
    return running(SHORT)


def log_of(servers: Servers, server_log: ServerLog) -> ServerLog | ExampleProcess:
    """Where the requests that reached ``servers`` are logged."""
    return servers if isinstance(servers, ExampleProcess) else server_log


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("tenant", "other"), PAIRS)
def test_each_tenant_sees_only_its_own_chart(
    browser: Browser, running: Callable[[str], Servers], name: str, tenant: str, other: str
) -> None:
    example, servers = EXAMPLES[name], running(name)
    with new_context(browser) as context:
        page = context.new_page()
        watch = Watch.on(page)
        example.log_in(page, servers, tenant)
        example.check(page, watch, tenant, other)
        screenshot(page, name, tenant)
        watch.assert_clean()


@pytest.mark.parametrize("name", NAMES)
def test_next_tenant_in_the_same_browser_sees_only_its_own(
    browser: Browser, running: Callable[[str], Servers], name: str
) -> None:
    """One profile, one HTTP cache: after acme logs out and globex logs in, nothing of acme's shows."""
    example, servers = EXAMPLES[name], running(name)
    with new_context(browser) as context:
        page = context.new_page()
        watch = Watch.on(page)
        example.log_in(page, servers, "acme")
        example.check(page, watch, "acme", "globex")
        example.log_out(page, servers)
        watch.responses.clear()
        example.log_in(page, servers, "globex")
        example.check(page, watch, "globex", "acme")
        watch.assert_clean()


def test_refreshed_token_keeps_the_chart_past_the_first_tokens_expiry(
    browser: Browser, short_lived: Servers
) -> None:
    """The page's own timer fetches a new token before the old one expires: no 403 at all."""
    with new_context(browser) as context:
        page = context.new_page()
        watch = Watch.on(page)
        log_in(page, short_lived.host_url, "acme")
        check_drawn_chart(page, watch, "acme", "globex", key=SIGNING_KEY)
        first = watch.to(PIPE)[0].token or ""
        expires = token_expiry(first)
        later = page.wait_for_event(
            "response",
            lambda r: token_in(r.url) not in (None, first) and r.request.timing["startTime"] / 1000 > expires,
            timeout=(SHORT_TTL + POLL_SECONDS + 5) * 1000,
        )
        assert later.status == 200, later.text()
        fetched = [seen for seen in watch.to(TOKEN_ENDPOINT) if seen.status == 200]
        assert fetched and fetched[0].started < expires, "the first refresh should come before expiry"
        assert token_in(later.url) in {seen.response.json()["token"] for seen in fetched}
        assert [seen.status for seen in watch.to(PIPE)] == [200] * len(watch.to(PIPE))
        check_drawn_chart(page, watch, "acme", "globex", key=SIGNING_KEY)
        watch.assert_clean()


def test_page_recovers_by_itself_when_its_token_has_expired(browser: Browser, short_lived: Servers) -> None:
    """The timed refresh is lost (network blip), the token expires in use: 403, new token, retry, 200."""
    missed: list[str] = []

    def lose_first_refresh(route: Route) -> None:
        if missed:
            route.continue_()
        else:
            missed.append(route.request.url)
            route.abort()

    with new_context(browser) as context:
        page = context.new_page()
        page.route(lambda url: url.startswith(f"{short_lived.host_url}{TOKEN_ENDPOINT}?"), lose_first_refresh)
        watch = Watch.on(page)
        log_in(page, short_lived.host_url, "acme")
        check_drawn_chart(page, watch, "acme", "globex", key=SIGNING_KEY)
        first = watch.to(PIPE)[0].token or ""
        expect(page.locator("#error")).to_be_visible(timeout=POLL_SECONDS * 1000)  # the lost refresh
        recovered = page.wait_for_event(
            "response",
            lambda r: token_in(r.url) not in (None, first) and r.status == 200,
            timeout=(SHORT_TTL + POLL_SECONDS + 5) * 1000,
        )
        expect(page.locator("#error")).to_be_hidden()
        reads = watch.to(PIPE)
        refused = [seen for seen in reads if seen.status == 403]
        assert len(refused) == 1 and refused[0].token == first
        assert refused[0].started > token_expiry(first)
        # Its body, which the page never read, is out of Playwright's reach: ask the server itself.
        assert dashboard_verdict(refused[0].url, short_lived.host_url) == (403, {"error": "expired"})
        fetched = watch.to(TOKEN_ENDPOINT)
        assert [seen.status for seen in fetched] == [200]
        assert fetched[0].response.json()["token"] == token_in(recovered.url)
        assert refused[0].started <= fetched[0].started <= reads[-1].started
        check_drawn_rows(page, "acme")
        assert not watch.errors, watch.errors


@pytest.mark.parametrize("name", NAMES)
def test_back_asks_the_server_again_for_a_no_store_page(
    browser: Browser, running: Callable[[str], Servers], server_log: ServerLog, name: str
) -> None:
    """With bfcache off, Back goes to the HTTP cache, which holds no ``no-store`` page: a new request.

    The control: the demo's login page has no ``no-store``, and Forward takes it from the HTTP
    cache without asking the server. That is what would happen to a page with tokens in it.
    """
    example, servers = EXAMPLES[name], running(name)
    log = log_of(servers, server_log)
    with new_context(browser) as context:
        page = context.new_page()
        watch = Watch.on(page)
        example.log_in(page, servers, "acme")
        example.check(page, watch, "acme", "globex")
        before = page_tokens(page, watch)
        mark = log.mark()
        response = leave_and_come_back(page, f"{servers.host_url}{example.login}")
        assert response is not None and response.status == 200
        assert "no-store" in response.headers["cache-control"]
        assert log.since(mark, "GET", "/") == [200], "Back must reach the server"
        assert not restored_from_bfcache(page)
        example.check(page, watch, "acme", "globex")
        assert page_tokens(page, watch) - before, "the page shown after Back must carry a new token"
        if name == "demo":
            mark = log.mark()
            page.go_forward()
            page.wait_for_url(f"{servers.host_url}/login")
            assert log.since(mark, "GET", "/login") == [], "expected the login page from the HTTP cache"
        watch.assert_clean()


@pytest.mark.parametrize("name", NAMES)
def test_back_with_the_back_forward_cache_on(
    bfcache_browser: Browser, running: Callable[[str], Servers], server_log: ServerLog, name: str
) -> None:
    """Chromium keeps a ``no-store`` page in bfcache unless a cookie changed or its script fetched
    ``no-store`` answers. The demo's page, restored, reloads itself; the others are not restored and
    the server is asked again. Neither way does a page with tokens come from a cache."""
    example, servers = EXAMPLES[name], running(name)
    log = log_of(servers, server_log)
    with new_context(bfcache_browser) as context:
        page = context.new_page()
        reasons = bfcache_reasons(context, page)
        watch = Watch.on(page)
        example.log_in(page, servers, "acme")
        example.check(page, watch, "acme", "globex")
        before, heading = page_tokens(page, watch), page.locator("h1").inner_text()
        mark = log.mark()
        leave_and_come_back(page, f"{servers.host_url}{example.login}")
        requests = log.since(mark, "GET", "/")
        if example.not_restored_because is None:
            # Restored from bfcache, the demo's page reloads itself (its pageshow handler), so the
            # server is asked again and the page shown carries fresh tokens.
            deadline = time.monotonic() + 10
            while not (requests := log.since(mark, "GET", "/")) and time.monotonic() < deadline:
                page.wait_for_timeout(50)
            assert requests == [200], f"expected the restored page to reload; Chromium said {reasons}"
            expect(page.locator("h1")).to_have_text(heading)
            example.check(page, watch, "acme", "globex")
            assert page_tokens(page, watch) - before, "the reloaded page must carry a new token"
        else:
            assert not restored_from_bfcache(page)
            assert requests == [200]
            assert reasons and example.not_restored_because in reasons[-1], reasons
            assert page_tokens(page, watch) - before, "the page shown after Back must carry a new token"
            example.check(page, watch, "acme", "globex")
        watch.assert_clean()


FLOWS = ["logout", "back_then_logout"]
BACK_AFTER_LOGOUT = [(name, flow) for name in NAMES for flow in FLOWS]


def log_out_and_go_back(page: Page, servers: Servers, example: Example, flow: str) -> None:
    """Log in, maybe leave and come back once (the page may be restored from bfcache), log out, Back."""
    watch = Watch.on(page)
    example.log_in(page, servers, "acme")
    example.check(page, watch, "acme", "globex")
    if flow == "back_then_logout":
        leave_and_come_back(page, f"{servers.host_url}{example.login}")
    page.evaluate("window.__embedLeft = true")
    example.log_out(page, servers)
    go_back(page)


def assert_logged_out_page(page: Page, servers: Servers, example: Example) -> None:
    expect(page).to_have_url(f"{servers.host_url}{example.login}")
    expect(page.locator("h1")).to_have_text("Log in")
    assert "eyJ" not in page.content()
    assert page.locator("iframe, #chart").count() == 0


@pytest.mark.parametrize(("name", "flow"), BACK_AFTER_LOGOUT)
def test_back_after_logout_never_shows_the_tenants_page(
    bfcache_browser: Browser, running: Callable[[str], Servers], name: str, flow: str
) -> None:
    """On a shared computer the next person may press Back: the page with tokens must not return."""
    example, servers = EXAMPLES[name], running(name)
    with new_context(bfcache_browser) as context:
        page = context.new_page()
        reasons = bfcache_reasons(context, page)
        log_out_and_go_back(page, servers, example, flow)
        assert not restored_from_bfcache(page), f"the logged-out page came back from bfcache: {reasons}"
        assert_logged_out_page(page, servers, example)
