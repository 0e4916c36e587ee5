"""The docs site as a reader sees it: built with ``mkdocs build --strict`` (what ``make docs`` runs), served
on loopback, and every page opened in Debian's Chromium (driven by Playwright, launched as the other
browser tests launch it). A page fails on an image that did not load, a request to the site that failed,
or a link to a page or an anchor that does not exist.

MkDocs' strict mode already refuses links it can resolve in Markdown; this catches what only the built
HTML shows (the theme's own links and assets, generated pages, images a hook inserted). The last test
breaks a copy of the site on purpose, so the checks are shown to fail where they should.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from urllib.parse import urldefrag

import pytest

pytest.importorskip(
    "mkdocs", reason="mkdocs not installed: pip install --group docs; `make test` installs it"
)
pytest.importorskip(
    "material", reason="mkdocs-material not installed: pip install --group docs; `make test` installs it"
)
pytest.importorskip(
    "playwright.sync_api",
    reason="playwright not installed: pip install --group test; `make test` installs it",
)

from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.browser_helpers import chromium_missing, launch

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
]

#: Images that are in the DOM but did not load (or loaded empty).
BROKEN_IMAGES = "() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
#: Every link target on the page, resolved by the browser.
LINKS = "() => [...document.querySelectorAll('a[href]')].map(a => a.href)"


def build_site(site: Path) -> Path:
    """``mkdocs build --strict`` into ``site``; the build's own output on failure."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return site


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@functools.cache
def _ids(url: str) -> frozenset[str]:
    """The ``id`` attributes of the page at ``url`` (for anchors); empty when it does not load."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            html = answer.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return frozenset()
    return frozenset(re.findall(r'\bid="([^"]+)"', html))


def _loads(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """The site over HTTP on loopback, as a browser would fetch it from a host."""
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def pages(site: Path) -> list[str]:
    """Every page of the site, as a path relative to its root (``""`` is the home page)."""
    found = sorted(p.parent.relative_to(site).as_posix() for p in site.rglob("index.html"))
    return ["" if p == "." else p + "/" for p in found]


def problems(page: Page, base: str, path: str) -> list[str]:
    """What is broken on the page at ``base + path``, each as a sentence."""
    failed: list[str] = []
    # Only the site's own requests: the theme also asks GitHub's API for the repository's stars, which
    # this machine's closed network refuses and a reader's browser would get.
    ours = base.startswith
    page.on("requestfailed", lambda r: failed.append(f"request failed: {r.url}") if ours(r.url) else None)
    page.on(
        "response",
        lambda r: failed.append(f"{r.status} for {r.url}") if r.status >= 400 and ours(r.url) else None,
    )
    page.goto(base + path, wait_until="load")
    found = list(failed)
    found += [f"broken image: {src}" for src in page.evaluate(BROKEN_IMAGES)]
    for href in sorted(set(page.evaluate(LINKS))):
        if not href.startswith(base):
            continue  # external (the repository, keepachangelog.com): not ours to check offline
        target, fragment = urldefrag(href)
        if not _loads(target):
            found.append(f"broken link: {href}")
        elif fragment and fragment not in _ids(target):
            found.append(f"broken anchor: {href}")
    return found


def hooks() -> ModuleType:
    """docs/hooks.py, which MkDocs loads by path (it is not a package module)."""
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(tmp_path_factory.mktemp("docs") / "site")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as driver:
        chromium = launch(driver)
        yield chromium
        chromium.close()


def check_site(browser: Browser, site: Path) -> dict[str, list[str]]:
    """``{page: problems}`` for every page with at least one."""
    _ids.cache_clear()
    broken: dict[str, list[str]] = {}
    with serve(site) as base:
        context = browser.new_context()
        try:
            for path in pages(site):
                page = context.new_page()
                if found := problems(page, base, path):
                    broken[path or "/"] = found
                page.close()
        finally:
            context.close()
    return broken


def test_the_site_has_the_pages_the_issue_asks_for(site: Path) -> None:
    expected = {
        "",
        "frameworks/flask/",
        "frameworks/django/",
        "frameworks/fastapi/",
        "frameworks/wsgi-asgi/",
        "options/",
        "resolvers/",
        "tokens/",
        "profiles/",
        "response/",
        "verifying/",
        "cli/",
        "security/",
        "performance/",
        "servers/",
        "changelog/",
    }
    assert expected <= set(pages(site)), sorted(expected - set(pages(site)))


def test_the_options_table_is_generated_from_the_code(site: Path) -> None:
    """Every keyword the middleware accepts has a row, so the table cannot fall behind the code."""
    html = (site / "options" / "index.html").read_text(encoding="utf-8")
    target = hooks().options_source()
    names = (
        inspect.get_annotations(target)
        if isinstance(target, type)
        else [p.name for p in inspect.signature(target).parameters.values() if p.kind is p.KEYWORD_ONLY]
    )
    missing = [name for name in names if f"<code>{name}</code>" not in html]
    assert names and not missing, missing


def test_the_changelog_page_is_the_changelog(site: Path) -> None:
    html = (site / "changelog" / "index.html").read_text(encoding="utf-8")
    assert "Unreleased" in html and "0.1.0" in html


def test_every_page_opens_with_its_images_and_links(browser: Browser, site: Path) -> None:
    broken = check_site(browser, site)
    assert not broken, "\n".join(f"{page}: {found}" for page, found in broken.items())


def test_a_broken_image_and_broken_links_are_caught(browser: Browser, site: Path, tmp_path: Path) -> None:
    """The checks can fail: a copy of the site with one missing image, one link to a page that does not
    exist and one to an anchor that does not exist, each reported on the page that has it."""
    copy = Path(shutil.copytree(site, tmp_path / "site"))
    index = copy / "cli" / "index.html"
    html = index.read_text(encoding="utf-8")
    sabotage = (
        '<img src="../no-such-chart.png" alt="gone">'
        '<a href="../no-such-page/">gone</a>'
        '<a href="../security/#no-such-anchor">gone</a>'
    )
    index.write_text(html.replace("</article>", sabotage + "</article>", 1), encoding="utf-8")
    broken = check_site(browser, copy)
    assert set(broken) == {"cli/"}, broken
    found = " ".join(broken["cli/"])
    assert "broken image" in found and "no-such-chart.png" in found, found
    assert "broken link" in found and "no-such-page" in found, found
    assert "broken anchor" in found and "no-such-anchor" in found, found
