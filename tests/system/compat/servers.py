"""The servers of the matrix: how each starts an app on a free loopback port, and is stopped again.

Each server runs in its own process group (``start_new_session``), started and stopped by its pid.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

APPS = Path(__file__).resolve().parent / "apps"
ROOT = APPS.parents[3]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Server:
    name: str
    interface: str  # "wsgi" or "asgi"
    argv: Callable[[int, str], list[str]]
    #: The client the cell talks through: HTTP/1.1 on a raw socket, or HTTP/2 (prior knowledge).
    http2: bool = False


def _py(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def _gunicorn(port: int, target: str, *worker: str) -> list[str]:
    # No control socket: its default path is shared by every gunicorn on the machine.
    return _py("gunicorn", *worker, "-w", "1", "--no-control-socket", "-b", f"127.0.0.1:{port}", target)


SERVERS = [
    Server("gunicorn sync", "wsgi", lambda p, t: _gunicorn(p, t, "-k", "sync")),
    Server("gunicorn gthread", "wsgi", lambda p, t: _gunicorn(p, t, "-k", "gthread", "--threads", "4")),
    Server("waitress", "wsgi", lambda p, t: _py("waitress", f"--listen=127.0.0.1:{p}", "--threads=4", t)),
    Server(
        "granian WSGI",
        "wsgi",
        lambda p, t: _py(
            "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(p), "--workers", "1", t
        ),
    ),
    Server(
        "granian ASGI",
        "asgi",
        lambda p, t: _py(
            "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(p), "--workers", "1", t
        ),
    ),
    Server(
        "uvicorn h11",
        "asgi",
        lambda p, t: _py("uvicorn", "--http", "h11", "--port", str(p), "--no-access-log", t),
    ),
    Server(
        "uvicorn httptools",
        "asgi",
        lambda p, t: _py("uvicorn", "--http", "httptools", "--port", str(p), "--no-access-log", t),
    ),
    Server("hypercorn HTTP/1.1", "asgi", lambda p, t: _py("hypercorn", "-b", f"127.0.0.1:{p}", t)),
    Server("hypercorn HTTP/2", "asgi", lambda p, t: _py("hypercorn", "-b", f"127.0.0.1:{p}", t), http2=True),
    Server("daphne", "asgi", lambda p, t: _py("daphne", "-b", "127.0.0.1", "-p", str(p), t)),
]


@dataclass
class Running:
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    output: Path


@contextmanager
def serving(server: Server, target: str, workdir: Path) -> Iterator[Running]:
    """``target`` (``module:app`` under tests/system/compat/apps) under ``server``, until the block ends."""
    port = free_port()
    log, output = workdir / "embed.log", workdir / "server.out"
    log.write_text("")
    # COMPAT_LIBRARY: a directory holding another embed_middleware to run the matrix against (a
    # release, or main before a fix, to see which cells a change mends).
    paths = [os.environ.get("COMPAT_LIBRARY", ""), str(APPS), str(ROOT)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "COMPAT_LOG": str(log)}
    with output.open("wb") as out:
        process = subprocess.Popen(
            server.argv(port, target),
            cwd=APPS,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(port, process, output)
        yield Running(port, process, log, output)
    finally:
        _stop(process)


def _wait_until_up(port: int, process: subprocess.Popen[bytes], output: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n{output.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not listen within {timeout} s:\n{output.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
