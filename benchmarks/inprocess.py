"""In-process rows (issue 16, item 7): what the middleware adds to one request, per resolver kind.

For each row a bare app is timed raw and wrapped (see ``inprocess_apps``: no server, no sockets, a
tight driver), beside the hand-rolled HS256 mint floor, all three in the same rounds with the order
rotating. The figure is the overhead per request, wrapped minus raw, and the ratio is that overhead
over one hand-rolled mint, taken within each round; the row shows the median over rounds. A page's
overhead includes minting its token, so 1x would mean the middleware costs no more than signing.

Times are the process's CPU time (every thread, so a plain resolver's worker thread counts), not
wall time: on a shared machine a neighbour preempting us lands mostly in the longest batch, the
wrapped one, and would inflate the very difference the row reports. The price of that choice: a
thread hop's wake-up latency while no CPU is busy is not counted (its CPU cost is).

Targets: at most 2x the floor for a page with one placeholder under ``from_environ()``, each built-in
resolver and an ``async def`` resolver (and a plain ``def`` under WSGI, where it is the native form);
at most 4x for a plain ``def`` under ASGI, which may block and so runs off the event loop; a page
without placeholders at most 0.5x; JSON, which the middleware only passes on, at most 0.2x.

Before timing, every row checks that the wrapped page carries a token (decoding with plain
``jwt.decode``) exactly where the raw page has its stand-in, and that the page without a placeholder
and the JSON come back byte for byte.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from embed_middleware import (
    EmbedASGIMiddleware,
    EmbedWSGIMiddleware,
    TokenIssuer,
    from_cookie,
    from_environ,
    from_header,
    from_path_prefix,
    from_subdomain,
)

from . import inprocess_apps as apps
from .progress import Progress
from .report import Row
from .serving_app import RESOURCE, RESOURCES, SIGNING_KEY, stand_in
from .serving_fastapi import TENANT_HEADER, async_tenant_of, tenant_of
from .timing import rotate


@dataclass(frozen=True)
class Case:
    label: str
    #: "asgi" or "wsgi".
    kind: str
    #: Builds the row's resolver (a fresh one per row).
    resolver: Callable[[], Any]
    #: What the app serves: a key of ``inprocess_apps.RESPONSES``.
    response: str
    target: float
    #: Whether the app marks the tenant (only the ``from_environ()`` rows).
    mark: bool = False


def _cases() -> list[Case]:
    built_ins: list[tuple[str, Callable[[], Any]]] = [
        (f"from_header({TENANT_HEADER!r})", lambda: from_header(TENANT_HEADER)),
        (f"from_cookie({apps.TENANT_COOKIE!r})", lambda: from_cookie(apps.TENANT_COOKIE)),
        ("from_subdomain('example.com')", lambda: from_subdomain("example.com")),
        ("from_path_prefix('/t/')", lambda: from_path_prefix("/t/")),
    ]
    cases: list[Case] = []
    for kind in ("asgi", "wsgi"):
        cases.append(Case("page, from_environ()", kind, from_environ, "page", 2.0, mark=True))
        cases += [Case(f"page, {name}", kind, make, "page", 2.0) for name, make in built_ins]
        if kind == "asgi":
            cases.append(Case("page, async def resolver", kind, lambda: async_tenant_of, "page", 2.0))
        cases.append(
            Case("page, plain def resolver", kind, lambda: tenant_of, "page", 4.0 if kind == "asgi" else 2.0)
        )
        cases.append(
            Case("page without placeholder, from_environ()", kind, from_environ, "plain", 0.5, mark=True)
        )
        cases.append(Case("JSON passed through, from_environ()", kind, from_environ, "json", 0.2, mark=True))
    return cases


CASES = _cases()


def wrap(kind: str, app: Any, resolver: Any) -> Any:
    """The app wrapped as the README's quick start does it: an issuer naming the charts pages may embed."""
    issuer = TokenIssuer(SIGNING_KEY, resources=RESOURCES)
    if kind == "asgi":
        return EmbedASGIMiddleware(app, issuer=issuer, resolver=resolver)
    return EmbedWSGIMiddleware(app, issuer=issuer, resolver=resolver)


