"""``make demo``: the host app and the dashboard server, side by side on loopback.

Both servers share one signing key, as a Tinybird workspace and its customer's back end do. It is
read from ``EMBED_SIGNING_KEY`` or generated for this run, and never printed. ``start_demo`` is the
same start-up on any ports (0 picks free ones) with a ``stop`` to call, which the tests use.

Werkzeug logs every request line, query string included; the dashboard's URLs carry tokens, so the
servers here use a request handler that blanks tokens out of every log line.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from embed_middleware import ConfigurationError

from .dashboard_server import DashboardServer
from .host_app import create_app

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

BIND = "127.0.0.1"
DEFAULT_HOST_PORT = 5151
DEFAULT_DASHBOARD_PORT = 5152
KEY_ENV = "EMBED_SIGNING_KEY"

#: A token wherever it appears: as a query parameter, or anything shaped like a JWT.
_SECRETS = (
    re.compile(r"(?<=token=)[^&\s\"']+"),
    re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"),
)


def redact(text: str) -> str:
    """``text`` with every token replaced by ``[redacted]``."""
    for pattern in _SECRETS:
        text = pattern.sub("[redacted]", text)
    return text


class RedactingRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, with tokens blanked out of request lines and error messages."""

    def log(self, type: str, message: str, *args: Any) -> None:
        super().log(type, "%s", redact(message % args if args else message))


@dataclass(frozen=True)
class RunningDemo:
    """Both servers, serving in background threads until ``stop()``."""

    host_url: str
    dashboard_url: str
    stop: Callable[[], None]
    #: The dashboard server itself, for its "queries run" count.
    dashboard: DashboardServer | None = None


def _serve(app: WSGIApplication, port: int, name: str) -> tuple[BaseWSGIServer, Callable[[], None]]:
    """Binds now (so a busy port fails here, not in a thread) and serves from a daemon thread."""
    server = make_server(BIND, port, app, threaded=True, request_handler=RedactingRequestHandler)
    # A short poll interval, so that stop() (which waits for the loop to notice) is quick.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
    )
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return server, stop


def start_demo(
    signing_key: str, *, host_port: int = 0, dashboard_port: int = 0, reuse_window: int | None = None
) -> RunningDemo:
    """Starts the dashboard server, then the host app pointing at it; ports 0 pick free ones.
    ``reuse_window`` turns the host app's token reuse on (see host_app.create_app)."""
    stops: list[Callable[[], None]] = []

    def stop_all() -> None:
        while stops:
            stops.pop()()

    try:
        vendor = DashboardServer(signing_key)
        dashboard, stop_dashboard = _serve(vendor, dashboard_port, "demo-dashboard")
        stops.append(stop_dashboard)
        dashboard_url = f"http://{BIND}:{dashboard.server_port}"
        app = create_app(signing_key, dashboard_url, reuse_window=reuse_window)
        host, stop_host = _serve(app, host_port, "demo-host")
        stops.append(stop_host)
    except BaseException:
        stop_all()
        raise
    return RunningDemo(f"http://{BIND}:{host.server_port}", dashboard_url, stop_all, vendor)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port (0 to 65535)")
    return port


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo", description="The embed demo: host app and dashboard server."
    )
    add_port_arguments(parser, "the host app", DEFAULT_HOST_PORT, DEFAULT_DASHBOARD_PORT)
    parser.add_argument(
        "--reuse-window",
        type=int,
        default=os.environ.get("DEMO_REUSE_WINDOW") or None,
        metavar="S",
        help="reuse tokens for S seconds (at most 300), so reloads run no queries (env DEMO_REUSE_WINDOW)",
    )
    return parser.parse_args(argv)


def add_port_arguments(
    parser: argparse.ArgumentParser, host_name: str, host_port: int, dashboard_port: int
) -> None:
    """``--port`` and ``--dashboard-port``, defaulting to DEMO_HOST_PORT / DEMO_DASHBOARD_PORT."""
    parser.add_argument(
        "--port",
        type=_port,
        default=os.environ.get("DEMO_HOST_PORT", host_port),
        help=f"{host_name}'s port (env DEMO_HOST_PORT, default %(default)s)",
    )
    parser.add_argument(
        "--dashboard-port",
        type=_port,
        default=os.environ.get("DEMO_DASHBOARD_PORT", dashboard_port),
        help="the dashboard server's port (env DEMO_DASHBOARD_PORT, default %(default)s)",
    )


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Serves until Ctrl-C or SIGTERM. A busy port is reported by werkzeug, which exits with 1."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    signing_key, key_origin = demo_signing_key()
    try:
        demo = start_demo(
            signing_key,
            host_port=args.port,
            dashboard_port=args.dashboard_port,
            reuse_window=None if args.reuse_window is None else int(args.reuse_window),
        )
    except ConfigurationError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 2
    return serve_until_stopped(
        demo.stop,
        [
            f"Dashboard server (stands in for Tinybird): {demo.dashboard_url}/embed/<resource>?token=...",
            f"Signing key: {key_origin} (shared by both servers, never printed)",
            "Token reuse: "
            + (f"on, {args.reuse_window} s windows" if args.reuse_window else "off (--reuse-window 300)"),
            f"Open {demo.host_url}/ and log in as acme or globex",
        ],
    )


def demo_signing_key() -> tuple[str, str]:
    """The key the demos sign with, and where it came from (for the banner; the key is never shown)."""
    configured = os.environ.get(KEY_ENV)
    if configured:
        return configured, f"from {KEY_ENV}"
    return secrets.token_urlsafe(48), "generated for this run"


def serve_until_stopped(stop: Callable[[], None], banner: Sequence[str]) -> int:
    """Prints the banner, then waits for Ctrl-C or SIGTERM and stops the servers either way."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    for line in banner:
        print(line)
    print("Ctrl-C stops both servers.", flush=True)
    try:
        while True:
            threading.Event().wait(3600)
    except KeyboardInterrupt:
        print("\nstopping", file=sys.stderr)
    finally:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
