"""The app's own placeholders: a per-request nonce, and the helpers that write it into a page.

Every byte of a page may come from a user (a comment, a display name, a reflected query parameter),
so the text ``<JWT_TOKEN:top_airlines>`` proves nothing about who wrote it. The middleware therefore
fills only placeholders that carry this request's nonce: 128 random bits drawn when the app first asks
for them, never sent to the client (a filled placeholder is replaced whole), compared in constant time.
An attacker who stored or reflected placeholder text wrote it before the nonce existed, so their text
is left exactly as it was and earns no token. The helpers below are the only way to write one::

    embed_placeholder(request, "top_airlines")   # '<JWT_TOKEN:top_airlines:3q2-…>' (raw WSGI/ASGI apps)
    embed_url(request, "https://charts.example.com/embed", "top_airlines")   # checked against embed_origins

``request`` may be a WSGI environ, an ASGI scope, or a werkzeug/Flask, Starlette or Django request: the
middleware leaves its :class:`EmbedContext` at ``environ["embed.nonce"]`` / ``scope["embed.nonce"]``.
Framework helpers (the Flask ``embed_placeholder()`` global, the Django ``{% embed_placeholder %}`` tag,
the Jinja2 globals for Starlette/FastAPI) call these.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from .errors import ConfigurationError, EmbedError
from .randomness import RANDOM_BYTES, RANDOM_LENGTH, random_id
from .rewrite import NONCE_LENGTH, RESOURCE_NAME

#: Where the middleware leaves the request's :class:`EmbedContext` (WSGI environ, ASGI scope, Django META).
NONCE_KEY = "embed.nonce"
#: 128 bits, as the OWASP and CSP nonce guidance asks, spelled in 22 characters of ``[A-Za-z0-9_-]``
#: (``randomness.random_id``), all of which survive HTML escaping and percent-encoding unchanged.
NONCE_BYTES = RANDOM_BYTES
assert RANDOM_LENGTH == NONCE_LENGTH


#: How many valid resource names ``PlaceholderRules`` remembers.
_VALID_NAMES_KEPT = 256


class PlaceholderError(EmbedError, ValueError):
    """A helper was asked to write a placeholder it must not: a bad name, or an origin not allowed."""


@dataclass(frozen=True)
class PlaceholderRules:
    """What the helpers need from the middleware's configuration; built once at start-up."""

    word: str
    max_resource_length: int
    #: Origins (``https://charts.example.com``) that :func:`embed_url` may put a placeholder into.
    embed_origins: frozenset[str] = frozenset()

    #: Names already found valid (an app has a handful, asked about on every page): a set lookup
    #: instead of the pattern. Bounded, since names also arrive from pages and queries.
    _valid: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def is_resource_name(self, value: object) -> bool:
        """The one rule for a resource name, wherever one arrives (a helper, a page, the endpoint's query)."""
        if type(value) is str and value in self._valid:
            return True
        valid = (
            isinstance(value, str)
            and len(value) <= self.max_resource_length
            and RESOURCE_NAME.fullmatch(value) is not None
        )
        if valid and type(value) is str and len(self._valid) < _VALID_NAMES_KEPT:
            self._valid.add(value)
        return valid

    def check_resource(self, resource: str | None) -> None:
        if resource is not None and not self.is_resource_name(resource):
            raise PlaceholderError(
                f"{resource!r} is not a resource name (1 to {self.max_resource_length} of [A-Za-z0-9_.:-])"
            )


