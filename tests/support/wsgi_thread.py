"""A real werkzeug server serving a WSGI app from a thread on a free loopback port, for tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server


class _KeepAlive(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"


@contextlib.contextmanager
def wsgi_in_thread(app: Any, *, keep_alive: bool = False) -> Iterator[int]:
    """Yields the port; ``keep_alive`` speaks HTTP/1.1 with persistent connections (else HTTP/1.0)."""
    handler = _KeepAlive if keep_alive else WSGIRequestHandler
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
