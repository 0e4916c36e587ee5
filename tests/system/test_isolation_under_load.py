"""No token reaches the wrong tenant under load, through real servers on loopback (issue 5, item 1).

gunicorn (``-k gthread --threads 8 -w 2``) serves ``tests.support.load_apps.make_wsgi_app`` and uvicorn
(``--workers 2``) serves ``load_apps.make_asgi_app``. 64 client threads, each with its own keep-alive
``http.client`` connection, send ``REQUESTS`` requests over 50 tenants through every delivery path:
whole pages with several named placeholders, pages streamed in 50 chunks cut inside placeholders,
the ``X-Embed-Token`` header and the token endpoint. Every token is decoded with the key and checked
against the request that asked: its tenant (``sub``, ``org``), its resource and its request id
(``rid``); every body must be exactly the app's page with its placeholders replaced, and the
placeholder-like text other users wrote into it (``load_apps.ATTACKER_TEXT``) exactly as written, with
no token: a token there would reach the attacker's server.

With reuse on (``LOAD_REUSE_WINDOW``, a window of ``REUSE_WINDOW`` seconds, so a run spans several),
tokens carry no ``rid`` and are matched to their tenant by ``sub``, ``org`` and ``tid``; every
(tenant, resource, window) must have received exactly one token, across both worker processes (HS256
is deterministic), and consecutive windows different ones.

A *leak* is a token or body meant for another tenant or another request; a *mismatch* is any other
wrong answer (a missing token, a wrong resource, a missing ``no-store``); an *error* is a non-2xx
answer or a connection error. All three must be 0. The figures are printed (``pytest -s``) and
written to ``build/isolation-figures.json``.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.metadata
import importlib.util
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.support import load_apps
from tests.support.load_apps import Part, Slot

ROOT = Path(__file__).resolve().parents[2]
FIGURES_PATH = ROOT / "build" / "isolation-figures.json"
REQUESTS = 20_000
#: With reuse on, windows this short, so one run spans several.
REUSE_WINDOW = 2
CONNECTIONS = 64
#: The whole run against one server must finish within this many seconds.
RUN_LIMIT = 120.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 20.0
PATHS = {"page": "/page", "stream": "/stream", "header": "/api/me", "endpoint": load_apps.TOKEN_ENDPOINT}
WEIGHTS = (30, 20, 25, 25)
TOKEN = re.compile(rb"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
#: What an app body echoes of its request: a tenant id, a request id.
ECHOED = re.compile(rb"tenant-[0-9]{2}|[a-z]+-[0-9]{2}-[0-9]{5}")


def _stat(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat after the command name: ``[1]`` is the parent, ``[19]`` the start time."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return None


def _descendants(root: int) -> dict[int, str]:
    """``root``'s descendants and their start times (so that a reused pid is never taken for one)."""
    stats = {int(e): s for e in os.listdir("/proc") if e.isdigit() and (s := _stat(e)) is not None}
    tree, pending = {}, [root]
    while pending:
        current = pending.pop()
        children = [pid for pid, fields in stats.items() if int(fields[1]) == current]
        tree.update({pid: stats[pid][19] for pid in children})
        pending += children
    return tree


def _alive(pid: int, started: str) -> bool:
    """Whether that very process (not a later one given its pid) still runs; a zombie does not."""
    fields = _stat(pid)
    return fields is not None and fields[19] == started and fields[0] != "Z"


