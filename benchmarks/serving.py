"""End-to-end rows: requests per second through a real uvicorn, wrapped app against the raw app.

Both apps (``benchmarks.serving_app:raw`` and ``:wrapped``) run at once, each in its own
``python -m uvicorn`` subprocess with one worker on 127.0.0.1, the same HTTP and event-loop
implementations for both (httptools and uvloop when installed). ``wrk`` drives them over keep-alive
connections; a small Lua script (``wrk_report.lua``) prints its figures as one JSON line.

Rounds alternate raw and wrapped, and which goes first alternates too, so that a neighbour's burst of
load or a thermal change hits both sides alike; the ratio is the median of per-round ratios. The
responses are checked once before timing (the page carries a token ``jwt.decode`` accepts, the JSON
is byte-identical to the raw app's), and a timed run that saw a non-2xx answer is refused.

On a small machine the server and wrk share the cores: the absolute req/s are what the server gets
with wrk beside it, which is why only the ratio carries a target.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import jwt

from .report import Row, render
from .serving_app import JSON_PATH, PAGE, PAGE_PATH, PLACEHOLDER, SIGNING_KEY, TENANT

ROOT = Path(__file__).resolve().parent.parent
LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"
WRK_THREADS = 2
WRK_CONNECTIONS = 32
SKIPPED_NO_WRK = "skipped: wrk not installed (apt-get install wrk)"
SKIPPED_NO_UVICORN = "skipped: uvicorn not installed (pip install uvicorn)"
#: Seconds a server may take to answer its first request, and to exit once asked to.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
_TOKEN = re.compile(rb"token=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    path: str
    target: float
    #: The servers compared: the floor first, then the wrapped app.
    sides: tuple[str, str] = ("raw", "wrapped")


FASTAPI = ("fastapi_raw", "fastapi_wrapped")

SCENARIOS = (
    Scenario("page", "e2e 2 KB HTML page, 1 placeholder", PAGE_PATH, 0.85),
    Scenario("json", "e2e JSON passed through", JSON_PATH, 0.97),
    Scenario("fastapi-page", "e2e FastAPI HTML page, 1 placeholder", PAGE_PATH, 0.85, FASTAPI),
    Scenario("fastapi-json", "e2e FastAPI JSON passed through", JSON_PATH, 0.97, FASTAPI),
)


@dataclass(frozen=True)
class Settings:
    rounds: int
    seconds: int
    warmup_seconds: int


FULL = Settings(rounds=4, seconds=5, warmup_seconds=2)
QUICK = Settings(rounds=2, seconds=2, warmup_seconds=1)


@dataclass(frozen=True)
class WrkResult:
    """One wrk run, as ``wrk_report.lua`` prints it (times in microseconds)."""

    requests: int
    duration_us: int
    socket_errors: int
    status_errors: int
    p50_us: float
    p99_us: float

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6)

    @classmethod
    def parse(cls, output: str) -> WrkResult:
        for line in output.splitlines():
            if line.startswith("WRK_RESULT "):
                data = json.loads(line.removeprefix("WRK_RESULT "))
                return cls(
                    requests=int(data["requests"]),
                    duration_us=int(data["duration_us"]),
                    socket_errors=sum(int(data[k]) for k in ("connect", "read", "write", "timeout")),
                    status_errors=int(data["status"]),
                    p50_us=float(data["p50_us"]),
                    p99_us=float(data["p99_us"]),
                )
        raise RuntimeError(f"wrk printed no WRK_RESULT line:\n{output}")


def implementations() -> tuple[str, str]:
    """uvicorn's ``--http`` and ``--loop`` choices: the fast ones when installed, for both sides."""
    http = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    return http, loop


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _fetch(url: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        headers = {k.lower(): v for k, v in response.getheaders()}
        return int(response.status), headers, response.read()


class Server:
    """One ``python -m uvicorn`` subprocess on loopback; always stopped by ``stop`` (idempotent)."""

    def __init__(self, app: str, log_path: Path) -> None:
        self.app = app
        self.port = _free_port()
        self._log_path = log_path
        http, loop = implementations()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            f"benchmarks.serving_app:{app}",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http",
            http,
            "--loop",
            loop,
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        with open(log_path, "wb") as log:  # the child keeps its own descriptor
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self) -> None:
        """Polls until the server answers (bounded by ``START_TIMEOUT``); raises with its log if it died."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                break
            try:
                _fetch(self.url(JSON_PATH), timeout=1.0)
            except OSError:
                time.sleep(0.05)
            else:
                return
        self.stop()
        output = self._log_path.read_text(errors="replace")
        raise RuntimeError(f"uvicorn ({self.app}) did not start on port {self.port}:\n{output}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def servers() -> Iterator[dict[str, Server]]:
    """The raw and the wrapped server, both ready; both killed on the way out, whatever happens."""
    started: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="embed-bench-") as logs:
        try:
            for app in ("raw", "wrapped", *FASTAPI):
                started.append(Server(app, Path(logs) / f"{app}.log"))
            for server in started:
                server.wait_ready()
            yield {server.app: server for server in started}
        finally:
            for server in started:
                server.stop()


def verify(raw: Server, wrapped: Server) -> None:
    """Refuses to time unless the wrapped server rewrites the page and leaves the JSON alone."""
    status, headers, page = _fetch(wrapped.url(PAGE_PATH))
    found = _TOKEN.search(page)
    if status != 200 or PLACEHOLDER in page or found is None:
        raise RuntimeError(f"the wrapped page has no token (status {status})")
    claims = jwt.decode(found.group(1), SIGNING_KEY, algorithms=["HS256"])
    if claims.get("sub") != TENANT or "no-store" not in headers.get("cache-control", ""):
        raise RuntimeError(f"unexpected token claims or cache headers: {claims}, {headers}")
    if page.replace(found.group(1), PLACEHOLDER) != PAGE:
        raise RuntimeError("the wrapped page differs from the raw page beyond its token")
    raw_status, _, raw_page = _fetch(raw.url(PAGE_PATH))
    if raw_status != 200 or raw_page != PAGE:
        raise RuntimeError("the raw page is not the app's page")
    raw_json = _fetch(raw.url(JSON_PATH))
    wrapped_json = _fetch(wrapped.url(JSON_PATH))
    if raw_json[0] != 200 or wrapped_json[0] != 200 or raw_json[2] != wrapped_json[2]:
        raise RuntimeError("the wrapped JSON is not byte-identical to the raw JSON")
    unchanged = ("content-type", "content-length", "cache-control", "vary")
    if any(raw_json[1].get(name) != wrapped_json[1].get(name) for name in unchanged):
        raise RuntimeError(f"the JSON's headers changed: {raw_json[1]} -> {wrapped_json[1]}")


def wrk(url: str, seconds: int) -> WrkResult:
    """One bounded wrk run (killed if it overruns by 30 s); a non-2xx answer is an error."""
    command = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{WRK_CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = WrkResult.parse(done.stdout)
    if result.status_errors or result.requests == 0:
        raise RuntimeError(f"wrk saw {result.status_errors} non-2xx answers at {url}: {result}")
    return result


@dataclass(frozen=True)
class Rounds:
    raw: tuple[WrkResult, ...]
    wrapped: tuple[WrkResult, ...]

    @property
    def ratio(self) -> float:
        """Median over rounds of wrapped/raw req/s (each round's two runs are back to back)."""
        return statistics.median(w.rps / r.rps for w, r in zip(self.wrapped, self.raw, strict=True))

    @property
    def socket_errors(self) -> int:
        return sum(result.socket_errors for result in (*self.raw, *self.wrapped))


def measure(scenario: Scenario, pair: dict[str, Server], settings: Settings) -> Rounds:
    """Warm-up, then ``rounds`` runs per side, alternately first."""
    floor, ours = scenario.sides
    for side in scenario.sides:
        wrk(pair[side].url(scenario.path), settings.warmup_seconds)
    results: dict[str, list[WrkResult]] = {floor: [], ours: []}
    for index in range(settings.rounds):
        for side in (floor, ours) if index % 2 == 0 else (ours, floor):
            results[side].append(wrk(pair[side].url(scenario.path), settings.seconds))
    return Rounds(tuple(results[floor]), tuple(results[ours]))


def _median(results: Sequence[WrkResult], field: str) -> float:
    return statistics.median(float(getattr(result, field)) for result in results)


def rows_for(scenario: Scenario, rounds: Rounds) -> list[Row]:
    ratio = rounds.ratio
    raw_p50, raw_p99 = _median(rounds.raw, "p50_us"), _median(rounds.raw, "p99_us")
    ours_p50, ours_p99 = _median(rounds.wrapped, "p50_us"), _median(rounds.wrapped, "p99_us")
    return [
        Row(
            benchmark=f"{scenario.label} (req/s)",
            ours=f"{statistics.median(r.rps for r in rounds.wrapped):,.0f} req/s",
            floor=f"{statistics.median(r.rps for r in rounds.raw):,.0f} req/s",
            ratio=f"{ratio:.2f}x",
            target=f">= {scenario.target:.2f}x",
            met=ratio >= scenario.target,
        ),
        Row(
            benchmark=f"{scenario.label} (latency p50 / p99)",
            ours=f"{ours_p50 / 1000:.2f} / {ours_p99 / 1000:.2f} ms",
            floor=f"{raw_p50 / 1000:.2f} / {raw_p99 / 1000:.2f} ms",
            ratio=f"{ours_p50 / raw_p50:.2f}x / {ours_p99 / raw_p99:.2f}x",
            target="info",
            met=None,
        ),
    ]


def skipped(reason: str) -> list[Row]:
    return [Row(f"{s.label} (req/s)", reason, "-", "-", f">= {s.target:.2f}x", None) for s in SCENARIOS]


def run(*, quick: bool) -> tuple[list[Row], list[str]]:
    """The end-to-end rows and the notes that say how they were measured."""
    if shutil.which("wrk") is None:
        return skipped(SKIPPED_NO_WRK), [f"end-to-end rows {SKIPPED_NO_WRK}."]
    if importlib.util.find_spec("uvicorn") is None:
        return skipped(SKIPPED_NO_UVICORN), [f"end-to-end rows {SKIPPED_NO_UVICORN}."]
    settings = QUICK if quick else FULL
    rows: list[Row] = []
    errors = 0
    with servers() as pair:
        verify(pair["raw"], pair["wrapped"])
        verify(pair["fastapi_raw"], pair["fastapi_wrapped"])
        for scenario in SCENARIOS:
            rounds = measure(scenario, pair, settings)
            rows += rows_for(scenario, rounds)
            errors += rounds.socket_errors
    http, loop = implementations()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    notes = [
        f"end-to-end: uvicorn {importlib.metadata.version('uvicorn')} (--http {http} --loop {loop}), "
        "one worker per side, raw and wrapped each in its own process on 127.0.0.1; "
        f"wrk {WRK_THREADS} threads, {WRK_CONNECTIONS} connections; {settings.rounds} rounds of "
        f"{settings.seconds} s per side after {settings.warmup_seconds} s of warm-up, interleaved; "
        "ratio = median of per-round wrapped/raw req/s; page token verified with jwt.decode, "
        "JSON byte-identical to raw.",
        f"end-to-end: the server and wrk share this machine's {cores} CPU cores, so req/s is what "
        f"uvicorn gets with wrk running beside it{f'; {errors} socket errors' if errors else ''}.",
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
