"""What each cell of the matrix must do, checked on the wire; each check returns None or the problem."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
from common import DATA, KEY, PLAIN, PLAIN_HEADERS, SESSION
from wire import Answer, Connection, RawClient

TOKEN = re.compile(rb"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")
COOKIE = {"Cookie": f"sid={SESSION}"}
NO_STORE = "private, no-store"
#: A check's answer that is not a failure: something the server itself does, said in the table.
NOTE = "note: "


class Client(Protocol):
    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Answer: ...

    def close(self) -> None: ...


class H2Client:
    """HTTP/2 with prior knowledge (h2c), through httpx and h2."""

    def __init__(self, port: int) -> None:
        self.client = httpx.Client(http1=False, http2=True, base_url=f"http://127.0.0.1:{port}", timeout=15)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Answer:
        reply = self.client.request(method, path, headers=headers)
        if reply.http_version != "HTTP/2":
            raise AssertionError(f"spoke {reply.http_version}, not HTTP/2")
        return Answer(reply.status_code, list(reply.headers.items()), reply.content, "h2", reply.http_version)

    def close(self) -> None:
        self.client.close()


def _claims(body: bytes) -> list[dict[str, Any]]:
    return [jwt.decode(t, KEY, algorithms=["HS256"]) for t in TOKEN.findall(body)]


def _length_agrees(answer: Answer) -> str | None:
    length = answer.header("Content-Length")
    if length is not None and int(length) != len(answer.body):
        return f"Content-Length {length} but {len(answer.body)} bytes"
    if length is not None and answer.header("Transfer-Encoding"):
        return "both Content-Length and Transfer-Encoding"
    return None


def _tokens(answer: Answer, resources: list[str]) -> str | None:
    if answer.status != 200:
        return f"status {answer.status}"
    if b"JWT_TOKEN" in answer.body:
        return "a placeholder was left in the page"
    found = _claims(answer.body)
    if sorted(c.get("resource") for c in found) != sorted(resources) or {c["tid"] for c in found} != {"acme"}:
        return f"tokens for {[(c.get('tid'), c.get('resource')) for c in found]}, expected acme's {resources}"
    if answer.header("Cache-Control") != NO_STORE:
        return f"Cache-Control {answer.header('Cache-Control')!r} on a page with tokens"
    return _length_agrees(answer)


def page(client: Client) -> str | None:
    answer = client.request("GET", "/page", COOKIE)
    if problem := _tokens(answer, ["top", "side"]):
        return problem
    if answer.header("Content-Length") is None:
        return "a page seen whole went out without Content-Length"
    return None


def stream(client: Client) -> str | None:
    answer = client.request("GET", "/stream", COOKIE)
    if problem := _tokens(answer, ["top"]):
        return problem
    if not answer.body.endswith(b"</p></body></html>") or b"stream eyJ" not in answer.body:
        return "the streamed page lost or reordered bytes"
    return None


def plain(client: Client, declares_length: bool = True) -> str | None:
    answer = client.request("GET", "/plain", COOKIE)
    if answer.status != 200 or answer.body != PLAIN:
        return f"status {answer.status}, body changed"
    for name, value in PLAIN_HEADERS.items():
        if answer.header(name) != value:
            return f"{name} {answer.header(name)!r}, the app sent {value!r}"
    if not declares_length and answer.header("Content-Length") is None:
        return None  # the framework declares none: the server frames it, as without the middleware
    if answer.header("Content-Length") != str(len(PLAIN)):
        return f"Content-Length {answer.header('Content-Length')!r}, expected {len(PLAIN)}"
    return None


def data(client: Client) -> str | None:
    answer = client.request("GET", "/data.json", COOKIE)
    if answer.status != 200 or answer.body != DATA:
        return f"status {answer.status}, JSON not byte-identical"
    if not (answer.header("Content-Type") or "").startswith("application/json"):
        return f"Content-Type {answer.header('Content-Type')!r}"
    return _length_agrees(answer)


def endpoint(client: Client) -> str | None:
    answer = client.request("GET", "/embed/token?resource=top", COOKIE)
    if answer.status != 200:
        return f"status {answer.status} for a signed-in tenant"
    (claims,) = _claims(answer.body)
    if (claims["tid"], claims.get("resource")) != ("acme", "top") or answer.header(
        "Cache-Control"
    ) != NO_STORE:
        return "wrong token or cacheable answer"
    anonymous = client.request("GET", "/embed/token?resource=top")
    if anonymous.status != 401 or TOKEN.search(anonymous.body):
        return f"status {anonymous.status} without a session"
    return _length_agrees(answer)


def head(client: Client) -> str | None:
    """HEAD on a connection kept alive: headers of a page, no body, a length that is the GET's or none,
    and the connection still in step (the next request's answer parses)."""
    got = client.request("GET", "/page", COOKIE)
    answer = client.request("HEAD", "/page", COOKIE)
    if answer.status != 200 or answer.header("Cache-Control") != NO_STORE:
        return f"status {answer.status}, Cache-Control {answer.header('Cache-Control')!r}"
    length = answer.header("Content-Length")
    if length is not None and length != got.header("Content-Length"):
        return f"HEAD Content-Length {length}, the GET's {got.header('Content-Length')}"
    if answer.body:
        return f"HEAD answered with {len(answer.body)} body bytes"
    if isinstance(client, RawClient):
        if stray := client.leftover():
            # waitress frames every length-less answer as chunked, HEAD too, and ends it with a
            # terminator; it announces Connection: close first and closes, so no client reads on.
            server_own = (
                stray == b"0\r\n\r\n"
                and answer.closes
                and client.closed_by_server
                and answer.header("Transfer-Encoding")
            )
            if not server_own:
                return f"{len(stray)} stray bytes after the HEAD answer: {stray[:20]!r}"
            return NOTE + (
                "a HEAD of a page (no Content-Length) is framed `Transfer-Encoding: chunked` with "
                "`Connection: close`, then a stray `0\\r\\n\\r\\n` before the server closes: its own framing "
                "of every length-less HEAD, with or without the middleware; the connection is closed, so "
                "no client reads it"
            )
        if answer.closes:
            return None
    after = client.request("GET", "/plain")
    if after.status != 200 or after.body != PLAIN:
        return "the connection was out of step after HEAD"
    return None


def disconnect(port: int, http2: bool) -> str | None:
    """Leave a long streamed page after its first bytes; the server must keep serving."""
    if http2:
        url = f"http://127.0.0.1:{port}/slow"
        with (
            httpx.Client(http1=False, http2=True, timeout=15) as client,
            client.stream("GET", url, headers=COOKIE) as reply,
        ):
            next(reply.iter_raw())
    else:
        with Connection(port) as connection:
            connection.send("GET", "/slow", COOKIE)
            status = connection.read_head()[1]
            if status != 200 or not connection.read_some_body():
                return f"status {status} or no body for the slow page"
    time.sleep(1.0)  # the server notices, the app stops (or runs on into a closed socket)
    with Connection(port) as fresh:
        if fresh.request("GET", "/plain").status != 200:
            return "the server stopped answering after the disconnect"
    return None


CHECKS: dict[str, Callable[[Client], str | None]] = {
    "page": page,
    "stream": stream,
    "plain": plain,
    "json": data,
    "endpoint": endpoint,
    "head": head,
}


def is_note(problem: str | None) -> bool:
    return problem is not None and problem.startswith(NOTE)


def warnings_in(log: Path) -> str | None:
    lines = [line for line in log.read_text().splitlines() if line.split(" ", 1)[0] in ("WARNING", "ERROR")]
    return f"embed_middleware logged: {lines[:3]}" if lines else None
