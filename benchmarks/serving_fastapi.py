"""The routes of ``serving_app`` as FastAPI apps, one per resolver kind, for ``uvicorn --factory``.

``fastapi_raw`` is the floor; ``fastapi_wrapped`` adds the middleware with ``from_environ()`` (the
README's quick start), ``fastapi_wrapped_header`` with ``from_header("X-Tenant")``,
``fastapi_wrapped_async`` with an ``async def`` resolver and ``fastapi_wrapped_def`` with a plain
``def`` one (which the middleware must keep off the event loop). Each factory imports FastAPI only when
called, so this module (and the in-process rows, which share its resolvers) loads without FastAPI.
"""

# No ``from __future__ import annotations``: FastAPI resolves a view's annotations in the module's
# globals, and the FastAPI names here are imported inside the factory, so they must be real objects.
from collections.abc import Callable
from typing import Any

from embed_middleware import EmbedASGIMiddleware, Tenant, embed_placeholder, from_environ, from_header

from .serving_app import ROUTES, TENANT, Page, issuer, write_stand_in

#: The header a trusted proxy sets with the tenant id: every wrk run and check sends it, to both sides.
TENANT_HEADER = "X-Tenant"


def tenant_of(request: Any) -> Tenant | None:
    """A plain ``def`` resolver as users write one (the middleware runs it off the event loop)."""
    value = request.headers.get(TENANT_HEADER)
    return Tenant(value) if value else None


async def async_tenant_of(request: Any) -> Tenant | None:
    """The same as an ``async def`` resolver (awaited on the event loop)."""
    return tenant_of(request)


#: The resolver kinds the FastAPI pairs are run with, by name.
RESOLVERS: dict[str, Callable[[], Any]] = {
    "environ": from_environ,
    "header": lambda: from_header(TENANT_HEADER),
    "def": lambda: tenant_of,
    "async": lambda: async_tenant_of,
}


def _fastapi_app(*, embed: bool, resolver: str = "environ") -> Any:
    """The same routes as a FastAPI app: what a real user's app costs per request. Every view marks
    the tenant on ``request.state`` (a resolver other than ``from_environ()`` ignores the mark)."""
    from fastapi import FastAPI, Request, Response

    app = FastAPI()
    write = embed_placeholder if embed else write_stand_in

    def route(path: str, content_type: str, page: Page, mark: bool) -> None:
        async def view(request: Request) -> Response:
            if mark:
                request.state.embed_tenant = TENANT
            return Response(page.render(write, request), media_type=content_type)

        app.add_api_route(path, view, methods=["GET"], name=path)

    for path, served in ROUTES.items():
        route(path, served.content_type, served.page, served.mark)
    if embed:
        app.add_middleware(EmbedASGIMiddleware, issuer=issuer(), resolver=RESOLVERS[resolver]())
    return app


def fastapi_raw() -> Any:
    """``uvicorn --factory benchmarks.serving_fastapi:fastapi_raw``: the floor of the FastAPI rows."""
    return _fastapi_app(embed=False)


def fastapi_wrapped() -> Any:
    """``uvicorn --factory benchmarks.serving_fastapi:fastapi_wrapped``: the app with the middleware."""
    return _fastapi_app(embed=True)


def fastapi_wrapped_header() -> Any:
    """The wrapped FastAPI app with ``from_header("X-Tenant")``."""
    return _fastapi_app(embed=True, resolver="header")


def fastapi_wrapped_def() -> Any:
    """The wrapped FastAPI app with a plain ``def`` resolver."""
    return _fastapi_app(embed=True, resolver="def")


def fastapi_wrapped_async() -> Any:
    """The wrapped FastAPI app with an ``async def`` resolver."""
    return _fastapi_app(embed=True, resolver="async")
