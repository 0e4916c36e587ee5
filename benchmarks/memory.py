"""Memory rows: peak extra resident memory while a 256 MiB page streams through each adapter.

The rewriter promises memory that stays constant whatever the body's size; a middleware that
buffered the page would show up here as hundreds of megabytes. One row per adapter: WSGI
(``EmbedWSGIMiddleware``, the body iterated as a WSGI server does) and ASGI (``EmbedASGIMiddleware``
around an app sending 64 KiB ``http.response.body`` messages with more_body=True, to a ``send`` that
discards them, under asyncio; see ``memory_asgi``). Each side runs in a fresh subprocess so that
neither inherits the other's heap. The floor is the same app consumed raw, without the middleware:
what the server pays anyway. The figure that matters is wrapped minus raw.

The page is the app's own: for each request it writes its placeholder through the helper
(``embed_placeholder(environ_or_scope, "top_airlines")``, carrying that request's nonce) into the few
chunks that hold one, as a template rendering chunk by chunk would. The raw app has no middleware,
hence no nonce: it writes a stand-in of the same length, so both sides stream the same bytes.

Peak RSS is the kernel's high-water mark (``VmHWM``), reset after warm-up by writing ``5`` to
``/proc/self/clear_refs``; where that is refused, a thread samples ``VmRSS`` every 2 ms instead.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import EmbedASGIMiddleware, EmbedWSGIMiddleware, Tenant, TokenIssuer, embed_placeholder

from .memory_asgi import ASGIPage, serve_asgi
from .minting import SIGNING_KEY, tinybird_claims
from .report import Row
from .rewriting import filler
from .serving_app import stand_in as stand_in_for

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

MIB = 1 << 20
CHUNK = 64 * 1024
#: Every cycle of this many chunks carries two placeholders: one inside a chunk, one split across two.
CYCLE = 64
WARMUP_BYTES = 4 * MIB
TARGET_BYTES = 1_000_000
RESOURCE = "top_airlines"
#: What the raw app writes where the wrapped app's helper writes its placeholder: the same length.
STAND_IN = stand_in_for(RESOURCE)
ADAPTERS = ("wsgi", "asgi")
MODES = ("wrapped", "raw")

#: ``(environ or scope) -> placeholder``: how the app writes its placeholder for one request.
Writer = Callable[[Mapping[str, Any]], str]


def helper(holder: Mapping[str, Any]) -> str:
    """The wrapped app's placeholder: the helper users call, with this request's nonce."""
    return embed_placeholder(holder, RESOURCE)


def stand_in(holder: Mapping[str, Any]) -> str:
    """The raw app's: no middleware, no nonce, the same number of bytes."""
    return STAND_IN


class PageApp:
    """A WSGI app streaming a huge page from prebuilt chunks, so it never holds the body; its ``body``
    is also the source of the ASGI app's messages. The three chunks that carry the placeholder are
    built per request, around the placeholder ``write`` returns for that request."""

    def __init__(self, write: Writer) -> None:
        self._plain = filler(CHUNK)
        self._write = write
        self.chunks = 0
        self.sent = 0
        self.placeholders = 0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return self.body(environ)

    def _carriers(self, placeholder: bytes) -> tuple[bytes, bytes, bytes]:
        """One chunk with the placeholder inside, and two that split it between them."""
        plain = self._plain
        snippet = b'<iframe src="https://ui.example/embed?token=' + placeholder + b'"></iframe>\n'
        middle = CHUNK // 2
        inside = plain[:middle] + snippet + plain[middle + len(snippet) :]
        split = len(placeholder) // 2
        tail = plain[: CHUNK - split] + placeholder[:split]
        head = placeholder[split:] + plain[len(placeholder) - split :]
        return inside, tail, head

    def body(self, holder: Mapping[str, Any]) -> Iterator[bytes]:
        """``self.chunks`` chunks of ``CHUNK`` bytes, counting what was sent."""
        inside, tail, head = self._carriers(self._write(holder).encode("ascii"))
        for index in range(self.chunks):
            position = index % CYCLE
            if position == 0:
                chunk = inside
                self.placeholders += 1
            elif position == CYCLE // 2:
                chunk = tail
                self.placeholders += 1
            elif position == CYCLE // 2 + 1:
                chunk = head
            else:
                chunk = self._plain
            self.sent += len(chunk)
            yield chunk


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    def write(data: bytes) -> None:
        raise AssertionError("the benchmark app never uses write()")

    return write


