"""End-to-end rows: requests/s and p50/p99 latency of the wrapped app against the raw app, served by
real servers on loopback (uvicorn for ASGI, gunicorn for WSGI, see ``servers``) and driven by wrk.

Pairs of apps, raw and wrapped, each serving five responses (``serving_app``'s routes): a 2 KB page
with one placeholder, the same with five named placeholders, the same without a placeholder (whose app never
draws the nonce, so it is not scanned), a 4 KB page with user comments carrying four placeholder-like
strings beside the app's own placeholder, and JSON the middleware passes through. Every wrapped app
writes its placeholders with the helper, per request, and names its resources, as users must now;
the raw apps write a same-length stand-in (see ``serving_app``). The targets apply to the framework
pairs, FastAPI and Flask, because that is what users run; the bare-ASGI pair is there for
information, as the worst case: a do-nothing app, beside which the middleware's cost looks largest.

FastAPI runs once per resolver kind (issue 16): ``from_environ()`` on all five responses, then
``from_header`` on the page and the JSON, an ``async def`` and a plain ``def`` resolver on the page;
every request carries the ``X-Tenant`` header, to both sides, so the header resolvers find a tenant.
The Flask pair is the README's quick start (the ``Embed`` extension, whose resolver is a plain
function), on the three responses with a target. The reuse pairs (issue 15) time the page only, to
keep ``make bench`` near ten minutes. Two floor pairs (``serving_floor``) time, on the page, a
middleware that only mints one fresh token per request: the most any middleware minting per response
could reach on FastAPI and on Flask.

For each pair both servers are up at once. Rounds alternate raw and wrapped, and which goes first
alternates too, so that a neighbour's burst of load or a thermal change hits both sides alike; the
ratio is the median of per-round ratios, and the req/s, p50 and p99 shown are medians over rounds.
The responses are checked once before timing (page tokens decode with ``jwt.decode`` and the app's
key, the five named ones are distinct and carry their names; with each token put back as the raw
app's stand-in, every page is byte-identical to the raw app's, so the user content was left exactly as
written; the JSON is byte-identical too), and a timed run that saw a non-2xx answer is refused.

On a small machine the server and wrk share the cores: the absolute figures are what the server
gets with wrk beside it, which is why only the ratio carries a target.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import re
import shutil
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import jwt

from . import servers
from .progress import Progress
from .report import Row, render
from .servers import Server, WrkResult
from .serving_app import (
    COMMENTS_PATH,
    JSON_PATH,
    PAGE5_PATH,
    PAGE_PATH,
    PLAIN_PATH,
    RESOURCE,
    ROUTES,
    SIGNING_KEY,
    TENANT,
    stand_in,
    write_stand_in,
)
from .serving_floor import HEADER as FLOOR_HEADER
from .serving_pairs import PAIRS, Pair, Scenario

_TOKEN = re.compile(rb"token=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class Settings:
    rounds: int
    seconds: int
    warmup_seconds: int


#: 8 pairs x 2 sides x 2 s warm-up + 16 rows x 6 rounds x 2 sides x 2 s = 416 s, plus start-ups
#: (a few seconds each, up to 15 s on a loaded machine): with the other groups, ``make bench`` stays
#: near ten minutes. An even number of rounds, so that each side goes first equally often.
FULL = Settings(rounds=6, seconds=2, warmup_seconds=2)
#: 8 x 2 x 1 s + 16 x 2 x 2 x 1 s = 80 s, plus start-ups.
QUICK = Settings(rounds=2, seconds=1, warmup_seconds=1)
#: The warm-up path: the five-placeholder page runs the most of the app's and the middleware's code.
WARMUP_PATH = PAGE5_PATH


def _check_page(server: Server, path: str, names: Sequence[str]) -> None:
    """The page at ``path`` is the raw app's with each slot holding a valid token for its own name."""
    expected = ROUTES[path].page.render(write_stand_in, None)
    status, headers, body = servers.fetch(server.url(path))
    tokens = _TOKEN.findall(body)
    if status != 200 or len(tokens) != len(names) or len(set(tokens)) != len(tokens):
        raise RuntimeError(f"{server.app}{path}: status {status}, {len(tokens)} distinct tokens")
    if names and "no-store" not in headers.get("cache-control", ""):
        raise RuntimeError(f"{server.app}{path}: a page with tokens must not be cached: {headers}")
    restored = body
    for token, name in zip(tokens, names, strict=True):
        claims = jwt.decode(token, SIGNING_KEY, algorithms=["HS256"])
        if claims.get("sub") != TENANT or claims.get("resource") != name:
            raise RuntimeError(f"{server.app}{path}: unexpected claims {claims} for {name!r}")
        restored = restored.replace(token, stand_in(name).encode())
    if restored != expected:
        raise RuntimeError(f"{server.app}{path}: the page differs from the app's beyond its tokens")


