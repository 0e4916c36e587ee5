"""The test apps' stand-in for a template calling ``embed_placeholder()``: their placeholders get the nonce.

Most suites describe a page by its placeholders in every spelling (``<JWT_TOKEN:a>``, ``&lt;JWT_TOKEN&gt;``,
``%3CJWT_TOKEN%3Aa%3E``), split across chunks in every way. Those pages are the app's own, so at request
time ``own`` adds this request's nonce to each of them, exactly where the helpers put it, and keeps
every chunk boundary where it was relative to the text around it. Attacker text is never passed
through ``own``: the injection suites build it separately and prove it stays as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from embed_middleware.placeholders import NONCE_KEY, EmbedContext
from embed_middleware.rewrite import NONCE_LENGTH

_OPENER = rb"(?:<|&lt;|&#60;|&#[xX]3[cC];|%3[cC])"
_SEP = rb"(?::|%3[aA])"
_NAME = rb"[A-Za-z0-9_.\-]+"
_PLACEHOLDER = re.compile(
    _OPENER + rb"JWT_TOKEN(?:" + _SEP + _NAME + rb"(?:" + _SEP + _NAME + rb")*)?"
    rb"(?P<closer>>|&gt;|&#62;|&#[xX]3[eE];|%3[eE])"
)
TEST_RESOURCES = (
    "a",
    "b",
    "x",
    "top",
    "top_1",
    "top_air",
    "top_airlines",
    "sales",
    "secret",
    "by_day",
    "bookings",
    "allowed",
    "other",
    "ops",
    "ok",
    "r1",
    "r.1",
    "a.b",
    "a:b",
    "x:y",
    "schema:table",
    "pipe_a",
    "abcde",
    "abcdef",
)


def nonce_of(holder: Mapping[str, Any]) -> str:
    """The request's nonce (drawn now), read from a WSGI environ or an ASGI scope."""
    context = holder[NONCE_KEY]
    assert isinstance(context, EmbedContext)
    nonce = context.placeholder(None)[len("<JWT_TOKEN:") : -1]
    assert len(nonce) == NONCE_LENGTH
    return nonce


def own_chunks(chunks: Iterable[bytes], nonce: str | Mapping[str, Any]) -> list[bytes]:
    """``chunks`` with the nonce added to every placeholder, each boundary kept beside the same text.

    ``nonce`` may be the request's environ or scope instead: its nonce is then drawn only if the body
    has a placeholder, as an app's helper draws it only when the template writes one."""
    parts = list(chunks)
    joined = b"".join(parts)
    inserts: list[tuple[int, int]] = []  # (position in the old body, bytes inserted there)

    def add(match: re.Match[bytes]) -> bytes:
        closer = match.group("closer")
        value = nonce if isinstance(nonce, str) else nonce_of(nonce)
        extra = (b"%3A" if closer.startswith(b"%") else b":") + value.encode()
        inserts.append((match.start("closer"), len(extra)))
        return match.group(0)[: -len(closer)] + extra + closer

    body = _PLACEHOLDER.sub(add, joined)
    if not inserts:
        return parts
    ends, offset = [], 0
    for part in parts:
        offset += len(part)
        ends.append(offset + sum(n for at, n in inserts if at < offset))
    out, start = [], 0
    for end in ends:
        out.append(body[start:end])
        start = end
    return out


def own(body: bytes, nonce: str | Mapping[str, Any]) -> bytes:
    return own_chunks([body], nonce)[0]
