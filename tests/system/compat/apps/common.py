"""What every framework's app in the matrix serves, so each cell checks the same bytes.

Each app module builds its framework's app with the same routes, written the way that framework's
users would write them (templates, helpers, middleware lists), and wraps it with the middleware the
README's recipe names. The routes:

* ``/page``    a page with two placeholders written by the framework's helper
* ``/stream``  a streamed page, one placeholder split across chunks
* ``/plain``   a page without placeholders, with its own Cache-Control and ETag (left untouched)
* ``/data.json`` JSON, byte for byte
* ``/slow``    a long stream the client leaves half-way (no warning may follow)
* ``/embed/token`` the token endpoint

The tenant comes from a session cookie checked by a lookup function, as a real app's would be.
The embed middleware's log goes to the file named by ``COMPAT_LOG`` so the test can read it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from embed_middleware import Tenant, TokenIssuer, from_cookie

KEY = "compat-matrix-signing-key-" + "k" * 32
RESOURCES = ["top", "side"]
SESSION = "s3cret-acme"
PLAIN = b"<!doctype html><html><body><p>No embeds here.</p></body></html>"
PLAIN_HEADERS = {"Cache-Control": "public, max-age=60", "ETag": '"plain-v1"'}
DATA = b'{"rows": [1, 2, 3], "note": "<JWT_TOKEN:top> stays in JSON"}'
SLOW_CHUNKS = 400
SLOW_PAUSE = 0.01


def session_tenant(value: str) -> Tenant | None:
    """Stands for a verified session lookup (a function: the token endpoint may trust it)."""
    return Tenant("acme") if value == SESSION else None


ISSUER = TokenIssuer(KEY, resources=RESOURCES)
RESOLVER = from_cookie("sid", lookup=session_tenant)
#: The middleware's options, for every adapter.
OPTIONS: dict[str, Any] = {"issuer": ISSUER, "resolver": RESOLVER, "token_endpoint": "/embed/token"}


def page(top: str, side: str) -> str:
    return (
        "<!doctype html><html><body>"
        f'<iframe src="https://charts.example.com/embed?token={top}"></iframe>'
        f"<p data-token='{side}'>side</p></body></html>"
    )


#: The same page as a Jinja2 template, for frameworks that render with Jinja2.
PAGE_TEMPLATE = page("{{ embed_placeholder('top') }}", "{{ embed_placeholder('side') }}")


def stream_chunks(placeholder: str) -> list[bytes]:
    """The streamed page: the placeholder cut in three, across chunk boundaries."""
    cut = len(placeholder) // 3
    return [
        b"<!doctype html><html><body><p>stream ",
        placeholder[:cut].encode(),
        placeholder[cut : 2 * cut].encode(),
        placeholder[2 * cut :].encode() + b" end</p>",
        b"<p>" + b"x" * 2000 + b"</p></body></html>",
    ]


def slow_chunks(placeholder: str) -> Iterator[bytes]:
    yield b"<!doctype html><html><body><p>" + placeholder.encode() + b"</p>"
    for index in range(SLOW_CHUNKS):
        time.sleep(SLOW_PAUSE)
        yield b"<p>%d</p>" % index
    yield b"</body></html>"


async def aslow_chunks(placeholder: str) -> AsyncIterator[bytes]:
    import asyncio

    yield b"<!doctype html><html><body><p>" + placeholder.encode() + b"</p>"
    for index in range(SLOW_CHUNKS):
        await asyncio.sleep(SLOW_PAUSE)
        yield b"<p>%d</p>" % index
    yield b"</body></html>"


async def astream(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _log_to_file() -> None:
    path = os.environ.get("COMPAT_LOG")
    if not path:
        return
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("embed_middleware")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


_log_to_file()
