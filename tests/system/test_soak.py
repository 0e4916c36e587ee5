"""Soak: 100,000 requests through each adapter in one process, resident memory sampled as it goes.

Each variant runs in a fresh interpreter (this file run as a script, warnings as errors), so that no
other test's heap, threads or caches move its figures: ``EmbedWSGIMiddleware`` called as a WSGI server
would (a fresh environ per request, the iterable consumed and closed) or ``EmbedASGIMiddleware``
driven on one asyncio event loop (a fresh scope per request). The page carries two placeholders of
the app's own (written with ``embed_placeholder``, so each request draws a nonce) and the app marks a
tenant id, so every request resolves a tenant (through the ``_plain_tenant`` cache) and mints two
tokens. ``VmRSS`` is read from ``/proc/self/status`` after ``gc.collect()`` every 1,000
requests; the figure is its growth from the 10,000th to the 100,000th request, which must stay under
5 MB. The "distinct" variants give every request a new tenant id (100,000 of them, far beyond the
cache's 4,096), so an unbounded per-tenant cache anywhere would show up as growth.

Figures are printed and written to ``build/soak-figures.json``.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.support.tokens import signing_secret

REQUESTS = 100_000
SAMPLE_EVERY = 1_000
BASELINE_AT = 10_000
LIMIT_KIB = 5 * 1024
#: Every this many requests, one token is decoded and its claims checked (the rest: no placeholder left).
DECODE_EVERY = 997
KEY = signing_secret("soak", 57)
ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "build" / "soak-figures.json"
#: name -> (adapter, number of tenants cycled through; None: a new tenant id for every request).
VARIANTS: dict[str, tuple[str, int | None]] = {
    "wsgi-50-tenants": ("wsgi", 50),
    "asgi-50-tenants": ("asgi", 50),
    "wsgi-distinct-tenants": ("wsgi", None),
    "asgi-distinct-tenants": ("asgi", None),
}
#: The page around its two placeholders, which the app writes per request with embed_placeholder().
PAGE_PARTS = (
    b"<!doctype html><html><head><title>Dashboard</title></head><body>\n"
    b'<iframe src="https://charts.example.com/embed?token=',
    b'"></iframe>\n'
    + b"<p>filler text of an ordinary dashboard page</p>\n" * 36
    + b'<iframe src="https://charts.example.com/embed?token=',
    b'"></iframe>\n</body></html>\n',
)
HTML = "text/html; charset=utf-8"


def page(request: Any) -> bytes:
    """The app's page for this request (``request`` a WSGI environ or an ASGI scope)."""
    from embed_middleware import embed_placeholder

    named = embed_placeholder(request, "top_airlines").encode()
    bare = embed_placeholder(request, None).encode()
    return PAGE_PARTS[0] + named + PAGE_PARTS[1] + bare + PAGE_PARTS[2]


def issuer() -> Any:
    from embed_middleware import TokenIssuer

    return TokenIssuer(KEY, resources=["top_airlines"], allow_unscoped=True)


def tenant_id(index: int, tenants: int | None) -> str:
    return f"tenant-{index if tenants is None else index % tenants:06d}"


def rss_kib() -> int:
    """Resident memory now, in KiB, after a full collection (so garbage awaiting a cycle is not counted)."""
    gc.collect()
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def check_body(body: bytes, index: int, tenant: str) -> None:
    if b"JWT_TOKEN" in body or b"eyJ" not in body:
        raise AssertionError(f"request {index}: placeholder not rewritten")
    if index % DECODE_EVERY == 0:
        start = body.index(b"token=") + len(b"token=")
        token = body[start : body.index(b'"', start)]
        claims = jwt.decode(token, KEY, algorithms=["HS256"])
        if (claims["sub"], claims["resource"]) != (tenant, "top_airlines"):
            raise AssertionError(f"request {index}: token for {claims['sub']!r}, expected {tenant!r}")


# -- the two drivers (run in the child process) -----------------------------------------------------


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ["embed.tenant"] = environ["soak.tenant"]
    body = page(environ)
    start_response("200 OK", [("Content-Type", HTML), ("Content-Length", str(len(body)))])
    return [body]


def environ_for(tenant: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/dashboard",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "soak.tenant": tenant,
    }