def verify_floor(raw: Server, minting: Server) -> None:
    """The mint-only side serves the raw app's pages with a valid fresh token in its header."""
    for server in (raw, minting):
        _check_page(server, PAGE_PATH, ())
    tokens = {servers.fetch(minting.url(PAGE_PATH))[1].get(FLOOR_HEADER.lower()) for _ in range(2)}
    for token in tokens:
        claims = jwt.decode(token or "", SIGNING_KEY, algorithms=["HS256"])
        if claims.get("sub") != TENANT or claims.get("resource") != RESOURCE:
            raise RuntimeError(f"{minting.app}: unexpected claims {claims}")
    if len(tokens) != 2:
        raise RuntimeError(f"{minting.app}: the token is not fresh per request")


def verify(raw: Server, wrapped: Server) -> None:
    """Refuses to time unless the wrapped server fills the app's placeholders, and only those (the
    comments' placeholder-like text comes back as written), and leaves the rest alone."""
    for path in (PAGE_PATH, PAGE5_PATH, PLAIN_PATH, COMMENTS_PATH):
        _check_page(raw, path, ())
    for path in (PAGE_PATH, PAGE5_PATH, PLAIN_PATH, COMMENTS_PATH):
        _check_page(wrapped, path, ROUTES[path].page.names)
    raw_json = servers.fetch(raw.url(JSON_PATH))
    wrapped_json = servers.fetch(wrapped.url(JSON_PATH))
    if raw_json[0] != 200 or wrapped_json[0] != 200 or raw_json[2] != wrapped_json[2]:
        raise RuntimeError(f"{wrapped.app}: the JSON is not byte-identical to the raw app's")
    unchanged = ("content-type", "content-length", "cache-control", "vary")
    if any(raw_json[1].get(name) != wrapped_json[1].get(name) for name in unchanged):
        raise RuntimeError(f"{wrapped.app}: the JSON's headers changed: {raw_json[1]} -> {wrapped_json[1]}")


@dataclass(frozen=True)
class Rounds:
    raw: tuple[WrkResult, ...]
    wrapped: tuple[WrkResult, ...]

    @property
    def ratio(self) -> float:
        """Median over rounds of wrapped/raw req/s (each round's two runs are back to back)."""
        return statistics.median(w.rps / r.rps for w, r in zip(self.wrapped, self.raw, strict=True))


def warm_up(raw: Server, wrapped: Server, settings: Settings) -> None:
    """Once per pair: a fresh server process runs slower for its first second or so (allocator growth,
    the interpreter specialising its bytecode, lazy imports), which no long-running server pays per
    request. Every path was fetched once by ``verify`` already, so one warm-up serves all scenarios."""
    for server in (raw, wrapped):
        servers.wrk(server, WARMUP_PATH, settings.warmup_seconds)


def measure(path: str, raw: Server, wrapped: Server, settings: Settings) -> Rounds:
    """``rounds`` runs per side, alternately first."""
    results: dict[Server, list[WrkResult]] = {raw: [], wrapped: []}
    for index in range(settings.rounds):
        for server in (raw, wrapped) if index % 2 == 0 else (wrapped, raw):
            results[server].append(servers.wrk(server, path, settings.seconds))
    return Rounds(tuple(results[raw]), tuple(results[wrapped]))


def _ms(microseconds: float) -> str:
    milliseconds = microseconds / 1000
    return f"{milliseconds:.2f} ms" if milliseconds < 1 else f"{milliseconds:.{int(milliseconds < 10)}f} ms"


def _median(results: Sequence[WrkResult], field: str) -> float:
    return statistics.median(float(getattr(result, field)) for result in results)


def _cell(results: Sequence[WrkResult]) -> str:
    rps = statistics.median(result.rps for result in results)
    return f"{rps:,.0f} req/s, p50 {_ms(_median(results, 'p50_us'))}, p99 {_ms(_median(results, 'p99_us'))}"


def _target(pair: Pair, scenario: Scenario) -> float | None:
    return scenario.target if pair.targeted else None


def row(pair: Pair, scenario: Scenario, rounds: Rounds) -> Row:
    ratio, target = rounds.ratio, _target(pair, scenario)
    return Row(
        benchmark=f"{pair.label}, {scenario.label}",
        ours=_cell(rounds.wrapped),
        floor=_cell(rounds.raw),
        ratio=f"{ratio:.2f}x",
        target="(info)" if target is None else f">= {target:.2f}x",
        met=None if target is None else ratio >= target,
    )


def skipped(pair: Pair, reason: str, *, failed: bool = False) -> list[Row]:
    """The pair's rows without figures; ``failed`` (a server or wrk broke) marks each targeted one
    missed, so that the exit status says so, where a missing tool leaves them unmarked."""
    rows = []
    for scenario in pair.scenarios:
        target = _target(pair, scenario)
        shown = "(info)" if target is None else f">= {target:.2f}x"
        met = False if failed and target is not None else None
        rows.append(Row(f"{pair.label}, {scenario.label}", reason, "-", "-", shown, met))
    return rows


