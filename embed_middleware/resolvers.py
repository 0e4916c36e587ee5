"""The built-in resolvers and the combinators that join them (re-exported by ``embed_middleware.tenants``).

Each reads one place of the request (a header, a cookie, the Host's subdomain, a path segment, or the
mark your app left: ``from_environ``) and declares ``vary``, the request headers its answer depends on.
A raw value becomes a tenant only if it is a valid tenant id, or, with ``lookup=``, a key your lookup
(a mapping or a function) knows: anything malformed or unknown is no tenant (fail closed).

>>> from werkzeug.test import EnvironBuilder
>>> from werkzeug.wrappers import Request
>>> request = Request(EnvironBuilder("/t/acme/report", "http://globex.example.com/").get_environ())
>>> from_path_prefix("/t/")(request).id, from_subdomain("example.com")(request).id
('acme', 'globex')
>>> require_all(from_path_prefix("/t/"), from_subdomain("example.com"))(request) is None
True
>>> from_subdomain("example.com", lookup={"globex": Tenant("globex", resources=["sales"])})(request).resources
frozenset({'sales'})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import cast

from asgiref.sync import sync_to_async
from werkzeug.wrappers import Request

from .embed_request import EmbedRequest, request_cookie, request_host, request_path
from .errors import ConfigurationError
from .resolver_calls import _is_async, as_async, as_inline, as_sync
from .tenants import (
    AnyResolver,
    Lookup,
    Resolver,
    SyncResolver,
    Tenant,
    _named,
    _NamedResolver,
    _tenant_from,
    from_environ,
    tenant_of,
)

__all__ = [
    "first_of",
    "from_cookie",
    "from_environ",
    "from_header",
    "from_path_prefix",
    "from_subdomain",
    "in_main_thread",
    "require_all",
]


#: ``Vary`` for a resolver that does not say what it reads: anything about the request may matter.
UNDECLARED_VARY: tuple[str, ...] = ("*",)


def vary_of(resolver: object) -> tuple[str, ...]:
    """The request headers a resolver's answer depends on, as the resolver declares them (``vary``).

    Built-ins declare theirs. A function of your own could read anything (the session cookie,
    ``Authorization``, ``Host``, the client's address), so guessing one header would make a false
    statement to every cache: an undeclared resolver gets ``Vary: *`` ("do not reuse for another
    request"), which is always true. Declare ``my_resolver.vary = ("Cookie",)`` (or pass the
    middleware's ``vary=``) for the precise header list.

    >>> vary_of(lambda request: None), vary_of(from_header("X-Tenant"))
    (('*',), ('X-Tenant',))
    """
    declared = getattr(resolver, "vary", None)
    if declared is None:
        return UNDECLARED_VARY
    if isinstance(declared, str):
        raise ConfigurationError(f"a resolver's vary must be a list of header names, not {declared!r}")
    return tuple(declared)


def reads_client_input(resolver: object) -> bool:
    """Whether a client alone can make ``resolver`` name a tenant: a built-in reading Host, the path, a
    header or an unverified cookie (or a ``first_of`` that falls through to one). A resolver of your own
    is taken to read your session unless it sets ``reads_client_input = True`` itself."""
    return bool(getattr(resolver, "reads_client_input", False))


def _raw_id_resolver(
    describe: str,
    find: Callable[[EmbedRequest], str | None],
    lookup: Lookup | None,
    vary: tuple[str, ...],
    client_input: bool = True,
) -> _NamedResolver:
    return _named(describe, lambda request: _tenant_from(find(request), lookup), vary, lookup, client_input)


def from_header(name: str, *, lookup: Lookup | None = None) -> Resolver:
    """The tenant id a trusted reverse proxy put in a request header.

    Safe only behind a proxy that sets (and overwrites) this header on every request: otherwise any
    client can name any tenant. Pass ``lookup`` to accept only tenants you know.
    """
    return _raw_id_resolver(f"from header {name}", lambda r: r.headers.get(name), lookup, (name,))


def from_subdomain(base_domain: str, *, lookup: Lookup | None = None) -> Resolver:
    """``acme.example.com`` -> ``acme`` for ``base_domain="example.com"``; anything else -> None."""
    suffix = "." + base_domain.lower().strip(".")

    def find(request: EmbedRequest) -> str | None:
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

    def find(request: EmbedRequest) -> str | None:
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


def first_of(*resolvers: AnyResolver) -> Resolver:
    """The first tenant any of ``resolvers`` (sync or async) finds, tried in order."""
    if not resolvers:
        raise ConfigurationError("first_of() needs at least one resolver")
    vary = _merged_vary(resolvers)
    sync_chain = [as_sync(r) for r in resolvers]
    async_chain = [as_async(r) for r in resolvers]

    def resolve(request: Request) -> Tenant | None:
        for resolver in sync_chain:
            tenant = tenant_of(resolver(request))
            if tenant is not None:
                return tenant
        return None

    async def resolve_async(request: Request) -> Tenant | None:
        for resolver in async_chain:
            tenant = tenant_of(await resolver(request))
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
        raise ConfigurationError("require_all() needs at least two resolvers to compare")
    vary = _merged_vary(resolvers)
    sync_chain = [as_sync(r) for r in resolvers]
    async_chain = [as_async(r) for r in resolvers]

    def agreed(found: list[Tenant | None]) -> Tenant | None:
        first = found[0]
        if first is None or any(t is None or t.id != first.id for t in found[1:]):
            return None
        return first

    def resolve(request: Request) -> Tenant | None:
        return agreed([tenant_of(resolver(request)) for resolver in sync_chain])

    async def resolve_async(request: Request) -> Tenant | None:
        return agreed([tenant_of(await resolver(request)) for resolver in async_chain])

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
