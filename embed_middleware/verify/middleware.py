"""Verifying middleware for the embedded app: only requests with a good token reach it.

Wrap the app that serves the charts (the vendor side of a self-hosted embed)::

    app.wsgi_app = VerifyingWSGIMiddleware(app.wsgi_app, verifier=Verifier(keys),
                                           resource=resource_from_path("/embed/"), protect=["/embed/"])
    app = VerifyingASGIMiddleware(app, verifier=Verifier(keys),
                                  resource=resource_from_path("/embed/", suffix=".json"), protect=["/embed/"])

``resource=`` is required: it names the resource each request reads, which the token must grant. A
request for which it names none (a path outside its prefix, an empty or nested segment) is refused
when the token grants scopes. Only ``Verifier(..., unsafe_skip_scope_check=True)`` lets you leave it out.

A rejected request gets a JSON ``{"error": reason}`` (401 with ``WWW-Authenticate: Bearer`` as in
RFC 6750, 403 for a resource the token does not grant, 503 when revocations cannot be checked) and
never reaches the app; a WebSocket handshake on a protected path is verified the same way and
refused with ``websocket.close`` code 1008 (policy violation) before any accept. An accepted one
carries the :class:`VerifiedToken` (WSGI ``environ["embed.verified"]``, ASGI ``scope["embed.verified"]``
and Starlette's ``request.state.embed_verified``), and its query string is rewritten so that every
parameter the token pins replaces whatever the URL said, in any letter case: the app cannot read a
tenant-locked filter from the user.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from werkzeug.wrappers import Request

from ..errors import ConfigurationError
from ..scope_request import ScopeRequest, ascii_query
from ..tenant_keys import TenantKeys
from .locate import DEFAULT_LOCATION, ResourceOf, TokenLocation, lock_query
from .verifier import TokenRejected, VerifiedToken, Verifier

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The ASGI shapes, spelled here: this package never imports the embedding adapters.
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where an accepted token's details are left for the app.
VERIFIED_KEY = "embed.verified"
STATE_KEY = "embed_verified"


def _rejection(error: TokenRejected, method: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The refusal's status, headers and body: no body on HEAD (a server would send it, and the client
    would read it as the next response on the connection)."""
    body = json.dumps({"error": error.reason}).encode()
    extra: list[tuple[str, str]] = []
    if error.status == 401:
        # RFC 6750 3.1: no error code when the request simply had no token.
        challenge = (
            "Bearer"
            if error.reason == "missing_token"
            else f'Bearer error="invalid_token", error_description="{error.reason}"'
        )
        extra.append(("WWW-Authenticate", challenge))
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        # A refusal is about this request's credential: no cache (nginx's included) may keep it.
        ("Cache-Control", "private, no-store"),
        ("X-Accel-Expires", "0"),
        ("X-Content-Type-Options", "nosniff"),
        *extra,
    ]
    return error.status, headers, b"" if method == "HEAD" else body


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"  # only TokenRejected's statuses reach here


def _wsgi_request(environ: WSGIEnvironment) -> Request:
    """A shallow request (no body); stray non-ASCII query bytes are percent-encoded first, as under
    ASGI, so ``request.args`` never raises on what a client typed."""
    query = environ.get("QUERY_STRING", "")
    if not query.isascii():
        environ = {**environ, "QUERY_STRING": ascii_query(query.encode("latin-1")).decode("ascii")}
    return Request(environ, populate_request=False, shallow=True)


