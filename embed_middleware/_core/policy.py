"""Pure response decisions: which responses are rewritten, and how their headers change.

Nothing here does I/O; both adapters ask the same questions of the same functions, so WSGI and
ASGI cannot drift. Every rule has a named reason, because the rules are security decisions.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache

from werkzeug.http import parse_options_header, parse_set_header

#: Only markup is rewritten: a placeholder in JSON, CSS or a download is data, not an embed.
DEFAULT_CONTENT_TYPES = ("text/html", "application/xhtml+xml")
#: RFC 9111 5.2.2: ``no-store`` keeps every cache (shared or the browser's back/forward store)
#: from keeping a page that carries a tenant's token; ``private`` covers caches that ignore it.
NO_STORE = "private, no-store"
#: The browsers' default, stated so an older default or a meta tag cannot loosen it: links from a page
#: with a token send other origins only the origin, never a path or query that might carry one.
REFERRER_POLICY = "strict-origin-when-cross-origin"
#: Proxies and CDNs that read a lifetime from a header of their own *ahead of* Cache-Control. On a page
#: carrying a token each would let a shared cache keep it, so each goes (surveyed from their manuals):
#:
#: * nginx ``proxy_cache``: ``X-Accel-Expires`` (seconds, ``@epoch``) overrides Cache-Control and
#:   Expires; it is replaced by ``X-Accel-Expires: 0``, nginx's own "do not cache" (see SET_ON_TOKEN).
#: * Varnish: ``Surrogate-Control`` (its built-in VCL ignores Cache-Control when it is present).
#: * Fastly: ``Surrogate-Control``; Akamai: ``Edge-Control`` and ``Akamai-Cache-Control``.
#: * Cloudflare: ``Cloudflare-CDN-Cache-Control``; any CDN: RFC 9213 ``CDN-Cache-Control`` (every
#:   ``*-CDN-Cache-Control`` name is dropped).
#: * LiteSpeed: ``X-LiteSpeed-Cache-Control``.
#: * Apache ``mod_cache`` and HTTP caches in general: ``Expires`` (RFC 9111 5.3), which ``no-store`` outranks
#:   in compliant caches; dropped anyway for the ones that are not.
SHARED_CACHE_HEADERS = (
    "Surrogate-Control",
    "Edge-Control",
    "Akamai-Cache-Control",
    "X-LiteSpeed-Cache-Control",
    "X-Accel-Expires",
)
_TARGETED_CACHE_SUFFIX = "cdn-cache-control"
#: Fields set (after the drops) on every response carrying a token, and on the middleware's own answers.
SET_ON_TOKEN = (("Cache-Control", NO_STORE), ("X-Accel-Expires", "0"))
#: The body changed, so validators computed by the app over the old body would lie (RFC 9110 8.8).
BODY_VALIDATORS = ("ETag", "Last-Modified", "Content-MD5", "Digest", "Repr-Digest")
_BODY_FIELDS = frozenset(n.lower() for n in (*BODY_VALIDATORS, "Content-Length"))
_CACHE_FIELDS = frozenset(n.lower() for n in (*SHARED_CACHE_HEADERS, "Expires"))


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

    def skip_reason(
        self, method: str, status: int, content_type: str | None, content_encoding: str | None
    ) -> Skip | None:
        """None when the response body should be rewritten, else why not.

        Takes the two header values rather than all headers, so an adapter can decide from the raw
        message before building anything (the passthrough path is the hot one).
        """
        if status < 200 or status in (204, 304):
            return Skip.NO_BODY_STATUS
        if status == 206:
            return Skip.PARTIAL_CONTENT
        media_type = _media_type(content_type or "")
        if media_type == "text/event-stream":
            return Skip.EVENT_STREAM
        if media_type not in self.content_types:
            return Skip.CONTENT_TYPE
        if content_encoding and content_encoding.strip().lower() != "identity":
            return Skip.ENCODED
        if method == "HEAD":
            return Skip.HEAD
        return None


#: Responses whose head and body reach the client exactly as the app wrote them (no warning to
#: log, no HEAD edits): when no header token is configured either, adapters skip the exchange.
UNTOUCHED = frozenset({Skip.NO_BODY_STATUS, Skip.PARTIAL_CONTENT, Skip.EVENT_STREAM, Skip.CONTENT_TYPE})


@lru_cache(maxsize=256)
def _media_type(content_type: str) -> str:
    """An app sends few distinct Content-Type values: parse each once."""
    return parse_options_header(content_type)[0].lower()


#: Response headers as WSGI has them (and ASGI, decoded): a list of ``(name, value)`` pairs.
#: Edited in place with plain list operations: werkzeug's ``Headers`` costs more per response than
#: the rest of the head bookkeeping together, and a head has a handful of fields.
HeaderList = list[tuple[str, str]]


def header_value(headers: HeaderList, lowercase_name: str) -> str | None:
    """The first value of a field, by its lowercase name."""
    for name, value in headers:
        if name.lower() == lowercase_name:
            return value
    return None


def set_header(headers: HeaderList, name: str, value: str) -> None:
    """Replaces every field called ``name`` with one ``name: value``."""
    lowered = name.lower()
    headers[:] = [(k, v) for k, v in headers if k.lower() != lowered]
    headers.append((name, value))


def _drop(headers: HeaderList, unwanted: Callable[[str], bool]) -> None:
    """Removes every field whose lowercase name is ``unwanted``, in one scan."""
    headers[:] = [(k, v) for k, v in headers if not unwanted(k.lower())]


def _shared_cache_field(name: str) -> bool:
    return name in _CACHE_FIELDS or name.endswith(_TARGETED_CACHE_SUFFIX)


def mark_body_changed(headers: HeaderList, content_length: int | None) -> None:
    """The app's length and validators described a body we changed (or may still change)."""
    _drop(headers, _BODY_FIELDS.__contains__)
    # RFC 9112 6.2: never a Content-Length beside a Transfer-Encoding (the app's framing stands).
    if content_length is not None and header_value(headers, "transfer-encoding") is None:
        headers.append(("Content-Length", str(content_length)))