@contextlib.contextmanager
def running_server(name: str, env: dict[str, str], log_path: Path) -> Iterator[int]:
    """The server answering on a free loopback port; on the way out it and every process it started
    are ended (a process left behind after the server exited is killed by pid, and reported)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = load_apps.server_command(name, port)
    with open(log_path, "wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    workers: dict[int, str] = {}
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and not workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer within {START_TIMEOUT:.0f} s")
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    workers = _descendants(process.pid)
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)
            finally:
                connection.close()
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{log_path.read_text(errors='replace')}")
        yield port
    finally:
        workers.update(_descendants(process.pid))
        if process.poll() is None:
            process.send_signal(load_apps.SERVERS[name][2])
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        # Workers (and multiprocessing's resource tracker) may still be on their way out: wait a little.
        grace = time.monotonic() + STOP_TIMEOUT
        while (stray := [pid for pid, started in workers.items() if _alive(pid, started)]) and (
            time.monotonic() < grace
        ):
            time.sleep(0.05)
        for pid in stray:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert not stray, f"{name} left processes {stray} running after it exited (killed now)"


@dataclass(frozen=True)
class Ask:
    """One planned request: which tenant asks (naming itself by header or cookie), and what for."""

    kind: str
    tenant: str
    rid: str
    path: str
    headers: dict[str, str] = field(repr=False)
    resource: str | None = None


def plan(thread: int, count: int, seed: int, cookie_secret: str) -> list[Ask]:
    rng = random.Random(seed * 1000 + thread)
    asks = []
    for number in range(count):
        tenant, rid = rng.choice(load_apps.TENANT_IDS), f"load-{thread:02d}-{number:05d}"
        kind = rng.choices(list(PATHS), WEIGHTS)[0]
        names = [r for r in (*load_apps.RESOURCES, None) if load_apps.allowed(tenant, r)]
        resource = rng.choice(names) if kind == "endpoint" else None
        headers = {"X-Request-Id": rid, load_apps.TENANT_HEADER: load_apps.tenant_key(tenant)}
        if rng.random() < 0.5:
            del headers[load_apps.TENANT_HEADER]
            headers["Cookie"] = f"{load_apps.COOKIE}={load_apps.sign_cookie(tenant, cookie_secret)}"
        path = PATHS[kind] + (f"?resource={resource}" if resource else "")
        asks.append(Ask(kind, tenant, rid, path, headers, resource))
    return asks


class Wrong(Exception):
    """A wrong answer."""


class Leak(Wrong):
    """A wrong answer that carries another tenant's or another request's token."""


@dataclass
class Tally:
    """One client thread's figures: requests, tokens, leaks, mismatches, errors, path:<kind>."""

    counts: Counter[str] = field(default_factory=Counter)
    workers: set[str] = field(default_factory=set)
    jtis: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    #: Reuse on: (tenant, resource, iat, token) of every token seen.
    reuse: bool = False
    seen: list[tuple[str, str | None, int, str]] = field(default_factory=list)

    def wrong(self, what: str, detail: str) -> None:
        self.counts[what] += 1
        if len(self.samples) < 10:
            self.samples.append(detail)

    def merge(self, other: Tally) -> None:
        self.counts.update(other.counts)
        self.workers |= other.workers
        self.jtis += other.jtis
        self.samples += other.samples[: max(0, 10 - len(self.samples))]
        self.seen += other.seen


def check_token(token: str, ask: Ask, resource: str | None, key: str, tally: Tally) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(token, key, algorithms=["HS256"])
    except jwt.InvalidTokenError as error:
        raise Wrong(f"a token that does not verify: {error}") from None
    if claims.get("sub") != ask.tenant or claims.get("org") != load_apps.org_of(ask.tenant):
        raise Leak(f"a token for {claims.get('sub')!r}/{claims.get('org')!r}")
    if claims.get("tid") != ask.tenant:
        raise Leak(f"a token for tid {claims.get('tid')!r}")
    if claims.get("rid") != (None if tally.reuse else ask.rid):
        raise Leak(f"a token minted for request {claims.get('rid')!r}")
    if claims.get("resource") != resource:
        raise Wrong(f"a token for resource {claims.get('resource')!r}, not {resource!r}")
    tally.counts["tokens"] += 1
    tally.jtis.append(claims["jti"])
    if tally.reuse:
        tally.seen.append((ask.tenant, resource, claims["iat"], token))
    return claims


def check_page(body: bytes, parts: list[Part], ask: Ask, key: str, tally: Tally) -> None:
    """The body is the app's page exactly, each allowed placeholder replaced by its token."""
    position, seen = 0, dict[str | None, str]()
    for part in parts:
        if isinstance(part, Slot):
            if not load_apps.allowed(ask.tenant, part.resource):
                continue  # the tenant may not embed it: the placeholder is removed
            match = TOKEN.match(body, position)
            if match is None:
                raise Wrong(f"no token at byte {position} for {part.resource!r}")
            if seen.setdefault(part.resource, match.group().decode()) != match.group().decode():
                raise Wrong(f"two tokens for {part.resource!r} in one response")
            position = match.end()
        elif body.startswith(part, position):
            position += len(part)
            if load_apps.ATTACKER_HOST in part:
                tally.counts["attacker_texts"] += 1
        else:
            if load_apps.ATTACKER_HOST in part and TOKEN.search(body, position, position + len(part) + 1024):
                tally.counts["tokens_at_attacker"] += 1
                raise Leak(f"a token inside user-written text at byte {position}")
            raise Wrong(f"the body differs at byte {position}: {body[position : position + 60]!r}")
    if position != len(body):
        raise Wrong(f"{len(body) - position} unexpected bytes at the end")
    for resource, token in seen.items():
        check_token(token, ask, resource, key, tally)