def soak_wsgi(tenants: int | None, sample: Callable[[int], None]) -> None:
    from embed_middleware import EmbedWSGIMiddleware, from_environ

    middleware = EmbedWSGIMiddleware(wsgi_app, issuer=issuer(), resolver=from_environ())
    heads: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        heads.append((status, headers))
        return None

    for index in range(1, REQUESTS + 1):
        tenant = tenant_id(index, tenants)
        heads.clear()
        result = middleware(environ_for(tenant), start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = heads[0]
        if status != "200 OK" or dict(headers).get("Content-Length") != str(len(body)):
            raise AssertionError(f"request {index}: {status}, {headers}")
        check_body(body, index, tenant)
        sample(index)


async def soak_asgi(tenants: int | None, sample: Callable[[int], None]) -> None:
    from embed_middleware import EmbedASGIMiddleware, from_environ

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["embed.tenant"] = scope["soak.tenant"]
        body = page(scope)
        raw_headers = [(b"content-type", HTML.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    middleware = EmbedASGIMiddleware(app, issuer=issuer(), resolver=from_environ())
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    for index in range(1, REQUESTS + 1):
        tenant = tenant_id(index, tenants)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/dashboard",
            "raw_path": b"/dashboard",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8000")],
            "client": ("127.0.0.1", 50000 + index % 10000),
            "server": ("127.0.0.1", 8000),
            "soak.tenant": tenant,
        }
        sent.clear()
        await middleware(scope, receive, send)
        start, body = sent
        length = dict(start["headers"]).get(b"content-length")
        if start["status"] != 200 or length != str(len(body["body"])).encode() or body.get("more_body"):
            raise AssertionError(f"request {index}: {sent}")
        check_body(body["body"], index, tenant)
        sample(index)


def run_variant(name: str) -> dict[str, Any]:
    """One variant's soak in this process; returns its figures."""
    from embed_middleware import tenants as tenants_module

    adapter, tenants = VARIANTS[name]
    samples: list[tuple[int, int]] = []

    def sample(index: int) -> None:
        if index % SAMPLE_EVERY == 0:
            samples.append((index, rss_kib()))

    started = time.perf_counter()
    if adapter == "wsgi":
        soak_wsgi(tenants, sample)
    else:
        asyncio.run(soak_asgi(tenants, sample))
    seconds = time.perf_counter() - started
    by_count = dict(samples)
    after_baseline = [kib for count, kib in samples if count >= BASELINE_AT]
    cache = tenants_module._plain_tenant.cache_info()
    return {
        "adapter": adapter,
        "tenants": REQUESTS if tenants is None else tenants,
        "requests": REQUESTS,
        "seconds": round(seconds, 2),
        "requests_per_second": round(REQUESTS / seconds),
        "rss_kib_at_10k": by_count[BASELINE_AT],
        "rss_kib_at_100k": by_count[REQUESTS],
        "growth_kib": by_count[REQUESTS] - by_count[BASELINE_AT],
        "max_growth_kib_after_10k": max(after_baseline) - by_count[BASELINE_AT],
        "tenant_cache": {"currsize": cache.currsize, "maxsize": cache.maxsize},
        "python": sys.version.split()[0],
        "samples_kib": samples,
    }


# -- the tests (parent process) ---------------------------------------------------------------------


def record(name: str, figures: dict[str, Any]) -> None:
    """Adds this variant's figures to build/soak-figures.json (the latest run of each variant)."""
    FIGURES.parent.mkdir(exist_ok=True)
    try:
        everything = json.loads(FIGURES.read_text())
    except (OSError, ValueError):
        everything = {}
    if not isinstance(everything, dict):
        everything = {}
    everything[name] = {**figures, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    FIGURES.write_text(json.dumps(everything, indent=2) + "\n")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc/self/status (Linux)")
@pytest.mark.parametrize("name", list(VARIANTS))
def test_resident_memory_stays_flat_over_100k_requests(name: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    child = subprocess.run(
        [sys.executable, "-W", "error", __file__, name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-4000:]
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    record(name, figures)
    print(
        f"\n{name}: {figures['requests']:,} requests in {figures['seconds']} s "
        f"({figures['requests_per_second']:,} req/s); VmRSS {figures['rss_kib_at_10k']:,} KiB at 10k, "
        f"{figures['rss_kib_at_100k']:,} KiB at 100k: growth {figures['growth_kib']:+,} KiB "
        f"(max {figures['max_growth_kib_after_10k']:+,} KiB); tenant cache {figures['tenant_cache']}"
    )
    assert figures["growth_kib"] < LIMIT_KIB, figures
    cache = figures["tenant_cache"]
    assert cache["maxsize"] is not None and cache["currsize"] <= cache["maxsize"], (
        "the tenant cache is unbounded"
    )


if __name__ == "__main__":
    print(json.dumps(run_variant(sys.argv[1])))
