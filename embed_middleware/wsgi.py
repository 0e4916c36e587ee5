"""WSGI adapter: wrap any WSGI app (Flask, Django, Bottle, Pyramid…) once::

    from embed_middleware import EmbedWSGIMiddleware, TokenIssuer, from_environ

    app.wsgi_app = EmbedWSGIMiddleware(app.wsgi_app, issuer=TokenIssuer(), resolver=from_environ())

The adapter translates PEP 3333 into calls on the pure ``Exchange``: it defers the server's
``start_response`` until the first non-empty output (so headers can still change), reading the app's
body up to that output before its own call returns (granian reads the head at that moment), honours
``exc_info`` and the legacy ``write()`` callable, always closes the app's iterable, and hands
responses it will not rewrite (JSON, files through ``wsgi.file_wrapper``) to the server untouched.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, Unpack

from werkzeug.wrappers import Request
from werkzeug.wsgi import ClosingIterator

from ._core.drive import drive_sync
from ._core.emission import Emission, WarnOnce, content_headers, status_line
from ._core.framing import DeclaredBody, declared_length
from ._core.response import Exchange
from ._core.streams import close_app_iter, close_subclass, closers
from .config import AppOptions, EmbedConfig, the_app
from .endpoint import MountedEndpoint, answer_jwks_request, answer_token_request
from .placeholders import NONCE_KEY, EmbedContext
from .scope_request import ascii_query

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger("embed_middleware")
#: What priming the body stream gives back when the app wrote nothing at all.
_ENDED: Any = object()


class EmbedWSGIMiddleware:
    """Rewrites token placeholders in the wrapped app's pages; options as in ``EmbedConfig``."""

    def __init__(
        self, app: WSGIApplication | None = None, /, **options: Unpack[AppOptions[WSGIApplication]]
    ) -> None:
        #: The app may come by keyword too (``app=``), as factories pass it.
        self.app: WSGIApplication
        self.app, rest = the_app(app, options, "EmbedWSGIMiddleware")
        #: Validated at construction: a bad option fails here, at start-up, not on a request.
        self.config = EmbedConfig.from_options(**rest)
        self._warnings = WarnOnce()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        # Where the app's helpers find this request's nonce (an inner embed middleware replaces it).
        context = environ[NONCE_KEY] = EmbedContext(self.config.placeholder_rules)
        path = environ.get("PATH_INFO")
        if path is not None and path in (self.config.token_endpoint, self.config.jwks_path):
            if path == self.config.token_endpoint:
                emission = answer_token_request(
                    environ_exchange(self.config, self._warnings, environ, method, context),
                    self.config,
                    method,
                )
            else:
                emission = answer_jwks_request(self.config, method)
            assert emission.head is not None
            start_response(status_line(emission.head.status), emission.head.headers)
            return [emission.body]
        responder = _WSGIResponder(self.config, self._warnings, environ, method, start_response, context)
        return responder.respond(self.app, environ)


class TokenEndpointWSGI(MountedEndpoint):
    """The token endpoint as a WSGI app to mount *inside* your app, behind its session and auth::

        app = DispatcherMiddleware(app, {"/embed/token": TokenEndpointWSGI(issuer=..., resolver=...)})

    ``GET ?resource=name`` -> ``{"token", "expires_at", "expires_in"}`` for the tenant ``resolver``
    finds; options as the middleware's. Mounted where your app's own middleware (sessions, login) has
    already run, the resolver sees who is asking, which an endpoint intercepted in front of the app cannot.
    """

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        exchange = environ_exchange(self.config, self._warnings, environ, method)
        emission = answer_token_request(exchange, self.config, method)
        assert emission.head is not None
        start_response(status_line(emission.head.status), emission.head.headers)
        return [emission.body]


