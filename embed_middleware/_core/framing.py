"""Where a response body ends, as the app declared it: shared by both adapters so they cannot drift.

An app that states its ``Content-Length`` has told us where its body ends, whatever its transport
says next. Quart, for one, sends every body as ``{body, more_body: True}`` followed by an empty final
message; a WSGI iterable may be a generator that only stops when asked again. Treating such a body as
still streaming would send a whole page without ``Content-Length``, and a page without placeholders
would lose its own ``Cache-Control``/``ETag`` for ``no-store``. So the body is taken as complete once
the declared number of bytes has come (RFC 9112 6.3: the length *is* the framing), and bytes past it,
which no client would read, are dropped with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

logger = logging.getLogger("embed_middleware")


_CONTENT_LENGTH = ("content-length", b"content-length")


def declared_length(headers: Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]) -> int | None:
    """The app's own ``Content-Length``, or None when it stated none (or nothing valid); header names
    as WSGI has them (``str``) or as ASGI does (``bytes``)."""
    for name, value in headers:
        if name.lower() in _CONTENT_LENGTH:
            try:
                length = int(value)
            except ValueError:
                return None
            return length if length >= 0 else None
    return None


class DeclaredBody:
    """Counts body bytes against the app's ``Content-Length``; ``None`` length counts nothing."""

    __slots__ = ("_consumed", "length")

    def __init__(self, length: int | None) -> None:
        self.length = length
        self._consumed = 0

    def clip(self, chunk: bytes, final: bool) -> tuple[bytes, bool]:
        """``chunk`` cut at the declared end, and whether the body ends with it."""
        length = self.length
        if length is None:
            return chunk, final
        consumed = self._consumed
        if consumed + len(chunk) >= length:
            if consumed + len(chunk) > length:
                logger.warning("the app sent more than its own Content-Length; the excess is dropped")
            chunk = chunk[: length - consumed]
            final = True
        self._consumed = consumed + len(chunk)
        return chunk, final
