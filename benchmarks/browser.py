"""The browser row: how much sooner an iframe's request leaves when its token is already in the page.

Headless Chromium loads two pages of one Flask app (``benchmarks.browser_app``), both wrapped in
``EmbedWSGIMiddleware``: (a) ``/rewritten``, whose iframe ``src`` the middleware filled in server-side,
and (b) ``/seeds``, the seeds' pattern, whose script waits for ``DOMContentLoaded``, fetches
``/generate-token`` (minted by the same issuer, same claims) and only then sets the iframe's ``src``.
The row times navigation start -> the moment the iframe's request is written to its connection; the
iframe's own load is not timed, since it is the vendor's and the same in both.

**How it is timed.** One clock, Chromium's own monotonic one, for both ends. The start is the main
frame's ``NavigationStart`` (CDP ``Performance.getMetrics``, the same instant as
``performance.timeOrigin``); the end is the iframe request's ``timing.requestTime + sendStart`` from
CDP ``Network.responseReceived``, i.e. when the network stack sent the request line. The rejected
alternatives measure something else:

* the parent's ``performance`` entry for the iframe (``initiatorType`` "iframe") has a ``startTime``
  relative to navigation start, but it is when the *renderer* began the frame's navigation; the
  request leaves 1 to 10 ms later, and later mostly for (a), whose iframe appears while the parser
  is still busy, so it flatters the rewritten page. Its request timings are zero cross-origin.
* Playwright's ``request.timing`` anchors each request's ``startTime`` to the wall clock separately,
  which moved each end by up to a few ms against the monotonic timestamps in trials; and it starts
  at the document's request, not at navigation start.

**Why gunicorn** (``-k gthread``, 4 threads, 1 worker; the vendor stand-in alike): the servers run in
processes of their own. A werkzeug server in a thread of this process would share its GIL with the
Playwright client, which parses a CDP event for every step of the very navigation being timed, and
(b) passes through the server twice (page, then token), so it would pay that more often than (a).
gthread is also how a Flask app is deployed with keep-alive, so the seeds' fetch reuses the page's
connection, as it would in production.

Each navigation gets a fresh browser context (empty cache, new connections). Rounds alternate which
page goes first, after two warm-up rounds; figures are medians and the ratio is the median of
per-pair ratios (``timing.Paired``). Every iframe request must get a 200 from the dashboard server,
which verifies its token; the first timed round also decodes both tokens with ``jwt.decode``.
Everything is on loopback, so the seeds' extra round trip costs its floor here: over a real network
it costs one more RTT, so the ratio only gets better for (a).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import jwt

from .browser_app import DASHBOARD_URL_ENV, KEY_ENV, RESOURCE, REWRITTEN_PATH, SEEDS_PATH, TENANT
from .report import Row, render
from .timing import Paired

if TYPE_CHECKING:  # Playwright is the bench extra's; mypy runs without it too (make test)
    from playwright.sync_api import Browser  # type: ignore[import-not-found, unused-ignore]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
#: The machine's network is closed: nothing in the background may phone home or wait for it.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LABEL = "browser: nav start -> iframe request, rewritten vs seeds' fetch"
TARGET = 0.6
FULL_ROUNDS = 30
QUICK_ROUNDS = 10
WARMUP_ROUNDS = 2
GUNICORN_THREADS = 4
#: Bounds on one navigation, one server start and one server stop.
NAVIGATION_TIMEOUT_MS = 15_000
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
_TOKEN = re.compile(r"token=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


def skipped(reason: str) -> list[Row]:
    return [Row(LABEL, f"skipped: {reason}", "-", "-", f"<= {TARGET:.2f}x", None)]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _fetch(url: str) -> tuple[dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=5.0) as response:
        return {k.lower(): v for k, v in response.getheaders()}, response.read()


class Gunicorn:
    """``python -m gunicorn 'benchmarks.browser_app:<factory>()'`` on a free loopback port."""

    def __init__(self, factory: str, env: dict[str, str], log: Path) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        self._log = log
        command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "gthread"]
        command += ["--threads", str(GUNICORN_THREADS), "--bind", self.url.removeprefix("http://")]
        command += ["--log-level", "warning", *_no_control_socket(), f"benchmarks.browser_app:{factory}()"]
        with open(log, "wb") as out:  # the child keeps its own descriptor
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_ready(self, path: str) -> None:
        """Polls ``path`` until the worker answers; raises with the server's log if it never does."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self._process is not None and self._process.poll() is None:
            try:
                urllib.request.urlopen(self.url + path, timeout=1.0).close()
                return
            except urllib.error.HTTPError:
                return  # answered: the dashboard server says 403 to a request without a token
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gunicorn did not start at {self.url}:\n{self._log.read_text(errors='replace')}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown; SIGTERM waits for keep-alives
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def _no_control_socket() -> list[str]:
    """gunicorn 25+ opens a control socket in ``$HOME`` unless told not to; older ones lack the flag."""
    config: Any = importlib.import_module("gunicorn.config")
    names = {setting.name for setting in config.KNOWN_SETTINGS}
    return ["--no-control-socket"] if "control_socket_disable" in names else []


@contextlib.contextmanager
def servers(key: str) -> Iterator[tuple[str, str]]:
    """The host app's and the dashboard server's base URLs, both answering; both stopped on the way out."""
    started: list[Gunicorn] = []
    with tempfile.TemporaryDirectory(prefix="embed-browser-") as logs:
        try:
            env = dict(os.environ)
            env[KEY_ENV] = key
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
            dashboard = Gunicorn("dashboard", env, Path(logs) / "dashboard.log")
            started.append(dashboard)
            host = Gunicorn("host", {**env, DASHBOARD_URL_ENV: dashboard.url}, Path(logs) / "host.log")
            started.append(host)
            dashboard.wait_ready(f"/embed/{RESOURCE}")
            host.wait_ready(SEEDS_PATH)
            yield host.url, dashboard.url
        finally:
            for server in started:
                server.stop()


