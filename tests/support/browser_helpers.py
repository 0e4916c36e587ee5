"""Helpers for ``test_browser.py``: launching Debian's Chromium, watching a page, reading server logs.

Chromium is driven by Playwright with the system binary, with the same flags as
``benchmarks/browser.py``: the machine's network is closed, so nothing in the background may phone
home. Playwright itself adds ``--disable-back-forward-cache``; ``launch(bfcache=True)`` drops it, so
those tests see what a user's Chromium does on Back.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    ViewportSize,
    expect,
)

from benchmarks.browser import CHROMIUM_ARGS  # the flags this machine's closed network needs
from examples.dashboard_server import CHARTS
from examples.dashboard_server import TENANTS as DATA
from tests.support import http_client
from tests.support.tokens import JWT_TEXT

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SKIP_NO_CHROMIUM = f"chromium not installed at {CHROMIUM}: apt-get install chromium; `make test` installs it"
#: Wide enough for the demo's two 540 px iframes side by side; full-page screenshots grow taller.
VIEWPORT: ViewportSize = {"width": 1200, "height": 400}
#: Bound on any one wait; the examples answer in milliseconds on loopback.
TIMEOUT_MS = 10_000
#: The refresh example's JSON endpoint on the dashboard server, and the host apps' token endpoint.
PIPE = "/v0/pipes/top_airlines.json"
TOKEN_ENDPOINT = "/embed/token"
#: Records every ``pageshow`` (``persisted`` is true for a restore from the back/forward cache).
#: A restored page keeps its JS heap, so ``__embedLeft`` (set before leaving) survives only then.
PAGESHOW_PROBE = """
window.__embedShows = window.__embedShows || [];
window.addEventListener("pageshow", function (event) { window.__embedShows.push(event.persisted); });
"""
SETTLED = """() => document.readyState === "complete" && (window.__embedShows || []).length > 0
  && (!window.__embedLeft || window.__embedShows.length > 1)"""


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    return None if os.access(CHROMIUM, os.X_OK) else SKIP_NO_CHROMIUM


def launch(playwright: Playwright, *, bfcache: bool = False) -> Browser:
    """Headless Chromium; ``bfcache`` keeps the back/forward cache on, as in a user's browser."""
    args = [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    ignored = ["--disable-back-forward-cache"] if bfcache else None
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=args, ignore_default_args=ignored, timeout=60_000
    )


@contextmanager
def new_context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile (cookies, cache), closed on the way out."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(PAGESHOW_PROBE)
    try:
        yield context
    finally:
        context.close()


def token_in(url: str) -> str | None:
    """The token in ``?token=`` (Tinybird's embeds) or in the path (Chartio's ``/d/<id>/<token>``)."""
    parts = urlsplit(url)
    values = parse_qs(parts.query).get("token")
    found = JWT_TEXT.search(parts.path)
    return values[0] if values else found[0] if found else None


def token_tenant(token: str, key: str) -> str:
    """The tenant pinned in a token's only scope; the signature is checked, the expiry is not."""
    claims = jwt.decode(token, key, algorithms=["HS256"], options={"verify_exp": False})
    tenants = {scope["fixed_params"]["tenant_id"] for scope in claims["scopes"]}
    assert len(tenants) == 1, claims
    return str(tenants.pop())


def token_expiry(token: str) -> int:
    return int(jwt.decode(token, options={"verify_signature": False})["exp"])


def without_tokens(text: str) -> str:
    """``text`` minus JWTs: base64 can spell a short marker such as "KLM" by chance."""
    return JWT_TEXT.sub("", text)


