"""Pure response decisions: which responses are rewritten, and how their headers change.

Nothing here does I/O; both adapters ask the same questions of the same functions, so WSGI and
ASGI cannot drift. Every rule has a named reason, because the rules are security decisions.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from werkzeug.datastructures import Headers
from werkzeug.http import parse_options_header, parse_set_header

#: Only markup is rewritten: a placeholder in JSON, CSS or a download is data, not an embed.
DEFAULT_CONTENT_TYPES = ("text/html", "application/xhtml+xml")
#: RFC 9111 5.2.2: ``no-store`` keeps every cache (shared or the browser's back/forward store)
#: from keeping a page that carries a tenant's token; ``private`` covers caches that ignore it.
NO_STORE = "private, no-store"
#: Headers that tell a CDN or surrogate how long to keep a response *instead of* Cache-Control
#: (RFC 9213 for the ``CDN-Cache-Control`` family; Fastly, Akamai and Varnish for the others): on a
#: page with a token they would let a shared cache keep it, so they go.
SHARED_CACHE_HEADERS = ("Surrogate-Control", "Edge-Control")
_TARGETED_CACHE_SUFFIX = "cdn-cache-control"
#: The body changed, so validators computed by the app over the old body would lie (RFC 9110 8.8).
BODY_VALIDATORS = ("ETag", "Last-Modified", "Content-MD5", "Digest", "Repr-Digest")


class Skip(enum.Enum):
    """Why a response passes through unrewritten."""

    #: 1xx, 204 and 304 have no body (RFC 9110 15.2, 15.3.5, 15.4.5).
    NO_BODY_STATUS = "status has no body"
    #: A 206 is a byte range of a representation: rewriting would break its offsets.
    PARTIAL_CONTENT = "partial content"
    #: The middleware must sit inside compression: it cannot find placeholders in gzip.
    ENCODED = "content-encoding is not identity"
    #: Server-sent events are long-lived streams of data, not pages.
    EVENT_STREAM = "text/event-stream"
    #: Not one of the configured markup types.
    CONTENT_TYPE = "content type not rewritten"
    #: HEAD has no body to rewrite; only its headers match what a GET would carry.
    HEAD = "HEAD request"


@dataclass(frozen=True)
class ResponsePolicy:
    """Which responses may carry placeholders. Built once per middleware."""

    content_types: frozenset[str] = frozenset(DEFAULT_CONTENT_TYPES)

    @classmethod
    def for_types(cls, content_types: Collection[str]) -> ResponsePolicy:
        if isinstance(content_types, str) or not content_types:
            raise ValueError("content_types must be a non-empty collection of media types")
        return cls(frozenset(t.strip().lower() for t in content_types))

    def skip_reason(self, method: str, status: int, headers: Headers) -> Skip | None:
        """None when the response body should be rewritten, else why not."""
        if status < 200 or status in (204, 304):
            return Skip.NO_BODY_STATUS
        if status == 206:
            return Skip.PARTIAL_CONTENT
        media_type = parse_options_header(headers.get("Content-Type", ""))[0].lower()
        if media_type == "text/event-stream":
            return Skip.EVENT_STREAM
        if media_type not in self.content_types:
            return Skip.CONTENT_TYPE
        if headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
            return Skip.ENCODED
        if method == "HEAD":
            return Skip.HEAD
        return None


def mark_body_changed(headers: Headers, content_length: int | None) -> None:
    """The app's length and validators described a body we changed (or may still change)."""
    for name in BODY_VALIDATORS:
        headers.pop(name, None)
    if content_length is None:
        headers.pop("Content-Length", None)
    else:
        headers["Content-Length"] = str(content_length)


def mark_carries_token(headers: Headers, vary: Iterable[str]) -> None:
    """No cache may keep this response, and whatever the tenant came from varies it."""
    headers["Cache-Control"] = NO_STORE
    headers.pop("Expires", None)
    for name in SHARED_CACHE_HEADERS:
        headers.pop(name, None)
    for name in {k for k, _ in headers if k.lower().endswith(_TARGETED_CACHE_SUFFIX)}:
        headers.pop(name, None)
    add_vary(headers, vary)


def add_vary(headers: Headers, names: Iterable[str]) -> None:
    names = list(names)
    if not names:
        return
    current = parse_set_header(", ".join(headers.getlist("Vary")))
    if "*" in current:
        return
    for name in names:
        current.add(name)
    headers["Vary"] = current.to_header()