def mark_carries_token(headers: HeaderList, vary: Iterable[str]) -> None:
    """No cache may keep this response, whatever the tenant came from varies it, and the page's
    address goes to other origins without its path or query (unless the app chose a policy)."""
    _drop(headers, _carries_token_drops)
    headers.extend(SET_ON_TOKEN)
    add_vary(headers, vary)
    if header_value(headers, "referrer-policy") is None:
        headers.append(("Referrer-Policy", REFERRER_POLICY))


#: What ``mark_token_page`` drops by name (besides every ``*cdn-cache-control``).
_TOKEN_PAGE_DROPS = _BODY_FIELDS | _CACHE_FIELDS | {"cache-control"}


def mark_token_page(headers: HeaderList, content_length: int | None, vary: Iterable[str]) -> None:
    """``mark_body_changed`` then ``mark_carries_token``, in one scan of the fields: a page's usual
    head. Same fields, same order as the two calls (a test holds them to it)."""
    kept: HeaderList = []
    framed = referred = varied = False
    for field in headers:
        name = field[0].lower()
        if name in _TOKEN_PAGE_DROPS or name.endswith(_TARGETED_CACHE_SUFFIX):
            continue
        if name == "transfer-encoding":
            framed = True
        elif name == "referrer-policy":
            referred = True
        elif name == "vary":
            varied = True
        kept.append(field)
    if content_length is not None and not framed:
        kept.append(("Content-Length", str(content_length)))
    kept.extend(SET_ON_TOKEN)
    headers[:] = kept
    if varied:
        add_vary(headers, vary)  # the app's Vary to merge with
    else:
        fresh = _fresh_vary(tuple(vary))  # add_vary's own answer when there is nothing to merge
        if fresh is not None:
            headers.append(fresh)
    if not referred:
        headers.append(("Referrer-Policy", REFERRER_POLICY))


def edit_head(
    headers: HeaderList,
    *,
    changed: bool,
    length: int | None,
    carries: bool,
    anonymous: bool,
    vary: Iterable[str],
    header: tuple[str, str] | None,
) -> None:
    """A page's head edits: the body ``changed`` (its new ``length`` if known), the header token's
    field, and whether the page ``carries`` a token (else, if ``anonymous``, still varies by who asks)."""
    if changed and carries and header is None:
        mark_token_page(headers, length, vary)  # the usual page: one scan for both edits
        return
    if changed:
        mark_body_changed(headers, length)
    if header is not None:
        set_header(headers, *header)
    if carries:
        mark_carries_token(headers, vary)
    elif anonymous:
        add_vary(headers, vary)  # its body still depends on who asks


def _carries_token_drops(name: str) -> bool:
    return name == "cache-control" or _shared_cache_field(name)


@lru_cache(maxsize=64)
def _fresh_vary(names: tuple[str, ...]) -> tuple[str, str] | None:
    """The Vary field for a head that has none yet (a middleware has one ``vary`` setting: computed once)."""
    if not names:
        return None
    if "*" in names:  # RFC 9110 12.5.5: "*" alone says it all, and no list may add to it
        return ("Vary", "*")
    return ("Vary", ", ".join(dict.fromkeys(names)))


def add_vary(headers: HeaderList, names: Iterable[str]) -> None:
    names = list(names)
    if not names:
        return
    if "*" in names:  # RFC 9110 12.5.5: "*" alone says it all, and no list may add to it
        set_header(headers, "Vary", "*")
        return
    present = [v for k, v in headers if k.lower() == "vary"]
    if not present:  # the usual case: nothing to merge with
        fresh = _fresh_vary(tuple(names))
        assert fresh is not None
        headers.append(fresh)
        return
    current = parse_set_header(", ".join(present))
    if "*" in current:
        return
    for name in names:
        current.add(name)
    set_header(headers, "Vary", current.to_header())
