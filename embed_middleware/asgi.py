"""ASGI adapter: the same embeds for Starlette, FastAPI, Django's ASGI handler, Quart, Litestar…::

    from embed_middleware import EmbedASGIMiddleware, TokenIssuer, from_environ

    app.add_middleware(EmbedASGIMiddleware, issuer=TokenIssuer(), resolver=from_environ())

Pure ASGI, never Starlette's ``BaseHTTPMiddleware``. It translates messages into calls on the same
pure ``Exchange`` the WSGI adapter drives: ``http.response.start`` is held until the first body
output, each body message is rewritten and sent on at once, and every other message type has its own
branch. Only ``http`` scopes are touched; ``websocket`` and ``lifespan`` pass straight through.

When the exchange needs the tenant (a placeholder of the app's completed, or a streamed head must
go out), it says so and this adapter settles it: the app's mark and the built-ins inline, an
``async def`` resolver awaited directly, and only a plain ``def`` one in a worker thread
(``asyncio.to_thread``). So the event loop never blocks on a resolver, and a page costs no task,
timer or thread unless its resolver can block.
"""

from __future__ import annotations

import logging
from typing import Any, Unpack

from asgiref.compatibility import guarantee_single_callable
from werkzeug.wrappers import Request

from ._core.emission import WarnOnce
from .asgi_responder import ASGIApp, Message, Receive, Scope, Send, _ASGIResponder
from .config import AppOptions, EmbedConfig, the_app
from .endpoint import MountedEndpoint, answer_jwks_request
from .placeholders import NONCE_KEY, EmbedContext
from .scope_request import ScopeRequest, app_path

__all__ = [
    "ASGIApp",
    "EmbedASGIMiddleware",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "TokenEndpointASGI",
    "app_path",
    "request_from_scope",
]

logger = logging.getLogger("embed_middleware")


class EmbedASGIMiddleware:
    """Rewrites token placeholders in the wrapped ASGI app's pages; options as in ``EmbedConfig``."""

    def __init__(self, app: Any = None, /, **options: Unpack[AppOptions[Any]]) -> None:
        #: ASGI2 (double-callable) apps are accepted through asgiref's adapter; Litestar's
        #: DefineMiddleware passes the app by keyword (``app=``).
        found, rest = the_app(app, options, "EmbedASGIMiddleware")
        self.app: ASGIApp = guarantee_single_callable(found)
        #: Validated at construction: a bad option fails here, at start-up, not on a request.
        self.config = EmbedConfig.from_options(**rest)
        self._warnings = WarnOnce()
        #: Whether any path is answered here (the token endpoint, the JWKS) rather than by the app.
        self._answers_paths = self.config.token_endpoint is not None or self.config.jwks_path is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET")).upper()
        # Where the app's helpers find this request's nonce (frameworks that copy the scope copy it too).
        context = scope[NONCE_KEY] = EmbedContext(self.config.placeholder_rules)
        if self._answers_paths:
            path = app_path(scope)
            if path == self.config.token_endpoint:
                await _ASGIResponder(scope, self.config, send, self._warnings, method).answer_endpoint(method)
                return
            if path == self.config.jwks_path:
                emission = answer_jwks_request(self.config, method)
                await _ASGIResponder(scope, self.config, send, self._warnings, method).emit_own(emission)
                return
        responder = _ASGIResponder(scope, self.config, send, self._warnings, method, context)
        await self.app(scope, responder.watch(receive), responder.send)
        if responder.may_need_finishing:
            await responder.finish()


class TokenEndpointASGI(MountedEndpoint):
    """The token endpoint as an ASGI app to mount *inside* your app, behind its session and auth::

        app = Starlette(routes=[..., Route("/embed/token", TokenEndpointASGI(issuer=..., resolver=...))],
                        middleware=[Middleware(SessionMiddleware, ...)])
        fastapi_app.add_route("/embed/token", TokenEndpointASGI(issuer=..., resolver=...))

    ``GET ?resource=name`` -> ``{"token", "expires_at", "expires_in"}`` for the tenant ``resolver``
    finds (``request.scope["session"]`` and ``["user"]`` are there, set by the middleware in front of
    the route); options as the middleware's.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError(f"the token endpoint answers HTTP requests, not {scope['type']!r}")
        method = str(scope.get("method", "GET")).upper()
        await _ASGIResponder(scope, self.config, send, self._warnings, method).answer_endpoint(method)


def request_from_scope(scope: Scope) -> Request:
    """A werkzeug ``Request`` over the scope (no body), the same type resolvers get under WSGI.

    The app's tenant mark (``scope["embed.tenant"]`` or Starlette's ``request.state.embed_tenant``)
    is at ``environ["embed.tenant"]`` so ``from_environ`` serves both adapters, and the scope itself
    is at ``environ["asgi.scope"]`` (see scope_request.py for why the environ is built lazily).
    """
    return ScopeRequest(scope)
