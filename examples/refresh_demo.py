"""``python -m examples.refresh_demo``: the FastAPI host app and the dashboard server, under uvicorn.

The FastAPI counterpart of ``examples.demo``: the page fetches its chart data as JSON with a token
from the embed middleware, and refreshes that token before it expires. Run it with ``--ttl 20`` to
watch a token being replaced every 15 seconds while the chart keeps polling every 5.

``start_refresh_demo`` is the same start-up on any ports (0 picks free ones) with a ``stop`` to
call, which the tests use. Both listening sockets are bound before either app is built, so the
dashboard server can allow exactly the host app's origin and the host app knows the dashboard's URL.

uvicorn's access log prints every request line, query string included, and the dashboard's URLs
carry tokens: it is off by default here, and when on, every line goes through ``redact`` first.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn
from asgiref.wsgi import WsgiToAsgi

from embed_middleware import ConfigurationError

from .dashboard_server import DashboardServer
from .demo import BIND, add_port_arguments, demo_signing_key, redact, serve_until_stopped
from .fastapi_app import create_app

DEFAULT_HOST_PORT = 5162
DEFAULT_DASHBOARD_PORT = 5161
DEFAULT_TTL = 600
#: How long to wait for a server to start, or to stop.
STARTUP_TIMEOUT = 10.0
ACCESS_LOGGER = "uvicorn.access"


class RedactTokens(logging.Filter):
    """Blanks tokens out of a log record's message and arguments, before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def redact_access_log() -> None:
    """Installs ``RedactTokens`` on uvicorn's access logger (once per process)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())


@dataclass(frozen=True)
class RunningRefreshDemo:
    """Both servers, serving in background threads until ``stop()``."""

    host_url: str
    dashboard_url: str
    stop: Callable[[], None]


def _bind(port: int) -> socket.socket:
    """A listening socket on loopback: a busy port fails here, in the caller, not in a thread."""
    return socket.create_server((BIND, port), backlog=128)


def _serve(
    app: Any,
    sock: socket.socket,
    name: str,
    *,
    access_log: bool,
    lifespan: Literal["auto", "on", "off"] = "auto",
) -> Callable[[], None]:
    """Runs ``app`` under uvicorn on ``sock`` in a daemon thread; returns once it accepts requests.

    ``log_config=None`` leaves the process's logging set-up alone (uvicorn would replace it).
    No signal handlers are installed: uvicorn only installs them from the main thread (in 0.29+
    ``Server.capture_signals``, before that ``install_signal_handlers``, both check), so Ctrl-C stays
    with the caller; ``stop()`` ends the server through ``should_exit``.
    """
    config = uvicorn.Config(
        app, log_config=None, access_log=access_log, lifespan=lifespan, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(timeout=STARTUP_TIMEOUT)
            sock.close()
            raise RuntimeError(f"{name}: uvicorn did not start")
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT)
        sock.close()

    return stop


def start_refresh_demo(
    signing_key: str,
    *,
    host_port: int = 0,
    dashboard_port: int = 0,
    ttl: int = DEFAULT_TTL,
    access_log: bool = False,
    session_secret: str | None = None,
) -> RunningRefreshDemo:
    """Starts the dashboard server and the FastAPI host app; ports 0 pick free ones.

    A bad key or TTL raises ``ConfigurationError`` before anything listens for requests.
    """
    if access_log:
        redact_access_log()
    stops: list[Callable[[], None]] = []
    sockets: list[socket.socket] = []

    def stop_all() -> None:
        while stops:
            stops.pop()()

    try:
        dashboard_sock = _bind(dashboard_port)
        sockets.append(dashboard_sock)
        host_sock = _bind(host_port)
        sockets.append(host_sock)
        dashboard_url = f"http://{BIND}:{dashboard_sock.getsockname()[1]}"
        host_url = f"http://{BIND}:{host_sock.getsockname()[1]}"
        host_app = create_app(signing_key, dashboard_url, ttl, session_secret=session_secret)
        dashboard = WsgiToAsgi(DashboardServer(signing_key, allowed_origins={host_url}))
        stops.append(
            _serve(dashboard, dashboard_sock, "refresh-demo-dashboard", access_log=access_log, lifespan="off")
        )
        stops.append(_serve(host_app, host_sock, "refresh-demo-host", access_log=access_log))
    except BaseException:
        stop_all()
        for sock in sockets:
            sock.close()
        raise
    return RunningRefreshDemo(host_url, dashboard_url, stop_all)


def _ttl(value: str) -> int:
    try:
        ttl = int(value)
    except ValueError:
        ttl = 0
    if ttl < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of seconds (1 or more)")
    return ttl


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.refresh_demo",
        description="The FastAPI embed demo: a page that refreshes its token, and the dashboard server.",
    )
    add_port_arguments(parser, "the FastAPI app", DEFAULT_HOST_PORT, DEFAULT_DASHBOARD_PORT)
    parser.add_argument(
        "--ttl",
        type=_ttl,
        default=os.environ.get("DEMO_TOKEN_TTL", DEFAULT_TTL),
        help="token lifetime in seconds; 20 shows refreshes (env DEMO_TOKEN_TTL, default %(default)s)",
    )
    parser.add_argument(
        "--no-access-log", dest="access_log", action="store_false", help="do not log request lines"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serves until Ctrl-C or SIGTERM (uvicorn's threads install no handlers; we do here)."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    signing_key, key_origin = demo_signing_key()
    try:
        demo = start_refresh_demo(
            signing_key,
            host_port=args.port,
            dashboard_port=args.dashboard_port,
            ttl=args.ttl,
            access_log=args.access_log,
        )
    except ConfigurationError as error:
        print(f"refresh demo: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"refresh demo: cannot listen: {error}", file=sys.stderr)
        return 1
    return serve_until_stopped(
        demo.stop,
        [
            f"Dashboard server (stands in for Tinybird): {demo.dashboard_url}/v0/pipes/<pipe>.json?token=...",
            f"Signing key: {key_origin} (shared by both servers, never printed)",
            f"Tokens live {args.ttl} s; the page refreshes them shortly before they expire.",
            f"Open {demo.host_url}/ and log in as acme or globex",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
