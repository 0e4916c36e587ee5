"""The ASGI side of the memory rows: an app that streams a huge page, and a server loop that discards it.

Kept apart from ``memory`` so that the measuring harness stays one module about processes and
resident memory; this one only knows how to run one ASGI request, as a server would, without
buffering the body. The page's chunks come from the same source as the WSGI side's, so both
adapters carry the same bytes and the same placeholders.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from embed_middleware.asgi import ASGIApp, Message, Receive, Scope, Send

#: What a plain HTTP/1.1 server hands the app for ``GET /``: enough for the middleware's request.
SCOPE: Scope = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"localhost"), (b"accept", b"text/html")],
    "client": ("127.0.0.1", 40000),
    "server": ("localhost", 80),
}


class Source(Protocol):
    """Where the page's chunks come from (``memory.PageApp``), written for this request's scope (the
    app's placeholder carries the nonce the middleware left there)."""

    def body(self, holder: Mapping[str, Any]) -> Iterator[bytes]: ...


class ASGIPage:
    """An ASGI app sending the source's chunks as ``http.response.body`` messages, more_body=True,
    then an empty last message: a streaming response, never the whole body at once."""

    def __init__(self, source: Source) -> None:
        self._source = source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        for chunk in self._source.body(scope):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _Server:
    """One request's ``receive`` and ``send``: the request has no body, and the response's bytes are
    counted and dropped, as a server does once it has written them to the socket."""

    def __init__(self) -> None:
        self.received = 0
        self.status: int | None = None
        self.finished = False
        self._requested = False

    async def receive(self) -> Message:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.finished:
            raise AssertionError(f"{message['type']} after the end of the response")
        if message["type"] == "http.response.start":
            if self.status is not None:
                raise AssertionError("http.response.start sent twice")
            self.status = int(message["status"])
        elif message["type"] == "http.response.body":
            if self.status is None:
                raise AssertionError("body before http.response.start")
            self.received += len(message.get("body", b""))
            self.finished = not message.get("more_body", False)
        else:
            raise AssertionError(f"unexpected message {message['type']}")


def serve_asgi(loop: asyncio.AbstractEventLoop, application: ASGIApp) -> int:
    """Runs one request on ``loop``, discarding the body; returns the bytes received."""
    server = _Server()
    loop.run_until_complete(application(dict(SCOPE), server.receive, server.send))
    if server.status != 200 or not server.finished:
        raise RuntimeError(f"ASGI response incomplete: status {server.status}, finished {server.finished}")
    return server.received