def rgb(colour: str) -> str:
    """``#e8590c`` as ``getComputedStyle`` reports it: ``rgb(232, 89, 12)``."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


@dataclass(frozen=True)
class Seen:
    """One response the page received, with when its request started (wall clock, seconds).

    Read ``response``'s body only if the page's script did: Playwright waits for the load to end,
    which never comes for an answer left unread (``/api/me``'s, a 403 that is retried).
    """

    url: str
    path: str
    status: int
    started: float
    token: str | None
    response: Response


@dataclass
class Watch:
    """Everything one page does on the network and in its console."""

    responses: list[Seen] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def on(cls, page: Page) -> Watch:
        watch = cls()
        page.on("response", watch._response)
        page.on("console", watch._console)
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        return watch

    def _response(self, response: Response) -> None:
        url, started = response.url, response.request.timing["startTime"] / 1000
        self.responses.append(
            Seen(url, urlsplit(url).path, response.status, started, token_in(url), response)
        )

    def _console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def to(self, path: str) -> list[Seen]:
        return [seen for seen in self.responses if seen.path == path]

    def assert_clean(self) -> None:
        """No uncaught script error and no Content-Security-Policy violation."""
        assert not self.errors, self.errors
        assert not [line for line in self.console if "Content Security Policy" in line], self.console


class ServerLog(logging.Handler):
    """Request lines the example servers log (werkzeug, uvicorn's access log): what really arrived.

    A page restored from the back/forward cache or served from the HTTP cache never reaches the
    server, whatever the browser's own network events say, so these tests count requests here.
    """

    LOGGERS = ("werkzeug", "uvicorn.access")
    LINE = re.compile(r'"(?:\x1b\[[\d;]*m)?([A-Z]+) (\S+) HTTP/[\d.]+(?:\x1b\[[\d;]*m)?" (\d{3})')

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._lines: list[tuple[str, str, int]] = []
        self._guard = threading.Lock()
        self._levels: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        found = self.LINE.search(record.getMessage())
        if found is not None:
            with self._guard:
                self._lines.append((found[1], urlsplit(found[2]).path, int(found[3])))

    def __enter__(self) -> ServerLog:
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.INFO)
            logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, level in self._levels.items():
            logger = logging.getLogger(name)
            logger.removeHandler(self)
            logger.setLevel(level)

    def mark(self) -> int:
        with self._guard:
            return len(self._lines)

    def since(self, mark: int, method: str, path: str) -> list[int]:
        """Statuses of ``method path`` requests logged after ``mark``."""
        with self._guard:
            return [status for m, p, status in self._lines[mark:] if (m, p) == (method, path)]


class ExampleProcess:
    """``python -m <module> --port 0`` in a child process, and the request lines it logs to stderr.

    For the Django example: Django's settings belong to the process, and this one's are not the
    test suite's. The child prints ``Open http://127.0.0.1:<port>/ ...`` once it listens.
    """

    OPEN = re.compile(r"Open (http://[\d.:]+)/")

    def __init__(self, module: str, env: dict[str, str], timeout: float = 20.0) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="embed-browser-")
        self._out, self._err = Path(self._dir.name, "stdout"), Path(self._dir.name, "stderr")
        with self._out.open("wb") as out, self._err.open("wb") as err:  # the child keeps its own
            self._process = subprocess.Popen(
                [sys.executable, "-m", module, "--port", "0"],
                cwd=ROOT,
                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + timeout
        while (found := self.OPEN.search(self._out.read_text())) is None:
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = self._err.read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"{module} did not start:\n{log}")
            time.sleep(0.05)
        self.host_url = found[1]

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)  # it stops on SIGTERM as on Ctrl-C
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._dir.cleanup()

    def _lines(self) -> list[tuple[str, str, int]]:
        found = ServerLog.LINE.finditer(self._err.read_text(errors="replace"))
        return [(m[1], urlsplit(m[2]).path, int(m[3])) for m in found]

    def mark(self) -> int:
        return len(self._lines())

    def since(self, mark: int, method: str, path: str) -> list[int]:
        return [status for m, p, status in self._lines()[mark:] if (m, p) == (method, path)]


def log_in(page: Page, host_url: str, choice: str, *, field: str = "tenant", path: str = "/login") -> None:
    """What a user does: open the app, get sent to the login form, pick ``choice``, submit."""
    page.goto(f"{host_url}/")
    page.wait_for_url(f"{host_url}{path}")
    page.check(f'input[name="{field}"][value="{choice}"]')
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{host_url}/")


def go_back(page: Page) -> Response | None:
    """Presses Back; returns once the page is shown (``None`` if it came from the bfcache).

    ``wait_until="commit"``: a page restored from the back/forward cache fires no ``load``.
    """
    response = page.go_back(wait_until="commit")
    page.wait_for_function(SETTLED)
    return response


def leave_and_come_back(page: Page, url: str) -> Response | None:
    """Navigates to ``url``, then presses Back (see ``go_back``)."""
    page.evaluate("window.__embedLeft = true")
    page.goto(url)
    return go_back(page)


def restored_from_bfcache(page: Page) -> bool:
    """Whether the page on screen came back from the back/forward cache (same JS heap)."""
    return bool(page.evaluate("window.__embedLeft === true && window.__embedShows.at(-1) === true"))


def bfcache_reasons(context: BrowserContext, page: Page) -> list[list[str]]:
    """A list that fills with Chromium's reasons each time a page is not restored from bfcache."""
    reasons: list[list[str]] = []
    session = context.new_cdp_session(page)

    def record(event: dict[str, Any]) -> None:
        reasons.append([entry["reason"] for entry in event["notRestoredExplanations"]])

    session.on("Page.backForwardCacheNotUsed", record)
    session.send("Page.enable")
    return reasons


def screenshot(page: Page, example: str, tenant: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{example}-{tenant}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_out(page: Page, host_url: str, path: str = "/login") -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{host_url}{path}")


def page_tokens(page: Page, watch: Watch) -> set[str]:
    """The tokens this page was given: in its iframes' URLs, or in /api/me's header."""
    found = {token_in(src or "") for src in page.locator("iframe").evaluate_all("fs => fs.map(f => f.src)")}
    found |= {seen.response.headers.get("x-embed-token") for seen in watch.to("/api/me")}
    return {token for token in found if token}


def dashboard_verdict(url: str, origin: str) -> tuple[int, object]:
    """What the dashboard server answers ``url`` now, asked as the page asks (cross-origin)."""
    reply = http_client.Browser().get(url, {"Origin": origin})
    return reply.status, reply.json()


def other_markers(tenant: str, *, colour: bool) -> list[str]:
    """What only ``tenant``'s chart contains: its name, its airlines, and its bar colour."""
    data = DATA[tenant]
    airlines = [label for label, _ in data.series["top_airlines"]]
    colours = [data.colour, rgb(data.colour)] if colour else []
    return [data.name, f'data-tenant="{tenant}"', *airlines, *colours]


def assert_none_of(other: str, contents: list[str], *, colour: bool = True) -> None:
    text = without_tokens("\n".join(contents))
    found = [marker for marker in other_markers(other, colour=colour) if marker in text]
    assert not found, f"{other}'s data on the page: {found}"


def check_iframe_charts(page: Page, watch: Watch, tenant: str, other: str, *, key: str) -> None:
    """The Flask demo: both iframes show the tenant's SVG chart, in its colour, with its rows."""
    own = DATA[tenant]
    expect(page.locator("h1")).to_have_text(f"Analytics for {own.name}")
    contents = [page.content()]
    for resource, chart in CHARTS.items():
        selector = f'iframe[data-resource="{resource}"]'
        token = token_in(page.locator(selector).get_attribute("src") or "")
        assert token is not None and token_tenant(token, key) == tenant
        frame = page.frame_locator(selector)
        svg = frame.locator("svg")
        expect(svg).to_be_visible()
        expect(svg).to_have_attribute("data-tenant", tenant)
        expect(frame.locator("#chart-title")).to_have_text(f"{chart.title} — {own.name}")
        bars = frame.locator("g.bar")
        expect(bars).to_have_count(len(own.series[resource]))
        rows = bars.evaluate_all("gs => gs.map(g => [g.dataset.label, Number(g.dataset.value)])")
        assert rows == [list(row) for row in own.series[resource]]
        fills = bars.locator("rect").evaluate_all("rs => rs.map(r => getComputedStyle(r).fill)")
        assert set(fills) == {rgb(own.colour)}, "the bars must be drawn in the tenant's colour"
        content_frame = page.locator(selector).element_handle().content_frame()
        assert content_frame is not None
        contents.append(content_frame.content())
        assert [seen.status for seen in watch.to(f"/embed/{resource}")][-1:] == [200]
    assert_none_of(other, contents)


def check_drawn_rows(page: Page, tenant: str) -> None:
    """The refresh page's SVG: the tenant's airlines, in order, with their values."""
    rows = DATA[tenant].series["top_airlines"]
    bars = page.locator("#chart g[data-label]")
    expect(bars.locator("text[text-anchor=end]")).to_have_text([label for label, _ in rows])
    expect(bars.locator("text:not([text-anchor])")).to_have_text([str(value) for _, value in rows])


def check_drawn_chart(page: Page, watch: Watch, tenant: str, other: str, *, key: str) -> None:
    """The FastAPI page: its script fetched the tenant's rows with a token and drew them."""
    expect(page.locator("h1")).to_have_text(f"Analytics for {DATA[tenant].name}")
    check_drawn_rows(page, tenant)
    expect(page.locator("#status")).to_contain_text("Updated")
    expect(page.locator("#error")).to_be_hidden()
    reads = watch.to(PIPE)
    assert reads and all(seen.status == 200 for seen in reads)
    assert {token_tenant(seen.token or "", key) for seen in reads} == {tenant}
    # Not the colour: the page's own CSS paints every tenant's bars in one blue (Globex's).
    assert_none_of(other, [page.content()], colour=False)


#: The Django example's users (``examples/django_chartio/embed.py``, which needs Django's settings
#: to import): tenant -> (user to log in as, Chartio account id, display name).
CHARTIO_USERS = {"acme": ("alice", "1", "Acme Air"), "globex": ("bob", "2", "Globex Airways")}


def check_chartio_table(page: Page, watch: Watch, tenant: str, other: str, *, key: str) -> None:
    """The Django example: the iframe shows the table of the tenant's account's flights only."""
    from examples.django_chartio.chartio import FLIGHTS  # only when that example runs

    _, account, name = CHARTIO_USERS[tenant]
    _, other_account, other_name = CHARTIO_USERS[other]
    expect(page.locator("h1")).to_have_text(f"Flights for {name}")
    token = token_in(page.locator("iframe").get_attribute("src") or "")
    assert token is not None
    claims = jwt.decode(token, key, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["env"]["ACCT_ID"] == account
    frame = page.frame_locator("iframe")
    rows = FLIGHTS[account]
    expect(frame.locator("tr.flight")).to_have_count(len(rows))
    cells = frame.locator("tr.flight").evaluate_all("rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    assert cells == [[str(cell) for cell in row] for row in rows]
    expect(frame.locator("#total")).to_have_text(str(sum(row[3] for row in rows)))
    expect(frame.locator("p.env")).to_contain_text(f"ACCT_ID={account}")
    content_frame = page.locator("iframe").element_handle().content_frame()
    assert content_frame is not None
    chart = content_frame.content()
    theirs = sorted({cell for row in FLIGHTS[other_account] for cell in row[:3]})  # disjoint data
    found = [m for m in [other_name, f"ACCT_ID={other_account}", *theirs] if m in chart]
    assert not found, f"{other}'s data in the chart: {found}"
    # The host page's filter lists every airport, so only the name is checked there.
    assert other_name not in without_tokens(page.content())
    assert [seen.status for seen in watch.responses if seen.path.startswith("/chartio/")][-1:] == [200]