def _serve(pair: Pair, settings: Settings, progress: Progress) -> list[Rounds]:
    """Both servers up, checked and warmed; each of the pair's scenarios measured."""
    apps = (pair.raw, pair.wrapped)
    progress.say(f"end-to-end {pair.label}: starting both servers")
    with servers.running(pair.server, apps, JSON_PATH, factory=pair.factory) as (raw, wrapped):
        with progress.step(f"end-to-end {pair.label}: check, warm up"):
            (verify_floor if pair.floor else verify)(raw, wrapped)
            warm_up(raw, wrapped, settings)
        measured = []
        for scenario in pair.scenarios:
            with progress.step(f"end-to-end {pair.label}, {scenario.label}") as step:
                measured.append(measure(scenario.path, raw, wrapped, settings))
                step.result = f"{measured[-1].ratio:.2f}x raw req/s"
    return measured


def _missing(pair: Pair) -> str | None:
    for module in pair.needs:
        if importlib.util.find_spec(module) is None:
            return f"skipped: {module} not installed (pip install {module})"
    return None


def _cpu_note(pair: Pair, all_rounds: Sequence[Rounds]) -> str:
    """Which side of the loopback the pair's runs were bound by, in cores busy (1.00 = one core)."""

    def cores(results: Sequence[WrkResult], field: str) -> str:
        values = [value for value in (getattr(result, field) for result in results) if value is not None]
        return f"{statistics.median(values):.2f}" if values else "?"

    raw = [result for rounds in all_rounds for result in rounds.raw]
    wrapped = [result for rounds in all_rounds for result in rounds.wrapped]
    return (
        f"end-to-end, {pair.label}: CPU cores busy, median over runs: server {cores(raw, 'server_cpu')} "
        f"raw / {cores(wrapped, 'server_cpu')} wrapped, wrk {cores(raw, 'wrk_cpu')} / "
        f"{cores(wrapped, 'wrk_cpu')}."
    )


def _version(distribution: str) -> str:
    try:
        return f"{distribution} {importlib.metadata.version(distribution)}"
    except importlib.metadata.PackageNotFoundError:
        return distribution


def run(*, quick: bool, progress: Progress | None = None) -> tuple[list[Row], list[str]]:
    """The end-to-end rows and the notes that say how they were measured."""
    settings = QUICK if quick else FULL
    progress = progress if progress is not None else Progress()
    if shutil.which("wrk") is None:
        no_wrk = "skipped: wrk not installed (apt-get install wrk)"
        return [row for pair in PAIRS for row in skipped(pair, no_wrk)], [f"end-to-end rows {no_wrk}."]
    rows: list[Row] = []
    notes: list[str] = []
    errors = 0
    for pair in PAIRS:
        reason = _missing(pair)
        if reason is not None:
            rows += skipped(pair, reason)
            notes.append(f"end-to-end, {pair.label}: {reason}.")
            continue
        try:
            measured = _serve(pair, settings, progress)
        except RuntimeError as error:  # a server that died or never answered: the other pairs still run
            rows += skipped(pair, "failed: see the notes", failed=True)
            notes.append(f"end-to-end, {pair.label}: failed: {error}")
            continue
        rows += [
            row(pair, scenario, rounds) for scenario, rounds in zip(pair.scenarios, measured, strict=True)
        ]
        errors += sum(r.socket_errors for rounds in measured for r in (*rounds.raw, *rounds.wrapped))
        notes.append(_cpu_note(pair, measured))
    http, loop = servers.uvicorn_implementations()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    notes[:0] = [
        f"end-to-end: {_version('uvicorn')} (--http {http} --loop {loop}); {_version('gunicorn')} "
        "(-w 1, sync worker, a connection per request); one worker per side, raw and wrapped "
        f"each in its own process on 127.0.0.1, both up at once; wrk {servers.WRK_THREADS} threads, "
        f"{servers.WRK_CONNECTIONS} connections, every request with "
        f"{': '.join(servers.TENANT_HEADER)!r} (both sides; the header resolver reads it); "
        f"{settings.rounds} rounds of {settings.seconds} s per side, interleaved, "
        f"after {settings.warmup_seconds} s of warm-up per server; ratio = median of "
        "per-round wrapped/raw req/s, req/s and p50/p99 (wrk's) medians over rounds; page tokens "
        "verified with jwt.decode, pages (tokens aside, user content included) and the JSON "
        "byte-identical to raw.",
        f"end-to-end: the servers and wrk share this machine's {cores} CPU cores, so req/s is what a "
        f"server gets with wrk running beside it{f'; {errors} socket errors' if errors else ''}.",
    ]
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="only the end-to-end rows of python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    arguments = parser.parse_args(argv)
    rows, notes = run(quick=arguments.quick)
    print(render(rows))
    print("\n" + "\n".join(notes))
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