@dataclass(frozen=True)
class Measured:
    overhead_us: float
    mint_us: float
    ratio: float


def _check(case: Case, raw_body: bytes, wrapped_body: bytes) -> str | None:
    """The page's token (checked), or None for a response that must come back unchanged."""
    if case.response == "page":
        return apps.only_token(raw_body, wrapped_body, stand_in(RESOURCE).encode())
    if raw_body != wrapped_body:
        raise RuntimeError(f"{case.kind} {case.label}: the response was changed")
    return None


def measure(
    case: Case, loop: asyncio.AbstractEventLoop, mint: Callable[[], str], rounds: int, batch: int
) -> Measured:
    raw = (apps.asgi_app if case.kind == "asgi" else apps.wsgi_app)(case.response, embed=False, mark=False)
    inner = (apps.asgi_app if case.kind == "asgi" else apps.wsgi_app)(
        case.response, embed=True, mark=case.mark
    )
    wrapped = wrap(case.kind, inner, case.resolver())
    if case.kind == "asgi":
        raw_status, raw_body = apps.asgi_body(raw, loop)
        wrapped_status, wrapped_body = apps.asgi_body(wrapped, loop)
        if (raw_status, wrapped_status) != (200, 200):
            raise RuntimeError(f"asgi {case.label}: status {raw_status} / {wrapped_status}")
        sides = [apps.asgi_batch(raw, loop, batch), apps.asgi_batch(wrapped, loop, batch)]
    else:
        raw_body, wrapped_body = apps.wsgi_body(raw), apps.wsgi_body(wrapped)
        sides = [apps.wsgi_batch(raw, batch), apps.wsgi_batch(wrapped, batch)]
    _check(case, raw_body, wrapped_body)
    raw_ns, wrapped_ns, mint_ns = rotate(
        [*sides, apps.mint_batch(mint, batch)], rounds, clock=time.process_time_ns
    )
    ratios = [(w - r) / m for r, w, m in zip(raw_ns, wrapped_ns, mint_ns, strict=True)]
    overhead = statistics.median(w - r for r, w in zip(raw_ns, wrapped_ns, strict=True))
    return Measured(
        overhead / batch / 1000, statistics.median(mint_ns) / batch / 1000, statistics.median(ratios)
    )


def model_token(loop: asyncio.AbstractEventLoop) -> str:
    """A token the wrapped ASGI app really served: the floor mints the same header and claims."""
    raw = apps.asgi_app("page", embed=False, mark=False)
    wrapped = wrap("asgi", apps.asgi_app("page", embed=True, mark=True), from_environ())
    return apps.only_token(
        apps.asgi_body(raw, loop)[1], apps.asgi_body(wrapped, loop)[1], stand_in(RESOURCE).encode()
    )


def run(*, quick: bool, progress: Progress) -> list[Row]:
    rounds, batch = (8, 100) if quick else (24, 400)
    loop = asyncio.new_event_loop()
    try:
        mint = apps.mint_floor(model_token(loop), SIGNING_KEY.encode())
        rows = []
        for case in CASES:
            label = f"in-process {case.kind.upper()}, {case.label}"
            with progress.step(label) as step:
                measured = measure(case, loop, mint, rounds, batch)
                step.result = f"{measured.overhead_us:.1f} µs, {measured.ratio:.2f}x the mint floor"
            rows.append(
                Row(
                    benchmark=f"{label} (wrapped - raw per request)",
                    ours=f"{measured.overhead_us:.1f} µs",
                    floor=f"{measured.mint_us:.1f} µs (hand-rolled HS256 mint)",
                    ratio=f"{measured.ratio:.2f}x",
                    target=f"<= {case.target:g}x",
                    met=measured.ratio <= case.target,
                )
            )
        return rows
    finally:
        loop.close()