def check(ask: Ask, response: http.client.HTTPResponse, body: bytes, key: str, tally: Tally) -> None:
    tally.workers.add(response.getheader("X-Served-By", "the middleware"))
    if response.getheader("Cache-Control") != "private, no-store":
        raise Wrong(f"Cache-Control {response.getheader('Cache-Control')!r} on a response with a token")
    if ask.kind in ("page", "stream"):
        make = load_apps.page_parts if ask.kind == "page" else load_apps.stream_parts
        check_page(body, make(ask.tenant, ask.rid), ask, key, tally)
    elif ask.kind == "header":
        if body != load_apps.me_body(ask.tenant, ask.rid):
            raise Wrong(f"the JSON differs: {body[:80]!r}")
        check_token(response.getheader("X-Embed-Token", ""), ask, load_apps.HEADER_RESOURCE, key, tally)
    else:
        payload = json.loads(body)
        if check_token(payload["token"], ask, ask.resource, key, tally)["exp"] != payload["expires_at"]:
            raise Wrong("expires_at is not the token's exp")


def foreign(body: bytes, ask: Ask, key: str, reuse: bool = False) -> bool:
    """Whether a wrong body echoes another tenant or request, or carries a token minted for one."""
    if any(echoed.decode() not in (ask.tenant, ask.rid) for echoed in ECHOED.findall(body)):
        return True
    for token in TOKEN.findall(body):
        with contextlib.suppress(jwt.InvalidTokenError):
            claims = jwt.decode(token, key, algorithms=["HS256"])
            if (claims.get("sub"), claims.get("rid")) != (ask.tenant, None if reuse else ask.rid):
                return True
    return False


