"""Fleet-identical tokens (issue 15, item 2) through real servers: ``gunicorn -w 4`` and a second,
separate gunicorn, sharing nothing but the key (and, for ES256, a real Redis).

HS256, RS256 and EdDSA sign deterministically, so every process mints the byte-identical token for a
tenant, resource and window. ES256 does not: its processes agree only through ``RedisTokenCache``.
Tokens are grouped by ``iat`` so a run that crosses a window boundary is judged per window.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.support.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 40


def _pem(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def key_file(algorithm: str, directory: Path) -> Path:
    path = directory / f"{algorithm}.key"
    if algorithm == "HS256":
        path.write_text(secrets.token_urlsafe(48))
    else:
        make = {
            "RS256": lambda: rsa.generate_private_key(65537, 2048),
            "EdDSA": ed25519.Ed25519PrivateKey.generate,
            "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
        }[algorithm]
        path.write_bytes(_pem(make()))
    return path


@contextlib.contextmanager
def gunicorn(workers: int, env: dict[str, str], log: Path) -> Iterator[int]:
    """A gunicorn serving tests.support.fleet_reuse_app on a free port; stopped (and waited for) after."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "--bind", f"127.0.0.1:{port}"]
    command += ["--log-level", "warning", "tests.support.fleet_reuse_app:make_app()"]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text(errors='replace')}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                ask(port)
                break
            time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def ask(port: int, tenant: str = "acme") -> tuple[str, str]:
    """One request on its own connection (so the kernel spreads them over the workers)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", f"/token?tenant={tenant}&resource=sales", headers={"Connection": "close"})
        pid, token = connection.getresponse().read().decode().split(" ")
        return pid, token
    finally:
        connection.close()


def tokens_by_window(answers: list[tuple[str, str]]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for _, token in answers:
        found.setdefault(jwt.decode(token, options={"verify_signature": False})["iat"], set()).add(token)
    return found


def run_fleet(
    algorithm: str, tmp_path: Path, redis_url: str | None = None
) -> tuple[dict[int, set[str]], set[str]]:
    env = dict(os.environ, FLEET_ALGORITHM=algorithm, FLEET_KEY_FILE=str(key_file(algorithm, tmp_path)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["FLEET_PREFIX"] = f"test:{secrets.token_hex(4)}:"
    env.pop("FLEET_REDIS_URL", None)
    if redis_url:
        env["FLEET_REDIS_URL"] = redis_url
    log = tmp_path / "gunicorn.log"
    answers: list[tuple[str, str]] = []
    with gunicorn(4, env, log) as fleet, gunicorn(1, env, log) as other:
        for index in range(REQUESTS):
            answers.append(ask(fleet if index % 4 else other))
            answers.append(ask(fleet, tenant="globex"))
        # The kernel may hand one-at-a-time connections to the same worker every time: overlapping
        # requests keep workers busy so others take connections, until several processes have answered.
        deadline = time.monotonic() + 30
        with ThreadPoolExecutor(8) as pool:
            while len({pid for pid, _ in answers}) < 3 and time.monotonic() < deadline:
                pairs = pool.map(lambda _: (ask(fleet), ask(fleet, tenant="globex")), range(16))
                answers.extend(answer for pair in pairs for answer in pair)
    acme = [answer for index, answer in enumerate(answers) if index % 2 == 0]
    globex = [answer for index, answer in enumerate(answers) if index % 2 == 1]
    acme_tokens, globex_tokens = ({token for _, token in group} for group in (acme, globex))
    assert not acme_tokens & globex_tokens, "one token served to two tenants"
    return tokens_by_window(acme), {pid for pid, _ in answers}


@pytest.mark.parametrize("algorithm", ["HS256", "RS256", "EdDSA"])
def test_deterministic_algorithms_are_byte_identical_across_processes(algorithm: str, tmp_path: Path) -> None:
    windows, pids = run_fleet(algorithm, tmp_path)
    assert len(pids) >= 3, f"only processes {pids} answered"
    assert all(len(tokens) == 1 for tokens in windows.values()), windows


@pytest.mark.redis
def test_es256_is_identical_across_processes_only_through_redis(tmp_path: Path) -> None:
    pytest.importorskip("redis")
    from tests.support.redis_server import REDIS_SERVER, SKIP_REASON

    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    alone, pids = run_fleet("ES256", tmp_path)
    assert len(pids) >= 3 and any(len(tokens) > 1 for tokens in alone.values()), "ES256 looked deterministic"
    with RedisServer() as redis:
        windows, pids = run_fleet("ES256", tmp_path, redis.url)
    assert len(pids) >= 3, f"only processes {pids} answered"
    assert all(len(tokens) == 1 for tokens in windows.values()), windows
