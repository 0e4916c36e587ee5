"""The end-to-end floor: a middleware that does nothing but mint one fresh token per request.

It answers one question the wrapped/raw ratios cannot: how much of a framework's throughput a single
fresh token costs on its own, before any rewriting, nonce or head rules. Each request gets the token
the page would carry (same issuer, tenant and resource) in an ``X-Embed-Token`` response header, so
the check before timing can decode it; the body is the raw app's, untouched. Whatever ratio this
pair shows is the most any middleware that mints per response could reach on that framework:
a target above it cannot be met by making the middleware leaner, only by minting less often
(``reuse=``, the reuse rows).

``fastapi_mint_only`` is a factory (``uvicorn --factory``); ``flask_mint_only`` a WSGI app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from embed_middleware import Tenant

from .serving_app import RESOURCE, TENANT, Message, Scope, issuer

HEADER = "X-Embed-Token"


class MintOnlyASGI:
    """Mints one token per HTTP request and hands it on in a header; nothing else."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.issuer = issuer()
        self.tenant = Tenant(TENANT)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        field = (HEADER.lower().encode(), self.issuer.issue(self.tenant, RESOURCE).token.encode())

        async def send_with_token(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), field]}
            await send(message)

        await self.app(scope, receive, send_with_token)


class MintOnlyWSGI:
    """The same for WSGI."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.issuer = issuer()
        self.tenant = Tenant(TENANT)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        token = self.issuer.issue(self.tenant, RESOURCE).token

        def start_with_token(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, (HEADER, token)], exc_info)

        return self.app(environ, start_with_token)


def fastapi_mint_only() -> Any:
    """``uvicorn --factory benchmarks.serving_floor:fastapi_mint_only``: the raw FastAPI app, minting."""
    from .serving_fastapi import fastapi_raw

    app = fastapi_raw()
    app.add_middleware(MintOnlyASGI)
    return app


def _flask_mint_only() -> Any:
    from .serving_wsgi_app import _flask_app

    app = _flask_app(embed=False)
    app.wsgi_app = MintOnlyWSGI(app.wsgi_app)  # type: ignore[method-assign]
    return app


#: ``gunicorn benchmarks.serving_floor:flask_mint_only``: the raw Flask app, minting per request.
flask_mint_only = _flask_mint_only()
