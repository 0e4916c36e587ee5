"""The ASGI adapter's per-response half: one response's messages around its ``Exchange``.

Kept apart from ``asgi.py`` (the middleware and the mountable endpoint) so each stays small: this is
the part that follows the ASGI message sequence, holding ``http.response.start`` until the first body
output, giving every message type its own branch, and meeting the exchange's needs in the request's
own task (see ``_core.drive``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from typing import Any

from ._core.drive import drive_async
from ._core.emission import Emission, WarnOnce, content_headers
from ._core.framing import DeclaredBody, declared_length
from ._core.phase import Need
from ._core.policy import Skip
from ._core.response import Exchange
from .asgi_fields import AppFields, decoded_fields, encoded_fields
from .config import EmbedConfig
from .endpoint import answer_token_request
from .errors import TokenIssueError
from .placeholders import EmbedContext
from .scope_request import ScopeRequest, read_scope_mark

logger = logging.getLogger("embed_middleware")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _ASGIResponder:
    """One response's message bookkeeping around its ``Exchange``."""

    # Per-response state that a pass-through response never changes: class defaults, so JSON and files
    # cost no writes for it (each is set on the instance the first time it changes).
    _built: Exchange | None = None
    _start: Message | None = None
    #: The response is not ours (JSON, files…): every message goes on exactly as the app sent it.
    _untouched = False
    #: Where the app's body ends by its own Content-Length (Quart ends it with an extra message); this
    #: shared one counts nothing and so never changes.
    _declared = DeclaredBody(None)
    #: The client went away (``http.disconnect``, or the server's send failed): an app that stops
    #: then is doing what it should, not leaving its body unfinished.
    _disconnected = False
    #: A page held unstarted, its exchange not built yet: if the app draws no nonce and ends its body
    #: in one message, nothing of its can be an app placeholder and it goes on as the app sent it.
    _pending_page = False
    #: The held page's own Content-Length (None: it declared none).
    _held_length: int | None = None
    #: The app's head fields (decoded -> as sent), once the exchange has them (never mutated: replaced).
    _app_fields: AppFields = {}  # noqa: RUF012

    def __init__(
        self,
        scope: Scope,
        config: EmbedConfig,
        send: Send,
        warnings: WarnOnce,
        method: str = "GET",
        context: EmbedContext | None = None,
    ) -> None:
        self._scope = scope
        self._config = config
        self._server_send = send
        self._warnings = warnings
        self._method = method
        #: This request's nonce holder (None: not a page request, e.g. the token endpoint).
        self._context = context

    @property
    def _exchange(self) -> Exchange:
        """Built on first need: a response left untouched (JSON, files…) never pays for one. A held
        page's exchange starts from the held start."""
        if self._built is None:
            self._built = scope_exchange(
                self._config, self._warnings, self._scope, self._method, self._context
            )
            if self._pending_page:
                self._pending_page = False
                assert self._start is not None
                self._start_exchange(
                    int(self._start["status"]), self._start["headers"], None, self._held_length
                )
        return self._built

    def _start_exchange(
        self, status: int, raw_headers: list[tuple[bytes, bytes]], skip: Skip | None, declared: int | None
    ) -> None:
        """``declared``: the app's Content-Length (``declared_length``), read once by the caller."""
        exchange = self._exchange
        headers, self._app_fields = decoded_fields(raw_headers)
        exchange.start(status, headers, skip)
        if exchange.rewrites:
            self._declared = DeclaredBody(declared)

    async def _send_held_page(self, message: Message) -> bool:
        """A held page whose body arrives whole in this message (ended, at the length it declared):
        sent exactly as the app wrote it if the app drew no nonce (nothing in it can be the app's
        placeholder), else rewritten in one step. False: not whole; the general path takes it (the
        exchange is built then, from the held start)."""
        start = self._start
        assert start is not None and self._context is not None
        if message.get("more_body", False):
            return False
        body = message.get("body", b"")
        if self._held_length is not None and self._held_length != len(body):
            return False
        if not self._context.drawn:
            self._pending_page = False
            self._untouched = True
            try:  # _send, inlined: most pages without an embed end here
                await self._server_send(start)
                await self._server_send(message)
            except OSError:
                self._disconnected = True
                raise
            return True
        exchange = self._exchange
        result = exchange.body(body, final=True)
        if isinstance(result, Need):
            result = await drive_async(exchange, result)
        await self._emit(result, more=False)
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
                try:  # _send, inlined: JSON, files and every other response not ours start here
                    await self._server_send(message)
                except OSError:
                    self._disconnected = True
                    raise
                return
            if skip is None and self._context is not None and config.passes_undrawn:
                # Held: our own copy, so an app that reuses its message or list cannot change it now.
                self._start = {**message, "headers": list(raw_headers)}
                self._held_length = declared_length(raw_headers)
                self._pending_page = True  # the exchange is built only if the page turns out to need one
                return
            self._start_exchange(status, raw_headers, skip, declared_length(raw_headers))
        elif kind == "http.response.body":
            if self._pending_page and await self._send_held_page(message):
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
                "headers": encoded_fields(emission.head.headers, self._app_fields),
            }
            if self._start is not None and self._start.get("trailers") and not self._exchange.failed:
                start["trailers"] = True
            await self._send(start)
        if emission.body or emission.last:
            body: Message = {
                "type": "http.response.body",
                "body": emission.body,
                "more_body": not emission.last,
            }
            try:  # _send, inlined: every rewritten response ends here
                await self._server_send(body)
            except OSError:
                self._disconnected = True
                raise

    @property
    def may_need_finishing(self) -> bool:
        """False when ``finish`` has nothing to do for certain (nothing started, or not ours): the
        adapter then skips awaiting it, which JSON and pages without an embed would pay for."""
        return self._start is not None and not self._untouched

    async def finish(self) -> None:
        """The app returned: if it never ended its body, end it, so held-back bytes are not lost."""
        if not self.may_need_finishing:
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