def drive(port: int, asks: list[Ask], key: str, deadline: float, tally: Tally) -> None:
    """One client thread: its own keep-alive connection, reopened only after a connection error."""
    connection: http.client.HTTPConnection | None = None
    previous = "none"  # the request before on this connection, for a connection error's report
    try:
        for ask in asks:
            if time.monotonic() > deadline:
                break
            tally.counts.update(("requests", f"path:{ask.kind}"))
            connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
            try:
                connection.request("GET", ask.path, headers=ask.headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as error:
                tally.wrong("errors", f"{ask} (the one before: {previous}): {error!r}")
                connection.close()
                connection = None
                continue
            previous = ask.kind
            if not 200 <= response.status < 300:
                tally.wrong("errors", f"{ask}: status {response.status} {body[:80]!r}")
                continue
            try:
                check(ask, response, body, key, tally)
            except (Wrong, ValueError, KeyError, TypeError) as wrong:
                leak = isinstance(wrong, Leak) or foreign(body, ask, key, tally.reuse)
                tally.wrong(
                    "leaks" if leak else "mismatches", f"{'LEAK' if leak else 'wrong'} {ask}: {wrong}"
                )
    finally:
        if connection is not None:
            connection.close()


def run_load(port: int, key: str, cookie_secret: str, *, reuse: bool = False) -> tuple[Tally, float]:
    seed, per_thread = secrets.randbelow(10**6), -(-REQUESTS // CONNECTIONS)
    tallies = [Tally(reuse=reuse) for _ in range(CONNECTIONS)]
    started = time.monotonic()
    deadline = started + RUN_LIMIT
    threads = [
        threading.Thread(
            target=drive, args=(port, plan(i, per_thread, seed, cookie_secret), key, deadline, tallies[i])
        )
        for i in range(CONNECTIONS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline + REQUEST_TIMEOUT - time.monotonic()))
    elapsed = time.monotonic() - started
    assert not any(t.is_alive() for t in threads), f"client threads still running after {elapsed:.0f} s"
    total = Tally(reuse=reuse)
    for tally in tallies:
        total.merge(tally)
    return total, elapsed


def reuse_figures(tally: Tally) -> dict[str, int]:
    """How tokens repeated: per (tenant, resource, window) the distinct tokens (must be 1), and how
    many (tenant, resource) pairs got a different token in a later window (must be all that spanned two)."""
    by_slot: dict[tuple[str, str | None, int], set[str]] = {}
    for tenant, resource, iat, token in tally.seen:
        by_slot.setdefault((tenant, resource, iat), set()).add(token)
    windows: dict[tuple[str, str | None], set[int]] = {}
    tokens: dict[tuple[str, str | None], set[str]] = {}
    for (tenant, resource, iat), found in by_slot.items():
        windows.setdefault((tenant, resource), set()).add(iat)
        tokens.setdefault((tenant, resource), set()).update(found)
    spanning = [pair for pair, seen in windows.items() if len(seen) > 1]
    return {
        "reuse_window": REUSE_WINDOW,
        "windows_seen": len({iat for _, _, iat in by_slot}),
        "slots": len(by_slot),
        "slots_with_several_tokens": sum(len(found) > 1 for found in by_slot.values()),
        "tokens_per_distinct_token": round(len(tally.seen) / max(1, len({t[3] for t in tally.seen}))),
        "pairs_spanning_windows": len(spanning),
        "pairs_whose_token_changed": sum(len(tokens[pair]) == len(windows[pair]) for pair in spanning),
        "misaligned_iats": sum(iat % REUSE_WINDOW != 0 for _, _, iat in by_slot),
    }


def record(name: str, tally: Tally, elapsed: float) -> dict[str, Any]:
    """Prints the run's figures and puts them in ``build/isolation-figures.json`` beside the other
    server's (from this run or an earlier one: each says when it finished)."""
    counts = tally.counts
    module, arguments, _ = load_apps.SERVERS[name.split("+")[0]]
    figures = {
        "server": f"{module} {importlib.metadata.version(module)}: {arguments.format(port='<port>')}",
        "requests": counts["requests"],
        "tenants": len(load_apps.TENANT_IDS),
        "connections": CONNECTIONS,
        "by_path": {k.removeprefix("path:"): v for k, v in sorted(counts.items()) if k.startswith("path:")},
        "tokens_checked": counts["tokens"],
        "attacker_texts_checked": counts["attacker_texts"],
        "tokens_at_attacker": counts["tokens_at_attacker"],
        "leaks": counts["leaks"],
        "leak_rate": counts["leaks"] / max(counts["requests"], 1),
        "duplicate_jtis": len(tally.jtis) - len(set(tally.jtis)),
        **(reuse_figures(tally) if tally.reuse else {}),
        "mismatches": counts["mismatches"],
        "errors": counts["errors"],
        "worker_processes_seen": len(tally.workers - {"the middleware"}),
        "seconds": round(elapsed, 2),
        "requests_per_second": round(counts["requests"] / elapsed, 1),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        adapters = json.loads(FIGURES_PATH.read_text())["adapters"]
    except (OSError, ValueError, KeyError):
        adapters = {}
    FIGURES_PATH.parent.mkdir(exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    text = json.dumps({**machine, "adapters": {**adapters, name: figures}}, indent=2, sort_keys=True)
    FIGURES_PATH.write_text(text + "\n")
    print(f"\n[{name}] leaks {figures['leaks']}/{figures['requests']}, " + json.dumps(figures))
    return figures


@pytest.mark.parametrize("reuse", [False, True], ids=["fresh", "reuse"])
@pytest.mark.parametrize("name", sorted(load_apps.SERVERS))
def test_no_token_reaches_the_wrong_tenant_under_load(name: str, reuse: bool, tmp_path: Path) -> None:
    module = load_apps.SERVERS[name][0]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[test]' installs it)")
    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc to find the server's worker processes")
    env = dict(os.environ, EMBED_SIGNING_KEY=secrets.token_urlsafe(48))
    env["LOAD_COOKIE_SECRET"] = secrets.token_urlsafe(32)
    env.pop("LOAD_REUSE_WINDOW", None)
    if reuse:
        env["LOAD_REUSE_WINDOW"] = str(REUSE_WINDOW)
    paths = (str(ROOT), env.get("PYTHONPATH"))  # the servers import tests.support.load_apps
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    log = tmp_path / "server.log"
    with running_server(name, env, log) as port:
        tally, elapsed = run_load(port, env["EMBED_SIGNING_KEY"], env["LOAD_COOKIE_SECRET"], reuse=reuse)
    figures = record(name + ("+reuse" if reuse else ""), tally, elapsed)
    samples = (
        "\n".join(tally.samples) + "\nthe server's log ends:\n" + log.read_text(errors="replace")[-3000:]
    )
    assert figures["attacker_texts_checked"] > 0 and figures["tokens_at_attacker"] == 0
    assert figures["leaks"] == 0, f"{figures['leaks']} requests got another's token or page:\n{samples}"
    if reuse:
        assert figures["slots_with_several_tokens"] == 0, "two tokens for one tenant, resource and window"
        assert figures["misaligned_iats"] == 0
        assert figures["windows_seen"] >= 2 and figures["pairs_spanning_windows"] > 0
        assert figures["pairs_whose_token_changed"] == figures["pairs_spanning_windows"]
        assert figures["tokens_per_distinct_token"] > 1, "reuse on, yet no token repeated"
    else:
        assert figures["duplicate_jtis"] == 0, "one token was delivered to two requests"
    assert figures["errors"] == 0 and figures["mismatches"] == 0, f"wrong answers:\n{samples}"
    assert figures["requests"] >= REQUESTS, f"only {figures['requests']} requests within {RUN_LIMIT:.0f} s"
    assert figures["worker_processes_seen"] >= 2, f"only worker processes {tally.workers} answered"