def serve(application: WSGIApplication) -> int:
    """Runs one request like a WSGI server would, discarding the body; returns the bytes received."""
    result = application(EnvironBuilder().get_environ(), _start_response)
    received = 0
    try:
        for chunk in result:
            received += len(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return received


def _status_kib() -> dict[str, int]:
    with open("/proc/self/status") as status:
        return {
            name: int(value.split()[0])
            for name, _, value in (line.partition(":") for line in status)
            if name in ("VmRSS", "VmHWM")
        }


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    after = _status_kib()
    return after["VmHWM"] <= after["VmRSS"] + 64


class _Sampler(threading.Thread):
    """The fallback peak: VmRSS every few milliseconds (may miss a spike shorter than that)."""

    def __init__(self, interval: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.peak_kib = 0
        self._interval = interval
        self._done = threading.Event()
        self._page_kib = os.sysconf("SC_PAGE_SIZE") // 1024

    def run(self) -> None:
        # A GIL hand-over is requested every switch interval (5 ms by default): shorten it so that
        # this thread gets to sample as often as it asks to.
        sys.setswitchinterval(self._interval / 4)
        while not self._done.is_set():
            with open("/proc/self/statm") as statm:
                self.peak_kib = max(self.peak_kib, int(statm.read().split()[1]) * self._page_kib)
            self._done.wait(self._interval)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak_kib


def child(adapter: str, mode: str, size: int) -> dict[str, Any]:
    """One measurement in this (fresh) process: baseline after warm-up, then peak while streaming."""
    tenant = Tenant("acme")
    issuer = TokenIssuer(signing_key=SIGNING_KEY, claims=tinybird_claims, resources=[RESOURCE])
    page = PageApp(helper if mode == "wrapped" else stand_in)
    loop = asyncio.new_event_loop()
    run_once: Callable[[], int]
    if adapter == "wsgi":
        wsgi = EmbedWSGIMiddleware(page, issuer=issuer, resolver=lambda request: tenant)
        wsgi_app: WSGIApplication = wsgi if mode == "wrapped" else page
        run_once = functools.partial(serve, wsgi_app)
    else:

        async def resolver(request: Request) -> Tenant:
            return tenant  # async, so that no worker thread joins the event loop mid-measurement

        asgi_page = ASGIPage(page)
        asgi_app = EmbedASGIMiddleware(asgi_page, issuer=issuer, resolver=resolver)
        run_once = functools.partial(serve_asgi, loop, asgi_app if mode == "wrapped" else asgi_page)
    page.chunks = WARMUP_BYTES // CHUNK
    run_once()
    page.sent = page.placeholders = 0
    page.chunks = size // CHUNK
    sampler = _Sampler()
    sampler.start()
    gc.collect()
    baseline = _status_kib()["VmRSS"]
    exact = _reset_high_water_mark()
    received = run_once()
    sampled = sampler.stop()
    loop.close()
    peak = _status_kib()["VmHWM"] if exact else sampled
    growth = 0
    if mode == "wrapped":
        token = issuer.issue(tenant, RESOURCE, Request(EnvironBuilder().get_environ()))
        growth = page.placeholders * (len(token.token) - len(STAND_IN))
    if received != page.sent + growth or page.sent != size:
        raise RuntimeError(f"{adapter} {mode}: sent {page.sent}, received {received}, growth {growth}")
    return {
        "baseline_kib": baseline,
        "peak_kib": peak,
        "method": "VmHWM" if exact else "sampled",
        "placeholders": page.placeholders,
    }


def _spawn(adapter: str, mode: str, size: int) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "benchmarks.memory", "--child", mode, "--adapter", adapter]
    command += ["--bytes", str(size)]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"memory child {adapter} {mode} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def measure(adapter: str, size: int, runs: int) -> Row:
    """Median over ``runs`` fresh processes per side, the two sides alternating which goes first."""
    extra: dict[str, list[int]] = {mode: [] for mode in MODES}
    methods: set[str] = set()
    for index in range(runs):
        for mode in MODES if index % 2 == 0 else reversed(MODES):
            result = _spawn(adapter, mode, size)
            extra[mode].append(result["peak_kib"] - result["baseline_kib"])
            methods.add(result["method"])
    ours = statistics.median(extra["wrapped"])
    floor = statistics.median(extra["raw"])
    difference = ours - floor
    how = "/".join(sorted(methods))
    return Row(
        benchmark=f"peak extra RSS, {size // MIB} MiB page via {adapter.upper()} ({how})",
        ours=f"{ours:,.0f} KiB",
        floor=f"{floor:,.0f} KiB",
        ratio=f"{difference:+,.0f} KiB",
        target=f"< {TARGET_BYTES / 1e6:.0f} MB extra",
        met=difference * 1024 < TARGET_BYTES,
    )


def run(*, quick: bool) -> list[Row]:
    """One row per adapter; quick mode streams 64 MiB once per side instead of 256 MiB five times."""
    size, runs = (64 * MIB, 1) if quick else (256 * MIB, 5)
    return [measure(adapter, size, runs) for adapter in ADAPTERS]


def main() -> None:
    parser = argparse.ArgumentParser(description="one memory measurement (run by benchmarks.memory.run)")
    parser.add_argument("--child", choices=MODES, required=True)
    parser.add_argument("--adapter", choices=ADAPTERS, default="wsgi")
    parser.add_argument("--bytes", type=int, required=True)
    arguments = parser.parse_args()
    print(json.dumps(child(arguments.adapter, arguments.child, arguments.bytes)))


if __name__ == "__main__":
    main()
