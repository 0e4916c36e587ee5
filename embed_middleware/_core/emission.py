"""What the core hands an adapter to send, and the small answers of its own it builds."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import NamedTuple

from .policy import NO_STORE, SET_ON_TOKEN

logger = logging.getLogger("embed_middleware")
#: How many distinct warnings one middleware remembers (names come from pages: keep it bounded).
_WARNED_LIMIT = 256
_CONTENT_TYPE = "content-type"
_CONTENT_ENCODING = "content-encoding"
_IDENTITY = ("", "identity", b"", b"identity")


class Head(NamedTuple):
    """A status and headers ready to send. (Named tuples: immutable, and built in a third of a frozen
    dataclass's time, on a path every page takes.)"""

    status: int
    headers: list[tuple[str, str]]


class Emission(NamedTuple):
    """What the adapter sends now: the head (once), then body bytes.

    ``last`` means the response is complete as far as the client is concerned: either the body
    ended, or the exchange replaced the response with an error and the app's body must be dropped.
    """

    head: Head | None = None
    body: bytes = b""
    last: bool = False


@dataclass
class WarnOnce:
    """Some mistakes are configuration, not requests: say so once, not on every response."""

    said: set[str] = field(default_factory=set)

    def warn(self, key: str, message: str, *args: object) -> None:
        if key not in self.said and len(self.said) < _WARNED_LIMIT:
            self.said.add(key)
            logger.warning(message, *args)


def content_headers(
    headers: Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]],
) -> tuple[str | None, str | None]:
    """The response's Content-Type and Content-Encoding: the one scan every adapter uses.

    Header names as WSGI has them (``str``) or as ASGI does (``bytes``). A repeated Content-Type counts
    by its LAST occurrence, as browsers read it (Fetch, "extract a MIME type"): ``text/html`` followed
    by ``application/json`` is JSON to the client, so it is not rewritten. A repeated Content-Encoding
    counts by any value that is not ``identity`` (an encoded body can never be rewritten).
    """
    content_type = content_encoding = None
    type_name: str | bytes | None = None
    encoding_name: str | bytes = _CONTENT_ENCODING
    for name, value in headers:
        if type_name is None:  # ASGI names are bytes: compare bytes with bytes (a mixed compare costs more)
            bytes_names = isinstance(name, bytes)
            type_name = b"content-type" if bytes_names else _CONTENT_TYPE
            encoding_name = b"content-encoding" if bytes_names else _CONTENT_ENCODING
        lowered = name.lower()
        if lowered == type_name:
            content_type = value
        elif lowered == encoding_name and (
            content_encoding is None or content_encoding.strip().lower() in _IDENTITY
        ):
            content_encoding = value
    # bytes, or any bytes-like value an app sent (a bytearray): always a str from here on
    if content_type is not None and not isinstance(content_type, str):
        content_type = bytes(content_type).decode("latin-1")
    if content_encoding is not None and not isinstance(content_encoding, str):
        content_encoding = bytes(content_encoding).decode("latin-1")
    return content_type, content_encoding


def own_response(
    status: int,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    extra_headers: Iterable[tuple[str, str]] = (),
    cache_control: str = NO_STORE,
) -> Emission:
    """A complete small response of our own (errors, the token endpoint); never cached by default."""
    # A no-store answer (it may carry a token) gets exactly what a page carrying one gets.
    caching = SET_ON_TOKEN if cache_control == NO_STORE else (("Cache-Control", cache_control),)
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        *caching,
        ("X-Content-Type-Options", "nosniff"),
        *extra_headers,
    ]
    return Emission(Head(status, headers), body, True)


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"
