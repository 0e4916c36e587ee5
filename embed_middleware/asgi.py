"""ASGI adapter: the same embeds for Starlette, FastAPI, Django's ASGI handler, Quart, Litestar…::

    from embed_middleware import EmbedASGIMiddleware, TokenIssuer, from_environ

    app.add_middleware(EmbedASGIMiddleware, issuer=TokenIssuer(), resolver=from_environ())

Pure ASGI, never Starlette's ``BaseHTTPMiddleware``. It translates messages into calls on the same
pure ``Exchange`` the WSGI adapter drives: ``http.response.start`` is held until the first body
output, each body message is rewritten and sent on at once, and every other message type has its own
branch. Only ``http`` scopes are touched; ``websocket`` and ``lifespan`` pass straight through.

When the exchange needs the tenant (a placeholder of the app's completed, or a streamed head must
go out), it says so and this adapter settles it: the app's mark and the built-ins inline, an
``async def`` resolver awaited directly, and only a plain ``def`` one in a worker thread through
asgiref. So the event loop never blocks on a resolver, and a page costs no task, timer or thread
unless its resolver can block.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from typing import Any, Unpack

from asgiref.compatibility import guarantee_single_callable
from werkzeug.wrappers import Request

from ._core.drive import drive_async
from ._core.emission import Emission, WarnOnce, content_headers
from ._core.framing import DeclaredBody, declared_length
from ._core.phase import Need
from ._core.policy import Skip
from ._core.response import Exchange
from .config import AppOptions, EmbedConfig, the_app
from .endpoint import MountedEndpoint, answer_jwks_request, answer_token_request
from .errors import TokenIssueError
from .placeholders import NONCE_KEY, EmbedContext
from .scope_request import ScopeRequest, app_path, read_scope_mark

__all__ = ["EmbedASGIMiddleware", "TokenEndpointASGI", "app_path", "request_from_scope"]

logger = logging.getLogger("embed_middleware")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET")).upper()
        # Where the app's helpers find this request's nonce (frameworks that copy the scope copy it too).
        context = scope[NONCE_KEY] = EmbedContext(self.config.placeholder_rules)
        make = partial(scope_exchange, self.config, self._warnings, scope, method, context)
        if self.config.token_endpoint is not None or self.config.jwks_path is not None:
            path = app_path(scope)
            if path == self.config.token_endpoint:
                await _ASGIResponder(make, self.config, send, self._warnings).answer_endpoint(method)
                return
            if path == self.config.jwks_path:
                emission = answer_jwks_request(self.config, method)
                await _ASGIResponder(make, self.config, send, self._warnings).emit_own(emission)
                return
        responder = _ASGIResponder(make, self.config, send, self._warnings, method, context)
        await self.app(scope, responder.watch(receive), responder.send)
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
        make = partial(scope_exchange, self.config, self._warnings, scope, method)
        await _ASGIResponder(make, self.config, send, self._warnings).answer_endpoint(method)


class _ASGIResponder:
    """One response's message bookkeeping around its ``Exchange``."""

    def __init__(
        self,
        make_exchange: Callable[[], Exchange],
        config: EmbedConfig,
        send: Send,
        warnings: WarnOnce,
        method: str = "GET",
        context: EmbedContext | None = None,
    ) -> None:
        #: Built on first need: a response left untouched (JSON, files…) never pays for one.
        self._make_exchange = make_exchange
        self._built: Exchange | None = None
        self._config = config
        self._server_send = send
        self._warnings = warnings
        self._method = method
        self._start: Message | None = None
        #: The response is not ours (JSON, files…): every message goes on exactly as the app sent it.
        self._untouched = False
        #: Where the app's body ends by its own Content-Length (Quart ends it with an extra message).
        self._declared = DeclaredBody(None)
        #: The client went away (``http.disconnect``, or the server's send failed): an app that stops
        #: then is doing what it should, not leaving its body unfinished.
        self._disconnected = False
        #: This request's nonce holder (None: not a page request, e.g. the token endpoint).
        self._context = context
        #: A page held unstarted, its exchange not built yet: if the app draws no nonce and ends its body
        #: in one message, nothing of its can be an app placeholder and it goes on as the app sent it.
        self._pending_page = False

    @property
    def _exchange(self) -> Exchange:
        if self._built is None:
            self._built = self._make_exchange()
            if self._pending_page:
                self._pending_page = False
                assert self._start is not None
                self._start_exchange(int(self._start["status"]), self._start["headers"], None)
        return self._built

    def _start_exchange(self, status: int, raw_headers: list[tuple[bytes, bytes]], skip: Skip | None) -> None:
        exchange = self._exchange
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers]
        exchange.start(status, headers, skip)
        self._declared = DeclaredBody(declared_length(raw_headers) if exchange.rewrites else None)

    async def _pass_undrawn(self, message: Message) -> bool:
        """Sends a held page exactly as the app wrote it when nothing in it can be the app's placeholder:
        the app drew no nonce and this message ends a body of the length it declared. False: the page
        needs its exchange after all (built now, from the held start)."""
        assert self._start is not None and self._context is not None
        if self._context.drawn or message.get("more_body", False):
            return False
        declared = declared_length(self._start["headers"])
        if declared is not None and declared != len(message.get("body", b"")):
            return False
        self._pending_page = False
        self._untouched = True
        await self._send(self._start)
        await self._send(message)
        return True

    def watch(self, receive: Receive) -> Receive:
        """The server's ``receive``, noting an ``http.disconnect`` the app is told about."""

        async def watched() -> Message:
            message = await receive()
            if message.get("type") == "http.disconnect":
                self._disconnected = True
            return message

        return watched

    async def _send(self, message: Message) -> None:
        try:
            await self._server_send(message)
        except OSError:  # uvicorn's ClientDisconnected and the servers' socket errors
            self._disconnected = True
            raise

    async def send(self, message: Message) -> None:
        if self._untouched:  # _send, inlined: this is every pass-through message's path
            try:
                await self._server_send(message)
            except OSError:
                self._disconnected = True
                raise
            return
        kind = message["type"]
        if kind == "http.response.start":
            if self._start is not None:
                # As uvicorn would: a second start is an app bug, never a silent replacement.
                raise RuntimeError("the app sent http.response.start twice")
            # Any iterable will do (the spec); Sanic sends a generator, which can be read only once.
            raw_headers = message.get("headers", ())
            if type(raw_headers) is not list and type(raw_headers) is not tuple:
                raw_headers = list(raw_headers)
                message = {**message, "headers": raw_headers}
            self._start = message
            status = int(message["status"])
            config = self._config
            skip = config.policy.skip_reason(self._method, status, *content_headers(raw_headers))
            if config.untouched_by(skip):
                self._untouched = True
                await self._send(message)
                return
            if skip is None and self._context is not None and config.passes_undrawn:
                # Held: our own copy, so an app that reuses its message or list cannot change it now.
                self._start = {**message, "headers": list(raw_headers)}
                self._pending_page = True  # the exchange is built only if the page turns out to need one
                return
            self._start_exchange(status, raw_headers, skip)
        elif kind == "http.response.body":
            if self._pending_page and await self._pass_undrawn(message):
                return
            exchange = self._exchange
            if exchange.failed:
                return
            if exchange.passes and exchange.head_sent:
                await self._send(message)
                if not message.get("more_body", False):
                    exchange.body(b"", final=True)  # records the end, so finish() adds nothing
                return
            if exchange.done:
                return  # the body already ended at its declared length: an empty final message adds nothing
            chunk, final = self._declared.clip(message.get("body", b""), not message.get("more_body", False))
            await self._feed(chunk, more=not final)
        elif kind in ("http.response.pathsend", "http.response.zerocopysend"):
            # A file the server sends itself: zero-copy matters more than rewriting it, so it goes
            # through untouched (its head still gets the header token and cache rules).
            exchange = self._exchange
            if exchange.failed:
                return
            if not exchange.head_sent:
                if exchange.rewrites:
                    self._warnings.warn(
                        kind,
                        f"an HTML response was sent with {kind} and is not rewritten; "
                        "send pages with placeholders as ordinary body messages",
                    )
                exchange.leave_body_untouched()
                emission = await drive_async(exchange, exchange.head_now())
                if exchange.failed:
                    await self._emit(emission, more=False)
                    return
                await self._emit(emission, more=True)
            await self._send(message)
        elif kind == "http.response.trailers":
            if not self._exchange.failed:
                await self._send(message)
        elif kind == "http.response.early_hint":
            # 103 Early Hints go out before the response proper; nothing of ours is in them.
            await self._send(message)
        else:
            await self._send(message)

    async def _feed(self, chunk: bytes, *, more: bool) -> None:
        exchange = self._exchange
        result = exchange.body(chunk, final=not more)
        if isinstance(result, Need):
            result = await drive_async(exchange, result)
        await self._emit(result, more=more)

    async def _emit(self, emission: Emission, *, more: bool) -> None:
        if emission.head is not None:
            start: Message = {
                "type": "http.response.start",
                "status": emission.head.status,
                # ASGI header names are lowercase (the spec); werkzeug gave us canonical case.
                "headers": [
                    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in emission.head.headers
                ],
            }
            if self._start is not None and self._start.get("trailers") and not self._exchange.failed:
                start["trailers"] = True
            await self._send(start)
        if emission.body or emission.last:
            await self._send(
                {"type": "http.response.body", "body": emission.body, "more_body": not emission.last}
            )

    async def finish(self) -> None:
        """The app returned: if it never ended its body, end it, so held-back bytes are not lost."""
        if self._start is None or self._untouched:
            return
        if self._exchange.done or self._exchange.failed:
            return
        if self._disconnected:
            # The client left and the app stopped, as it should: nobody is there to finish it for.
            logger.debug("the client disconnected before the response body ended")
            return
        logger.warning("the app returned without finishing its response body; finishing it")
        await self._feed(b"", more=False)

    async def emit_own(self, emission: Emission) -> None:
        await self._emit(emission, more=False)

    async def answer_endpoint(self, method: str) -> None:
        exchange = self._exchange
        try:
            await exchange.tokens.settle()
        except TokenIssueError as error:
            await self._emit(exchange.failure(error), more=False)
            return
        await self._emit(answer_token_request(exchange, self._config, method), more=False)


def scope_exchange(
    config: EmbedConfig, warnings: WarnOnce, scope: Scope, method: str, context: EmbedContext | None = None
) -> Exchange:
    """A request's exchange, built only for a response the middleware may touch (never for JSON)."""
    return Exchange(
        config,
        method,
        partial(ScopeRequest, scope),
        warnings,
        partial(read_scope_mark, scope),
        context,
        resolves_inline=False,
    )


def request_from_scope(scope: Scope) -> Request:
    """A werkzeug ``Request`` over the scope (no body), the same type resolvers get under WSGI.

    The app's tenant mark (``scope["embed.tenant"]`` or Starlette's ``request.state.embed_tenant``)
    is at ``environ["embed.tenant"]`` so ``from_environ`` serves both adapters, and the scope itself
    is at ``environ["asgi.scope"]`` (see scope_request.py for why the environ is built lazily).
    """
    return ScopeRequest(scope)
