"""Who the request is for: the ``Tenant`` value, the resolver contract and the resolver adapters.

A resolver is any callable ``request -> Tenant | str | None``, or an ``async def`` one. A ``str`` is a
tenant id (it becomes ``Tenant(id)``); ``None`` means "unknown tenant": the middleware then fails
closed and issues no token. The same contract holds for the WSGI and ASGI middleware, their token
endpoints, the Flask extension (whose resolver takes no argument) and Django's settings.

The request a resolver gets is werkzeug's ``Request`` under WSGI and ASGI, and Django's own
``HttpRequest`` under Django. The built-in resolvers (in ``embed_middleware.resolvers``, re-exported
here) read either: both satisfy ``EmbedRequest``.

>>> from werkzeug.test import EnvironBuilder
>>> from werkzeug.wrappers import Request
>>> from embed_middleware.tenants import Tenant, first_of, from_environ, from_header, tenant_of
>>> request = Request(EnvironBuilder(headers={"X-Tenant": "acme"}).get_environ())
>>> from_header("X-Tenant")(request).id
'acme'
>>> first_of(from_environ(), lambda request: "globex")(request) == Tenant("globex")
True
>>> tenant_of("acme") == Tenant("acme"), tenant_of(""), tenant_of(None)
(True, None, None)

Never let a resolver that reads only what a client sends (Host, path, a header, an unverified cookie)
decide alone who gets a token: ``first_of(from_environ(), from_subdomain(...))`` hands an anonymous
visitor of ``acme.example.com`` acme's token. ``require_all`` makes such a source a check on top of
the session instead. Each built-in carries ``vary``: the request headers its answer depends on,
which the middleware adds to ``Vary`` on every response that carries a token.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from asgiref.sync import sync_to_async
from werkzeug.wrappers import Request

from .embed_request import EmbedRequest as EmbedRequest
from .embed_request import request_environ
from .errors import ConfigurationError, TokenIssueError

#: What an app sets during handling (``environ["embed.tenant"] = tenant``) to name the tenant of
#: the authenticated user; read lazily, after the app has run.
ENVIRON_KEY = "embed.tenant"

#: Tenant ids are bounded and free of control characters (C0, DEL and C1, where NEL splits lines
#: and CSI starts terminal escapes): they end up in token claims, logs and audit trails.
_TENANT_ID = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,256}")

#: The longest raw value handed to a ``lookup`` (a signed cookie fits; a megabyte header does not).
MAX_LOOKUP_VALUE = 8192

#: Maps a raw id found in the request to the tenant it names, or None when no such tenant exists.
Lookup = Callable[[str], "Tenant | None"] | Mapping[str, "Tenant"]


@dataclass(frozen=True, init=False)
class Tenant:
    """One customer organisation: its id, the claims locked to it, and what it may embed.

    ``locked_claims`` always win over claims derived from the request (Chartio's ``env.ACCT_ID`` from
    the session can never be overridden by a query parameter): the issuer merges them over whatever
    the claims hook returned. ``resources`` of None means the tenant may embed any resource; otherwise
    only the names listed (and not the bare ``<JWT_TOKEN>``).

    >>> acme = Tenant("acme", locked_claims={"org": 7}, resources=["sales"])
    >>> dict(acme.locked_claims), acme.may_embed("sales"), acme.may_embed(None)
    ({'org': 7}, True, False)

    ``claims`` (keyword and attribute) is the old name of ``locked_claims``: it still works, with a
    ``DeprecationWarning``.
    """

    id: str
    locked_claims: Mapping[str, Any]
    resources: frozenset[str] | None

    def __init__(
        self,
        id: str,
        locked_claims: Mapping[str, Any] | None = None,
        resources: Iterable[str] | None = None,
        *,
        claims: Mapping[str, Any] | None = None,
    ) -> None:
        if claims is not None:
            if locked_claims is not None:
                raise ConfigurationError(
                    "Tenant got both locked_claims= and claims=; pass locked_claims= only"
                )
            warnings.warn(_CLAIMS_RENAMED, DeprecationWarning, stacklevel=2)
            locked_claims = claims
        if not isinstance(id, str) or not _TENANT_ID.fullmatch(id):
            raise ConfigurationError("tenant id must be 1 to 256 printable characters")
        if locked_claims is None:
            locked_claims = {}
        if not isinstance(locked_claims, Mapping):
            raise ConfigurationError(
                f"tenant locked_claims must be a mapping, not {type(locked_claims).__name__}"
            )
        if isinstance(resources, str):
            raise ConfigurationError(f"tenant resources must be a list of names, not {resources!r}")
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "locked_claims", MappingProxyType(dict(locked_claims)))
        object.__setattr__(self, "resources", None if resources is None else frozenset(resources))

    @property
    def claims(self) -> Mapping[str, Any]:
        """Deprecated name of ``locked_claims``."""
        warnings.warn(_CLAIMS_RENAMED, DeprecationWarning, stacklevel=2)
        return self.locked_claims

    def may_embed(self, resource: str | None) -> bool:
        """A tenant limited to named resources gets no token for the bare, unnamed scope: a vendor
        may read a token without a resource as one valid for every resource."""
        return self.resources is None or resource in self.resources


_CLAIMS_RENAMED = "Tenant's claims are now called locked_claims (claims= and .claims will be removed)"


def tenant_of(answer: object) -> Tenant | None:
    """What a resolver answered, as the tenant it names: the one rule every adapter applies.

    A ``Tenant`` is kept, a ``str`` is a tenant id (one that is empty or no valid id names nobody, as
    it would for a built-in: fail closed, no token), ``None`` is no tenant. Anything else is a bug in
    the resolver, raised as ``TokenIssueError`` (the middleware's clean 500).

    >>> tenant_of("acme").id, tenant_of("bad\\nid")
    ('acme', None)
    """
    if answer is None or isinstance(answer, Tenant):
        return answer
    if isinstance(answer, str):
        return _plain_tenant(answer) if answer else None
    raise TokenIssueError(f"the tenant resolver returned {type(answer).__name__}, not Tenant, str or None")


# -- the resolver contract -----------------------------------------------------------------------

#: What the middleware accepts as ``resolver``: a plain callable or an ``async def`` one, answering a
#: ``Tenant``, a tenant id or None.
AnyResolver = (
    Callable[[Request], "Tenant | str | None"] | Callable[[Request], Awaitable["Tenant | str | None"]]
)
#: A resolver as ``as_sync``/``as_async`` hand it on. They pass yours through unchanged, so its answer
#: may still be a ``str``: every caller settles it with ``tenant_of`` (the exchange, the combinators).
SyncResolver = Callable[[Request], "Tenant | None"]
AsyncResolver = Callable[[Request], Awaitable["Tenant | None"]]


@runtime_checkable
class Resolver(Protocol):
    """What a built-in resolver is: it answers a ``Tenant`` or None (yours may answer a ``str`` too)."""

    def __call__(self, request: Request) -> Tenant | None: ...


@lru_cache(maxsize=4096)
def _plain_tenant(raw: str) -> Tenant | None:
    """A tenant that is only an id: immutable, so one object serves every request that names it."""
    return Tenant(raw) if _TENANT_ID.fullmatch(raw) else None


def _tenant_from(raw: str | None, lookup: Lookup | None) -> Tenant | None:
    """Turns a raw value into a Tenant, failing closed on anything malformed or unknown.

    Without a lookup the value *is* the tenant id and must be a valid one. With a lookup the value
    may be anything the lookup understands (a signed session cookie is often longer than an id),
    bounded only so that a huge header never reaches it.
    """
    if not raw:
        return None
    if lookup is None:
        return _plain_tenant(raw)
    if len(raw) > MAX_LOOKUP_VALUE:
        return None
    if isinstance(lookup, Mapping):
        return lookup.get(raw)
    return lookup(raw)


@dataclass(frozen=True)
class _NamedResolver:
    """A built-in resolver: a readable repr, the ``vary`` the middleware reads, and both call styles.

    ``resolve_async`` runs ``resolve`` inline when it cannot block (no lookup, or a mapping), and in
    a worker thread through asgiref otherwise (a lookup may query a database).
    """

    describe: str
    resolve: SyncResolver
    vary: tuple[str, ...]
    resolve_async: AsyncResolver
    #: For ``from_environ``: the key it reads, and the same decision taken from the marked value
    #: alone, so adapters can skip building a request object when nothing else needs one.
    mark_key: str | None = None
    from_mark: Callable[[object], Tenant | None] | None = None
    #: Whether any client can make it name a tenant (Host, path, a header, an unverified cookie).
    reads_client_input: bool = False
    #: Whether ``resolve`` cannot block (no lookup, or a mapping): ASGI then calls it on the loop.
    inline: bool = False

    def __call__(self, request: Request) -> Tenant | None:
        return self.resolve(request)

    def __repr__(self) -> str:
        return f"<tenant resolver {self.describe}>"


def _named(
    describe: str,
    resolve: SyncResolver,
    vary: tuple[str, ...],
    lookup: Lookup | None,
    client_input: bool = False,
) -> _NamedResolver:
    if lookup is None or isinstance(lookup, Mapping):

        async def resolve_inline(request: Request) -> Tenant | None:
            return resolve(request)

        return _NamedResolver(
            describe, resolve, vary, resolve_inline, reads_client_input=client_input, inline=True
        )
    threaded = sync_to_async(resolve, thread_sensitive=False)
    return _NamedResolver(describe, resolve, vary, threaded, reads_client_input=client_input)


def from_environ(
    key: str = ENVIRON_KEY, *, lookup: Lookup | None = None, vary: Sequence[str] = ("Cookie",)
) -> Resolver:
    """The tenant the app itself marked while handling the request (``environ[key]``).

    The value may be a ``Tenant`` or a tenant id. ``vary`` names what the app derived it from
    (its session cookie, by default).
    """

    if isinstance(vary, str):
        raise ConfigurationError(f"vary must be a list of header names, e.g. ['Cookie'], not {vary!r}")

    def from_mark(value: object) -> Tenant | None:
        if isinstance(value, Tenant):
            return value
        return _tenant_from(value if isinstance(value, str) else None, lookup)

    def resolve(request: Request) -> Tenant | None:
        return from_mark(request_environ(request).get(key))

    named = _named(f"from environ[{key!r}]", resolve, tuple(vary), lookup, client_input=False)
    # The mark is exposed even with a lookup callable (``inline`` False: ASGI runs it off the loop).
    return dataclasses.replace(named, mark_key=key, from_mark=from_mark)


# The built-in resolvers live in ``resolvers.py``; ``embed_middleware.tenants`` stays a path for them
# (and for the request readers). Imported last: ``resolvers`` builds on everything above.
from . import embed_request as _embed_request  # noqa: E402
from . import resolver_calls as _calls  # noqa: E402
from . import resolvers as _resolvers  # noqa: E402

_is_async = _calls._is_async
as_sync = _calls.as_sync
as_async = _calls.as_async
as_inline = _calls.as_inline
as_threaded = _calls.as_threaded
is_async_resolver = _calls.is_async_resolver

request_cookie = _embed_request.request_cookie
request_host = _embed_request.request_host
request_path = _embed_request.request_path
first_of = _resolvers.first_of
from_cookie = _resolvers.from_cookie
from_header = _resolvers.from_header
from_path_prefix = _resolvers.from_path_prefix
from_subdomain = _resolvers.from_subdomain
in_main_thread = _resolvers.in_main_thread
reads_client_input = _resolvers.reads_client_input
vary_of = _resolvers.vary_of
UNDECLARED_VARY = _resolvers.UNDECLARED_VARY
require_all = _resolvers.require_all