class _WSGIResponder:
    """One request's PEP 3333 bookkeeping around its ``Exchange``."""

    def __init__(
        self,
        config: EmbedConfig,
        warnings: WarnOnce,
        environ: WSGIEnvironment,
        method: str,
        start_response: StartResponse,
        context: EmbedContext,
    ) -> None:
        self._warnings = warnings
        self._environ = environ
        self._built: Exchange | None = None
        self._context = context
        #: A page's start held before its exchange is built: if the app drew no nonce by the time it
        #: returns its whole body as a list, nothing in it can be an app placeholder (see ``respond``).
        self._pending: tuple[int, list[tuple[str, str]], int | None] | None = None
        self._config = config
        self._method = method
        self._upstream = start_response
        #: The response is not ours (JSON, files…): the server gets the app's calls and iterable as-is.
        self._untouched = False
        self._upstream_write: Any = None
        self._status_text = ""
        self._started = False
        #: Body bytes counted against the app's Content-Length; a restart (exc_info) starts again.
        self._declared = DeclaredBody(None)

    @property
    def _exchange(self) -> Exchange:
        if self._built is None:
            # Built on first need: a response left untouched (JSON, files…) never pays for one.
            exchange = self._built = environ_exchange(
                self._config, self._warnings, self._environ, self._method, self._context
            )
            if self._pending is not None:
                (code, headers, declared), self._pending = self._pending, None
                exchange.start(code, headers, None)
                self._declared = DeclaredBody(declared)
        return self._built

    def respond(self, app: WSGIApplication, environ: WSGIEnvironment) -> Iterable[bytes]:
        app_iter = app(environ, self._start_response)
        if self._untouched:
            return app_iter
        if self._pending is not None and isinstance(app_iter, list | tuple):
            whole = self._whole_page(app_iter)
            if whole is not None:
                return whole
        exchange = self._exchange
        if self._started and exchange.passes and not exchange.head_sent:
            # Not ours to rewrite: let the server have the app's iterable itself (sendfile and all).
            emission = drive_sync(exchange, exchange.head_now())
            try:
                self._send_head(emission)
            except BaseException:
                close_app_iter(app_iter)
                raise
            if not exchange.failed:
                return app_iter
            close_app_iter(app_iter)
            return [emission.body]
        # Some servers (granian) read the status and headers as soon as this call returns, before
        # iterating: PEP 3333 lets start_response wait for the first output, they do not. So the body
        # is read here up to its first output, which is when the head is decided and sent (a server
        # that waits would have waited for that same output), and the rest streams as before.
        stream = self._stream(app_iter)
        if isinstance(app_iter, list | tuple):
            try:
                return list(stream)  # the whole body is here already
            finally:
                close_subclass(app_iter)
        try:
            first = next(stream, _ENDED)
        except BaseException:
            close_app_iter(app_iter)
            raise
        rest: Iterable[bytes] = stream if first is _ENDED else itertools.chain((first,), stream)
        return ClosingIterator(rest, closers(app_iter))

    def _whole_page(self, app_iter: list[bytes] | tuple[bytes, ...]) -> Iterable[bytes] | None:
        """A held page whose whole body is here (a list or tuple) at the length it declared: sent as the
        app wrote it if the app drew no nonce (nothing in it can be the app's placeholder), else, when it
        is one chunk, rewritten in one step. None: the general path takes it."""
        assert self._pending is not None
        _, headers, declared = self._pending
        if not self._context.drawn:
            if declared is not None and declared != sum(map(len, app_iter)):
                return None
            self._upstream(self._status_text, headers)
            return app_iter
        if len(app_iter) != 1 or (declared is not None and declared != len(app_iter[0])):
            return None  # many chunks stream through (never joined: memory stays flat), a short body is cut
        exchange = self._exchange  # built and started from the held start
        try:
            emission = drive_sync(exchange, exchange.body(app_iter[0], final=True))
            self._send_head(emission)
        finally:
            close_subclass(app_iter)
        return [emission.body] if emission.body else []

    def _start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Any:
        if self._untouched:
            return self._upstream(status, headers, exc_info)
        if exc_info is not None and exc_info[0] is not None:
            try:
                exchange = self._built
                if exchange is not None and exchange.head_sent:
                    if exchange.passes and not exchange.failed:
                        return self._upstream(status, headers, exc_info)
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self._started:
            raise AssertionError("start_response called a second time without exc_info (PEP 3333)")
        first_call = not self._started
        self._started = True
        self._status_text = status
        try:
            code = int(status.split(" ", 1)[0])
        except ValueError:
            raise ValueError(f"invalid WSGI status {status!r}") from None
        config = self._config
        skip = config.policy.skip_reason(self._method, code, *content_headers(headers))
        if first_call and config.untouched_by(skip):
            self._untouched = True
            return self._upstream(status, headers)
        if skip is None and config.passes_undrawn and self._built is None:
            self._pending = (code, headers, declared_length(headers))  # the exchange is built only if needed
            return self._write
        self._pending = None
        exchange = self._exchange
        exchange.start(code, headers, skip)
        self._declared = DeclaredBody(declared_length(headers) if exchange.rewrites else None)
        return self._write

    def _write(self, data: bytes) -> None:
        """The legacy ``write()`` callable: its bytes must reach the server before it returns."""
        emission = drive_sync(self._exchange, self._exchange.body(data, final=False))
        self._send_head(emission)
        if emission.body:
            self._upstream_write(emission.body)

    def _send_head(self, emission: Emission) -> None:
        if emission.head is None:
            return
        status = emission.head.status
        text = self._status_text if self._status_text.startswith(f"{status} ") else status_line(status)
        self._upstream_write = self._upstream(text, emission.head.headers)

    def _stream(self, app_iter: Iterable[bytes]) -> Iterator[bytes]:
        exchange = self._exchange
        count = len(app_iter) if isinstance(app_iter, list | tuple) else None
        for index, chunk in enumerate(app_iter):
            if not self._started:
                raise AssertionError("the app yielded body bytes before calling start_response")
            if self._untouched:  # start_response came lazily, during the first iteration
                yield chunk
                continue
            chunk, final = self._declared.clip(chunk, count is not None and index == count - 1)
            emission = drive_sync(exchange, exchange.body(chunk, final=final))
            self._send_head(emission)
            if emission.body:
                yield emission.body
            if emission.last:
                return
        if not self._started:
            raise AssertionError("the app returned without calling start_response")
        if self._untouched:
            return  # its head went to the server as the app sent it: nothing of ours to end
        emission = drive_sync(exchange, exchange.body(b"", final=True))
        self._send_head(emission)
        if emission.body:
            yield emission.body


def environ_exchange(
    config: EmbedConfig,
    warnings: WarnOnce,
    environ: WSGIEnvironment,
    method: str,
    context: EmbedContext | None = None,
) -> Exchange:
    """A request's exchange, built only for a response the middleware may touch (never for JSON)."""
    return Exchange(config, method, partial(shallow_request, environ), warnings, environ.get, context)


def shallow_request(environ: WSGIEnvironment) -> Request:
    """A shallow request for hooks; stray non-ASCII query bytes are percent-encoded first (as the ASGI
    side does), so ``request.args`` never raises on what a client typed."""
    query = environ.get("QUERY_STRING", "")
    if not query.isascii():
        environ = {**environ, "QUERY_STRING": ascii_query(query.encode("latin-1")).decode("ascii")}
    return Request(environ, populate_request=False, shallow=True)
