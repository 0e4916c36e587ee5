"""Who the request is for: the ``Tenant`` value, the resolver protocol and the built-in resolvers.

A resolver is any callable ``request -> Tenant | None``, or an ``async def`` one, taking a werkzeug
``Request`` (the same type under WSGI and ASGI, so one resolver serves both). ``None`` means
"unknown tenant": the middleware then fails closed and issues no token. Built-ins cover the usual places::

    resolver = from_environ()                                    # the tenant your app's auth marked
    resolver = require_all(session_tenant, from_subdomain("example.com"))   # both must agree

Never let a resolver that reads only what a client sends (Host, path, a header, an unverified cookie)
decide alone who gets a token: ``first_of(from_environ(), from_subdomain(...))`` hands an anonymous
visitor of ``acme.example.com`` acme's token. ``require_all`` makes such a source a check on top of
the session instead. Each built-in carries ``vary``: the request headers its answer depends on,
which the middleware adds to ``Vary`` on every response that carries a token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Protocol, cast, runtime_checkable

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from werkzeug.wrappers import Request

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


@dataclass(frozen=True)
class Tenant:
    """One customer organisation: its id, the claims locked to it, and what it may embed.

    ``claims`` always win over claims derived from the request (Chartio's ``env.ACCT_ID`` from the
    session can never be overridden by a query parameter). ``resources`` of None means the tenant
    may embed any resource; otherwise only the names listed (and not the bare ``<JWT_TOKEN>``).
    """

    id: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    resources: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _TENANT_ID.fullmatch(self.id):
            raise ValueError("tenant id must be 1 to 256 printable characters")
        if not isinstance(self.claims, Mapping):
            raise TypeError(f"tenant claims must be a mapping, not {type(self.claims).__name__}")
        object.__setattr__(self, "claims", MappingProxyType(dict(self.claims)))
        if self.resources is not None:
            object.__setattr__(self, "resources", frozenset(self.resources))

    def may_embed(self, resource: str | None) -> bool:
        """A tenant limited to named resources gets no token for the bare, unnamed scope: a vendor
        may read a token without a resource as one valid for every resource."""
        return self.resources is None or resource in self.resources


SyncResolver = Callable[[Request], "Tenant | None"]
AsyncResolver = Callable[[Request], Awaitable["Tenant | None"]]
#: What the middleware accepts as ``resolver``: a plain callable or an ``async def``.
AnyResolver = SyncResolver | AsyncResolver


@runtime_checkable
class Resolver(Protocol):
    """Finds the tenant of a request. ``vary`` is optional on plain functions."""

    def __call__(self, request: Request) -> Tenant | None: ...


#: ``Vary`` for a resolver that does not say what it reads: anything about the request may matter.
UNDECLARED_VARY = ("*",)


def vary_of(resolver: object) -> tuple[str, ...]:
    """The request headers a resolver's answer depends on, as the resolver declares them (``vary``).

    Built-ins declare theirs. A function of your own could read anything (the session cookie,
    ``Authorization``, ``Host``, the client's address), so guessing one header would make a false
    statement to every cache: an undeclared resolver gets ``Vary: *`` ("do not reuse for another
    request"), which is always true. Declare ``my_resolver.vary = ("Cookie",)`` (or pass the
    middleware's ``vary=``) for the precise header list.
    """
    declared = getattr(resolver, "vary", None)
    if declared is None:
        return UNDECLARED_VARY
    if isinstance(declared, str):
        raise ValueError(f"a resolver's vary must be a list of header names, not {declared!r}")
    return tuple(declared)


# What the built-ins read, from werkzeug's ``Request`` (WSGI, ASGI) or Django's ``HttpRequest`` (the Django
# middleware hands hooks Django's own): both have ``headers.get``; the rest is spelled differently.


def _is_django(request: object) -> bool:
    return hasattr(request, "COOKIES") and hasattr(request, "get_host")


def request_cookie(request: Any, name: str) -> str | None:
    """A cookie's value: werkzeug's ``cookies``, Django's ``COOKIES``."""
    cookies = request.COOKIES if _is_django(request) else request.cookies
    value = cookies.get(name)
    return value if isinstance(value, str) else None


def request_host(request: Any) -> str:
    """The Host (with port): werkzeug's ``host``; Django's ``get_host()``, which checks ALLOWED_HOSTS."""
    host = request.get_host() if _is_django(request) else request.host
    return host if isinstance(host, str) else ""


def request_path(request: Any) -> str:
    """The path inside the app: werkzeug's ``path``; Django's ``path_info`` (``path`` adds SCRIPT_NAME)."""
    path = request.path_info if _is_django(request) else request.path
    return path if isinstance(path, str) else ""


def request_environ(request: Any) -> Mapping[str, Any]:
    """The environ: Django's ``META`` (present under ASGI too), werkzeug's ``environ``."""
    environ = request.META if _is_django(request) else request.environ
    return environ if isinstance(environ, Mapping) else {}


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


def _raw_id_resolver(
    describe: str,
    find: Callable[[Request], str | None],
    lookup: Lookup | None,
    vary: tuple[str, ...],
    client_input: bool = True,
) -> _NamedResolver:
    return _named(describe, lambda request: _tenant_from(find(request), lookup), vary, lookup, client_input)


def reads_client_input(resolver: object) -> bool:
    """Whether a client alone can make ``resolver`` name a tenant: a built-in reading Host, the path, a
    header or an unverified cookie (or a ``first_of`` that falls through to one). A resolver of your own
    is taken to read your session unless it sets ``reads_client_input = True`` itself."""
    return bool(getattr(resolver, "reads_client_input", False))


def _is_async(resolver: object) -> bool:
    # An object whose class defines ``async def __call__`` is as async as an ``async def``.
    return iscoroutinefunction(resolver) or iscoroutinefunction(type(resolver).__call__)


def as_sync(resolver: AnyResolver, timeout: float | None = None) -> SyncResolver:
    """The resolver as a plain call, for WSGI: an ``async def`` one runs through ``async_to_sync``,
    bounded by ``timeout`` seconds (a ``TimeoutError`` then, which the middleware turns into a 500)."""
    if isinstance(resolver, _NamedResolver):
        return resolver.resolve
    if _is_async(resolver):
        run = cast(AsyncResolver, resolver)
        if timeout is None:
            return async_to_sync(run)

        async def bounded(request: Request) -> Tenant | None:
            return await asyncio.wait_for(run(request), timeout)

        return async_to_sync(bounded)
    return cast(SyncResolver, resolver)


def as_async(resolver: AnyResolver) -> AsyncResolver:
    """The resolver as a coroutine, for ASGI: a plain one may block, so it runs in a worker thread.

    Not asgiref's default single shared thread (``thread_sensitive``): one hung resolver would hold up
    every later request behind it, and resolvers gain nothing from sharing a thread.
    """
    if isinstance(resolver, _NamedResolver):
        return resolver.resolve_async
    if _is_async(resolver):
        return cast(AsyncResolver, resolver)
    return sync_to_async(cast(SyncResolver, resolver), thread_sensitive=False)


def as_inline(resolver: AnyResolver) -> SyncResolver | None:
    """The resolver as a plain call that is safe on the event loop (a built-in that cannot block), or
    None: ASGI then calls it inline, with no task, timer or thread."""
    if isinstance(resolver, _NamedResolver) and resolver.inline:
        return resolver.resolve
    return None


def is_async_resolver(resolver: object) -> bool:
    """Whether the resolver is an ``async def`` (or an object with ``async def __call__``)."""
    return not isinstance(resolver, _NamedResolver) and _is_async(resolver)


def in_main_thread(resolver: AnyResolver) -> AnyResolver:
    """The same resolver, run under ASGI in the framework's one sync thread instead of a pool thread.

    Django's ORM keeps a database connection per thread and closes it only in its own request thread:
    a resolver that reads ``request.user`` must run there (asgiref's ``thread_sensitive``), or each pool
    thread would open a connection nobody closes. An ``async def`` resolver is returned unchanged.
    """
    if _is_async(resolver) or isinstance(resolver, _NamedResolver):
        return resolver
    plain = cast(SyncResolver, resolver)
    described = getattr(plain, "__qualname__", repr(plain))
    threaded = sync_to_async(plain, thread_sensitive=True)
    return _NamedResolver(
        described, plain, vary_of(plain), threaded, reads_client_input=reads_client_input(plain)
    )


def from_header(name: str, *, lookup: Lookup | None = None) -> Resolver:
    """The tenant id a trusted reverse proxy put in a request header.

    Safe only behind a proxy that sets (and overwrites) this header on every request: otherwise any
    client can name any tenant. Pass ``lookup`` to accept only tenants you know.
    """
    return _raw_id_resolver(f"from header {name}", lambda r: r.headers.get(name), lookup, (name,))


def from_subdomain(base_domain: str, *, lookup: Lookup | None = None) -> Resolver:
    """``acme.example.com`` -> ``acme`` for ``base_domain="example.com"``; anything else -> None."""
    suffix = "." + base_domain.lower().strip(".")

    def find(request: Request) -> str | None:
        host = request_host(request).lower().rsplit(":", 1)[0]
        if not host.endswith(suffix):
            return None
        label = host[: -len(suffix)]
        return label if label and "." not in label else None

    return _raw_id_resolver(f"from subdomain of {base_domain}", find, lookup, ("Host",))


def from_path_prefix(prefix: str = "/", *, lookup: Lookup | None = None) -> Resolver:
    """The first path segment after ``prefix``: ``/t/acme/report`` -> ``acme`` for ``prefix="/t/"``.

    The URL itself differs per tenant, so nothing needs to be added to ``Vary``.
    """
    start = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"

    def find(request: Request) -> str | None:
        path = request_path(request)
        if not path.startswith(start):
            return None
        return path[len(start) :].split("/", 1)[0] or None

    return _raw_id_resolver(f"from path prefix {start}", find, lookup, ())


def from_cookie(name: str, *, lookup: Lookup | None = None) -> Resolver:
    """The tenant id in a cookie.

    A plain cookie is written by the client: use this only with a ``lookup`` that verifies the value
    (a signed session id, say), never with a bare tenant id a user could change.
    """
    # A lookup function may verify what it reads (a signed session id); a plain value or table cannot.
    verified = lookup is not None and not isinstance(lookup, Mapping)
    return _raw_id_resolver(
        f"from cookie {name}", lambda r: request_cookie(r, name), lookup, ("Cookie",), not verified
    )


def from_environ(
    key: str = ENVIRON_KEY, *, lookup: Lookup | None = None, vary: Sequence[str] = ("Cookie",)
) -> Resolver:
    """The tenant the app itself marked while handling the request (``environ[key]``).

    The value may be a ``Tenant`` or a tenant id. ``vary`` names what the app derived it from
    (its session cookie, by default).
    """

    if isinstance(vary, str):
        raise ValueError(f"vary must be a list of header names, e.g. ['Cookie'], not {vary!r}")

    def from_mark(value: object) -> Tenant | None:
        if isinstance(value, Tenant):
            return value
        return _tenant_from(value if isinstance(value, str) else None, lookup)

    def resolve(request: Request) -> Tenant | None:
        return from_mark(request_environ(request).get(key))

    named = _named(f"from environ[{key!r}]", resolve, tuple(vary), lookup, client_input=False)
    # The mark is exposed even with a lookup callable (``inline`` False: ASGI runs it off the loop).
    return dataclasses.replace(named, mark_key=key, from_mark=from_mark)


def first_of(*resolvers: AnyResolver) -> Resolver:
    """The first tenant any of ``resolvers`` (sync or async) finds, tried in order."""
    if not resolvers:
        raise ValueError("first_of() needs at least one resolver")
    vary = _merged_vary(resolvers)
    sync_chain = [as_sync(r) for r in resolvers]
    async_chain = [as_async(r) for r in resolvers]

    def resolve(request: Request) -> Tenant | None:
        for resolver in sync_chain:
            tenant = resolver(request)
            if tenant is not None:
                return tenant
        return None

    async def resolve_async(request: Request) -> Tenant | None:
        for resolver in async_chain:
            tenant = await resolver(request)
            if tenant is not None:
                return tenant
        return None

    return _NamedResolver(
        f"first of {len(resolvers)}",
        resolve,
        vary,
        resolve_async,
        # An anonymous request falls through to the last resolver: one client-read source is enough.
        reads_client_input=any(map(reads_client_input, resolvers)),
        inline=all(as_inline(r) is not None for r in resolvers),
    )


def require_all(*resolvers: AnyResolver) -> Resolver:
    """The tenant only when every resolver finds one and all name the same id (the first one's Tenant).

    ``require_all(session_tenant, from_subdomain("example.com"))``: a signed-in user of globex visiting
    ``acme.example.com`` gets no token, and an anonymous visitor gets none either.
    """
    if len(resolvers) < 2:
        raise ValueError("require_all() needs at least two resolvers to compare")
    vary = _merged_vary(resolvers)
    sync_chain = [as_sync(r) for r in resolvers]
    async_chain = [as_async(r) for r in resolvers]

    def agreed(found: list[Tenant | None]) -> Tenant | None:
        first = found[0]
        if first is None or any(t is None or t.id != first.id for t in found[1:]):
            return None
        return first

    def resolve(request: Request) -> Tenant | None:
        return agreed([resolver(request) for resolver in sync_chain])

    async def resolve_async(request: Request) -> Tenant | None:
        return agreed([await resolver(request) for resolver in async_chain])

    return _NamedResolver(
        f"require all of {len(resolvers)}",
        resolve,
        vary,
        resolve_async,
        # Only as client-controlled as its most trustworthy member.
        reads_client_input=all(map(reads_client_input, resolvers)),
        inline=all(as_inline(r) is not None for r in resolvers),
    )


def _merged_vary(resolvers: Sequence[AnyResolver]) -> tuple[str, ...]:
    vary: list[str] = []
    for resolver in resolvers:
        vary.extend(h for h in vary_of(resolver) if h.lower() not in {v.lower() for v in vary})
    return tuple(vary)
