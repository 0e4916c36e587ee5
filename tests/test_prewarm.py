"""Pre-warming (issue 15, item 4) against a real loopback server that counts requests, concurrency
and brand-new tokens, as the vendor's usage statistics would."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jwt
import pytest

from embed_middleware import ConfigurationError, Tenant, TokenIssuer
from embed_middleware.cli import main
from embed_middleware.prewarm import prewarm, warm_urls

SECRET = "p" * 48
TENANTS = [Tenant("acme"), Tenant("globex"), Tenant("initech", resources=frozenset({"sales"}))]


class Vendor(ThreadingHTTPServer):
    """``GET /d/<resource>/<token>``: 200 for a token that verifies for that resource, else 403."""

    daemon_threads = True

    def __init__(self, delay: float = 0.05) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.delay, self.lock = delay, threading.Lock()
        self.requests, self.active, self.most_active = 0, 0, 0
        self.new_tokens: set[str] = set()
        self.queries_run = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Vendor

    def do_GET(self) -> None:
        vendor = self.server
        with vendor.lock:
            vendor.requests += 1
            vendor.active += 1
            vendor.most_active = max(vendor.most_active, vendor.active)
        try:
            time.sleep(vendor.delay)
            _, _, resource, token = urlsplit(self.path).path.split("/", 3)
            if resource == "broken":
                self.send_response(500)
            else:
                claims = jwt.decode(unquote(token), SECRET, algorithms=["HS256"])
                assert claims["resource"] == resource
                with vendor.lock:
                    if token not in vendor.new_tokens:  # Chartio: queries run for a brand-new JWT only
                        vendor.new_tokens.add(token)
                        vendor.queries_run += 1
                self.send_response(200)
        except (ValueError, AssertionError, jwt.InvalidTokenError):
            self.send_response(403)
        finally:
            with vendor.lock:
                vendor.active -= 1
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def vendor() -> Iterator[Vendor]:
    server = Vendor()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def reusing() -> TokenIssuer:
    return TokenIssuer(SECRET, ttl=600, reuse=300, resources=["sales", "ops", "broken"])


def test_warms_each_tenant_and_resource_once_per_window_with_bounded_concurrency(vendor: Vendor) -> None:
    issuer, template = reusing(), vendor.base + "/d/{resource}/{token}"
    results = prewarm(issuer, TENANTS, ["sales", "ops"], template, concurrency=2, progress=None)
    assert [r.status for r in results] == [200] * 5  # initech may not embed ops: skipped
    assert vendor.requests == 5 and vendor.queries_run == 5
    assert vendor.most_active == 2
    assert all(r.shown.endswith("/<token>") for r in results)
    # Later in the window the pages carry the very URLs warmed: no query runs for them.
    page_token = issuer.issue(Tenant("acme"), "sales", None).token  # type: ignore[arg-type]
    assert any(url.url.endswith(page_token) for url in warm_urls(issuer, TENANTS, ["sales"], template))
    prewarm(issuer, TENANTS, ["sales", "ops"], template, concurrency=4, progress=None)
    assert vendor.requests == 10 and vendor.queries_run == 5


def test_refuses_an_issuer_without_reuse_and_bad_templates(vendor: Vendor) -> None:
    fresh = TokenIssuer(SECRET, ttl=600, resources=["sales"])
    with pytest.raises(ConfigurationError, match="reuse"):
        prewarm(fresh, TENANTS, ["sales"], vendor.base + "/d/{resource}/{token}", progress=None)
    for bad in (vendor.base + "/d/{resource}", vendor.base + "/{secret}/{token}", "file:///{token}"):
        with pytest.raises(ConfigurationError):
            warm_urls(reusing(), TENANTS, ["sales"], bad)
    with pytest.raises(ConfigurationError, match="concurrency"):
        prewarm(reusing(), TENANTS, ["sales"], vendor.base + "/d/{token}", concurrency=0)


def test_the_progress_bar_counts_to_the_end_on_stderr() -> None:
    stream = io.StringIO()
    results = prewarm(reusing(), [], ["sales"], "http://127.0.0.1:9/{token}", progress=stream)
    assert results == [] and stream.getvalue() == ""
    stream = io.StringIO()
    prewarm(reusing(), TENANTS[:1], ["sales"], "http://127.0.0.1:9/{token}", timeout=2, progress=stream)
    assert stream.getvalue().strip().endswith("1/1")


def test_cli_prints_statuses_never_tokens_and_fails_for_cron(
    vendor: Vendor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "warm_app.py").write_text(
        "from embed_middleware import Tenant, TokenIssuer\n"
        f"issuer = TokenIssuer({SECRET!r}, ttl=600, reuse=300, resources=['sales', 'ops', 'broken'])\n"
        "TENANTS = {'acme': Tenant('acme')}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["prewarm", "--issuer", "warm_app:issuer", "--tenant", "acme", "--tenant", "globex"]
    args += ["--resource", "sales", "--resource", "ops", "--url", vendor.base + "/d/{resource}/{token}"]
    assert main([*args, "--concurrency", "3"]) == 0
    out, err = capsys.readouterr()
    tokens = [issued for issued in vendor.new_tokens]
    assert len(out.splitlines()) == 4 and all(line.startswith(" 200") for line in out.splitlines())
    assert not any(token in out + err for token in tokens) and "<token>" in out
    assert "4/4" in err
    assert main([*args, "--resource", "broken", "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert " 500 " in out and err == ""
    assert main([*args, "--tenant-lookup", "warm_app:TENANTS"]) == 2  # globex is not in the lookup
    assert "globex" in capsys.readouterr().err
    assert (
        main(["prewarm", "--issuer", "warm_app:nothing", "--tenant", "a", "--resource", "s", "--url", "x"])
        == 2
    )
