"""How each adapter calls a resolver: WSGI as a plain call, ASGI as a coroutine, inline on the loop,
or in a worker thread. One place decides which resolver takes which path (``config`` asks it once).

``embed_middleware.tenants`` re-exports these (``as_sync``/``as_async`` are documented there).
"""

from __future__ import annotations

import asyncio
from typing import cast

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from werkzeug.wrappers import Request

from .tenants import AnyResolver, AsyncResolver, SyncResolver, Tenant, _NamedResolver


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


def as_threaded(resolver: AnyResolver) -> SyncResolver | None:
    """A plain ``def`` resolver of the app's, which ASGI runs in a worker thread; None for anything
    else (an ``async def``, a built-in: each has its own path, and ``in_main_thread`` keeps asgiref)."""
    if isinstance(resolver, _NamedResolver) or _is_async(resolver):
        return None
    return cast(SyncResolver, resolver)


def is_async_resolver(resolver: object) -> bool:
    """Whether the resolver is an ``async def`` (or an object with ``async def __call__``)."""
    return not isinstance(resolver, _NamedResolver) and _is_async(resolver)