def check_token(token: str, key: str) -> None:
    """The token opens exactly the tenant's chart: signature, expiry, workspace scope and tenant."""
    claims = jwt.decode(token, key, algorithms=["HS256"], options={"require": ["exp", "iat"]})
    scope = claims["scopes"][0]
    if (scope["resource"], scope["fixed_params"]["tenant_id"]) != (RESOURCE, TENANT.id):
        raise RuntimeError(f"unexpected token scope: {scope}")


def check_app(host: str, key: str) -> None:
    """Refuses to time unless (a) arrives rewritten and uncacheable, and (b) arrives without a token."""
    headers, page = _fetch(host + REWRITTEN_PATH)
    found = _TOKEN.search(page.decode())
    if found is None or b"JWT_TOKEN" in page or "no-store" not in headers.get("cache-control", ""):
        raise RuntimeError("the rewritten page carries no token, or may be cached")
    check_token(found.group(1), key)
    if _TOKEN.search(_fetch(host + SEEDS_PATH)[1].decode()) is not None:
        raise RuntimeError("the seeds' page already carries a token")


def navigate(browser: Browser, url: str, dashboard: str) -> tuple[float, str]:
    """Milliseconds from navigation start until the iframe's request left, and that request's URL."""
    embed = f"{dashboard}/embed/{RESOURCE}?"
    context = browser.new_context()
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        seen: list[dict[str, Any]] = []
        cdp.on("Network.responseReceived", lambda event: seen.append(event))  # a bound builtin won't do
        cdp.send("Network.enable")
        cdp.send("Performance.enable")
        with page.expect_request_finished(
            lambda request: request.url.startswith(embed), timeout=NAVIGATION_TIMEOUT_MS
        ) as finished:
            page.goto(url, wait_until="commit", timeout=NAVIGATION_TIMEOUT_MS)
        frame_url: str = finished.value.url
        # The CDP session's copy of that response may trail Playwright's own event by a moment.
        deadline = time.monotonic() + 5.0
        while not (found := [e["response"] for e in seen if e["response"]["url"] == frame_url]):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no Network.responseReceived for the iframe of {url}")
            page.wait_for_timeout(2)
        response = found[0]
        if response["status"] != 200:
            raise RuntimeError(f"the dashboard server refused the iframe of {url}: {response['status']}")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        timing = response["timing"]
        if timing["sendStart"] < 0:
            raise RuntimeError(f"the iframe request of {url} has no send time: {timing}")
        sent = timing["requestTime"] + timing["sendStart"] / 1000
        elapsed_ms = (sent - float(metrics["NavigationStart"])) * 1000
        if not 0 < elapsed_ms < NAVIGATION_TIMEOUT_MS:
            raise RuntimeError(f"implausible timing for {url}: {elapsed_ms:.1f} ms")
        return elapsed_ms, frame_url
    finally:
        context.close()


def measure(browser: Browser, host: str, dashboard: str, rounds: int, key: str) -> Paired:
    """Warm-up, then ``rounds`` rounds of both pages, alternately first; tokens decoded once."""
    pages = {"a": host + REWRITTEN_PATH, "b": host + SEEDS_PATH}
    times: dict[str, list[int]] = {"a": [], "b": []}
    for index in range(WARMUP_ROUNDS + rounds):
        for side in ("a", "b") if index % 2 == 0 else ("b", "a"):
            elapsed_ms, frame_url = navigate(browser, pages[side], dashboard)
            if index == WARMUP_ROUNDS:
                check_token(parse_qs(urlsplit(frame_url).query)["token"][0], key)
            if index >= WARMUP_ROUNDS:
                times[side].append(round(elapsed_ms * 1e6))
    return Paired(tuple(times["a"]), tuple(times["b"]))


def _missing() -> str | None:
    """Why the row cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright not installed (pip install 'embed_middleware[bench]')"
    if importlib.util.find_spec("gunicorn") is None:
        return "gunicorn not installed (pip install 'embed_middleware[bench]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    return None


def run(*, quick: bool) -> list[Row]:
    """The browser row; a "skipped" row when Playwright, gunicorn or Chromium is missing."""
    reason = _missing()
    if reason is not None:
        return skipped(reason)
    from playwright.sync_api import Error, sync_playwright  # type: ignore[import-not-found, unused-ignore]

    key = secrets.token_urlsafe(48)
    args = [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    with servers(key) as (host, dashboard), sync_playwright() as playwright:
        check_app(host, key)
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args, timeout=60_000)
        except Error as error:
            return skipped(f"Chromium did not start ({str(error).splitlines()[0]})")
        try:
            paired = measure(browser, host, dashboard, QUICK_ROUNDS if quick else FULL_ROUNDS, key)
        finally:
            browser.close()
    ratio = paired.time_ratio
    return [
        Row(
            LABEL,
            f"{paired.ours / 1e6:.1f} ms",
            f"{paired.floor / 1e6:.1f} ms",
            f"{ratio:.2f}x",
            f"<= {TARGET:.2f}x",
            ratio <= TARGET,
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="only the browser row of python -m benchmarks")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_ROUNDS} rounds instead of {FULL_ROUNDS}"
    )
    arguments = parser.parse_args(argv)
    rows = run(quick=arguments.quick)
    print(render(rows))
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