class EmbedContext:
    """One request's embed state that the app's helpers read: the nonce and the placeholder rules.

    The nonce is drawn on first use, so a page that writes no placeholder costs no randomness, and the
    middleware knows that such a page cannot contain a placeholder of the app's (it skips the scan).
    A framework may copy the environ or scope; the copy holds this same object, so the nonce is shared.
    """

    __slots__ = ("_nonce", "rules")

    def __init__(self, rules: PlaceholderRules) -> None:
        self.rules = rules
        self._nonce: str | None = None

    def __repr__(self) -> str:  # the nonce is a per-request secret: never in a repr or a log line
        return f"<EmbedContext drawn={self._nonce is not None}>"

    @property
    def drawn(self) -> bool:
        """Whether the app has asked for the nonce (only then can a page carry an app placeholder)."""
        return self._nonce is not None

    def _value(self) -> str:
        if self._nonce is None:
            self._nonce = random_id()
        return self._nonce

    def matches(self, candidate: str) -> bool:
        """Constant time, so response timing says nothing about how much of a guess was right."""
        nonce = self._nonce
        if nonce is None:
            return False
        try:  # both ASCII (a nonce is; a candidate is page text the rewriter matched as name characters)
            return hmac.compare_digest(candidate, nonce)
        except TypeError:  # a non-ASCII candidate: never the nonce
            return False

    def placeholder(self, resource: str | None) -> str:
        """``<WORD:resource:NONCE>`` (``<WORD:NONCE>`` for the unscoped token, where allowed)."""
        self.rules.check_resource(resource)
        nonce = self._value()
        inner = nonce if resource is None else f"{resource}:{nonce}"
        return f"<{self.rules.word}:{inner}>"

    def url(self, base_url: str, resource: str, *, param: str = "token") -> str:
        """``base_url`` with the placeholder added as ``?param=`` (or put where ``{token}`` stands).

        The URL's origin must be one of ``embed_origins``: a base URL that came from user data by
        mistake fails here, at render time, instead of sending the tenant's token to its author.
        """
        if resource is None:
            raise PlaceholderError("embed_url needs a resource name")
        origins = self.rules.embed_origins
        if not origins:
            raise PlaceholderError(
                "embed_url needs embed_origins=['https://charts.example.com'] in the middleware's options"
            )
        origin = url_origin(base_url)
        if origin is None or origin not in origins:
            raise PlaceholderError(f"embed_url refuses {base_url[:80]!r}: its origin is not in embed_origins")
        # Percent-encoded, so the URL stays valid and autoescaping has nothing to change.
        token = quote(self.placeholder(resource), safe="")
        if "{token}" in base_url:
            return base_url.replace("{token}", token)
        parts = urlsplit(base_url)
        query = f"{parts.query}&{param}={token}" if parts.query else f"{param}={token}"
        return urlunsplit(parts._replace(query=query))


def url_origin(url: object) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lowercased; None for anything else."""
    if not isinstance(url, str) or any(c in url for c in "\\\t\r\n \x00"):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password:
        return None
    default = 443 if scheme == "https" else 80
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + ("" if port in (None, default) else f":{port}")


def origins_setting(origins: Collection[str] | None) -> frozenset[str]:
    """``embed_origins`` validated: each an origin (no path, query or credentials), https unless loopback."""
    if origins is None:
        return frozenset()
    if isinstance(origins, str) or not isinstance(origins, Collection):
        raise ConfigurationError(
            f"embed_origins must be a list of origins, e.g. ['https://charts.example.com'], not {origins!r}"
        )
    found = set()
    for origin in origins:
        normal = url_origin(origin)
        if normal is None or normal != str(origin).rstrip("/").lower():
            raise ConfigurationError(
                f"embed_origins: {origin!r} is not an origin; write scheme://host[:port], no path"
            )
        if normal.startswith("http://") and not _loopback(normal):
            raise ConfigurationError(
                f"embed_origins: {origin!r} is plain http; a token would cross the network unencrypted"
            )
        found.add(normal)
    return frozenset(found)


def _loopback(origin: str) -> bool:
    host = urlsplit(origin).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.") or host.endswith(".localhost")


def context_of(request: Any) -> EmbedContext:
    """The :class:`EmbedContext` the middleware left on this request, wherever the framework keeps it."""
    for holder in _holders(request):
        found = holder.get(NONCE_KEY) if isinstance(holder, Mapping) else None
        if isinstance(found, EmbedContext):
            return found
    raise PlaceholderError(
        "no embed middleware handled this request: wrap the app with EmbedWSGIMiddleware/EmbedASGIMiddleware "
        "(or add embed_middleware.django.EmbedMiddleware to MIDDLEWARE) before writing placeholders"
    )


def _holders(request: Any) -> list[Any]:
    if isinstance(request, Mapping):
        return [request]  # a WSGI environ or an ASGI scope
    holders = []
    for attribute in ("META", "scope", "environ"):  # Django, Starlette, werkzeug/Flask
        try:
            holders.append(getattr(request, attribute))
        except (AttributeError, KeyError, RuntimeError):
            continue
    return holders


def embed_placeholder(request: Any, resource: str | None) -> str:
    """The app's own placeholder for ``resource`` on this request (see the module docstring)."""
    return context_of(request).placeholder(resource)


def embed_url(request: Any, base_url: str, resource: str, *, param: str = "token") -> str:
    """The vendor URL for ``resource`` with the app's placeholder in it; refuses origins not allowed."""
    return context_of(request).url(base_url, resource, param=param)