class _Gate:
    """What both adapters share: which paths are guarded and how a request is judged.

    Every setting is checked here, at start-up, with a ConfigurationError that says what to add.
    """

    def __init__(
        self,
        verifier: Verifier,
        token_location: TokenLocation,
        resource: ResourceOf | None,
        protect: Sequence[str],
        lock_params: bool,
    ) -> None:
        if not isinstance(verifier, Verifier):
            raise ConfigurationError("verifier must be a Verifier(keys, ...)")
        if not callable(token_location):
            raise ConfigurationError(
                "token_location must be a callable request -> token, e.g. bearer_or_query()"
            )
        if resource is None and not verifier.unsafe_skip_scope_check:
            raise ConfigurationError(
                "resource= is required: it names what each request reads, which the token must grant, "
                "e.g. resource=resource_from_path('/embed/'). (Verifier(..., unsafe_skip_scope_check=True) "
                "serves any scoped token on every protected path instead.)"
            )
        if resource is not None and not callable(resource):
            raise ConfigurationError(
                "resource must be a callable request -> name, e.g. resource_from_path('/embed/')"
            )
        if isinstance(protect, str | bytes) or not isinstance(protect, Sequence) or not protect:
            raise ConfigurationError(
                f"protect must be a list of path prefixes, e.g. ['/embed/'], not {protect!r}"
            )
        if not all(isinstance(prefix, str) and prefix.startswith("/") for prefix in protect):
            raise ConfigurationError(f"protect holds path prefixes starting with '/', not {list(protect)!r}")
        if not isinstance(lock_params, bool):
            raise ConfigurationError("lock_params must be True or False")
        self.verifier = verifier
        self.token_location = token_location
        self.resource = resource
        self.protect = tuple(protect)
        self.lock_params = lock_params
        revocations = verifier.revocations
        # A blocking revocation store, or keys looked up per tenant (a database, a vault), must not
        # run on the event loop.
        keys = verifier.keys
        self.blocking = (revocations is not None and revocations.blocking) or (
            isinstance(keys, TenantKeys) and keys.is_lookup
        )

    def guards(self, path: str) -> bool:
        return any(path.startswith(prefix) for prefix in self.protect)

    def judge(self, request: Request) -> VerifiedToken:
        resource = self.resource(request) if self.resource is not None else None
        return self.verifier.verify(self.token_location(request), resource)


class _Verifying:
    """What both adapters take: the app first, then keyword options (see the module docstring)."""

    def __init__(
        self,
        app: Any,
        /,
        *,
        verifier: Verifier,
        resource: ResourceOf | None = None,
        token_location: TokenLocation | None = None,
        protect: Sequence[str] = ("/",),
        lock_params: bool = True,
    ) -> None:
        self.app = app
        self._gate = _Gate(verifier, token_location or DEFAULT_LOCATION, resource, protect, lock_params)


class VerifyingWSGIMiddleware(_Verifying):
    app: WSGIApplication

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not self._gate.guards(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        try:
            verified = self._gate.judge(_wsgi_request(environ))
        except TokenRejected as error:
            status, headers, body = _rejection(error, str(environ.get("REQUEST_METHOD", "GET")).upper())
            start_response(_status_line(status), headers)
            return [body]
        environ[VERIFIED_KEY] = verified
        if self._gate.lock_params:
            environ["QUERY_STRING"] = lock_query(environ.get("QUERY_STRING", ""), verified.locked)
        return self.app(environ, start_response)


class VerifyingASGIMiddleware(_Verifying):
    app: ASGIApp

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        super().__init__(app, **options)
        # A Redis revocation check blocks: it runs in a worker thread, never on the event loop.
        self._judge = sync_to_async(self._gate.judge, thread_sensitive=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        # The path below the app's mount point, as PATH_INFO is under WSGI: a root path must not hide it.
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        request = ScopeRequest(scope)  # its path is already below the root path
        if not self._gate.guards(request.path):
            await self.app(scope, receive, send)  # paths nobody asked to protect
            return
        try:
            verified = await self._judge(request) if self._gate.blocking else self._gate.judge(request)
        except TokenRejected as error:
            if kind == "websocket":
                await _refuse_websocket(receive, send)
            else:
                await _refuse_http(error, send, str(scope.get("method", "GET")).upper())
            return
        scope = dict(scope)
        scope[VERIFIED_KEY] = verified
        state = scope.get("state")
        if isinstance(state, MutableMapping):
            state[STATE_KEY] = verified
        else:
            scope["state"] = {STATE_KEY: verified}
        if self._gate.lock_params:
            query = scope.get("query_string", b"").decode("latin-1")
            scope["query_string"] = lock_query(query, verified.locked).encode("latin-1")
        await self.app(scope, receive, send)


async def _refuse_http(error: TokenRejected, send: Send, method: str) -> None:
    status, headers, body = _rejection(error, method)
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]  # ASGI: lowercase
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


#: RFC 6455 7.4.1: "policy violation", the code for a refused credential.
WS_POLICY_VIOLATION = 1008


async def _refuse_websocket(receive: Receive, send: Send) -> None:
    """Close before accepting: the ASGI spec has the server answer the handshake with HTTP 403."""
    message = await receive()  # the spec's first message, websocket.connect
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION})
