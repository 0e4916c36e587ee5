"""A werkzeug ``Request`` read straight from an ASGI scope, its WSGI environ built only if asked for.

Resolvers and claims hooks get the same ``Request`` type under ASGI as under WSGI. asgiref builds a
faithful environ from a scope, but building it (and werkzeug's environ-backed request over it) costs
more per page than the rest of the middleware's head bookkeeping; most hooks only read the path, the
query, headers or cookies, which werkzeug's sans-I/O request takes as plain values. So this request
is constructed from those values, and ``request.environ`` (asgiref's, with the app's tenant mark and
``asgi.scope`` added) is built on first access and kept.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from asgiref.wsgi import WsgiToAsgiInstance
from werkzeug.datastructures import Headers
from werkzeug.sansio.request import Request as SansIORequest
from werkzeug.wrappers import Request

from .tenants import ENVIRON_KEY

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


#: Where a Starlette/FastAPI app marks its tenant: ``request.state.embed_tenant = Tenant(...)``.
STATE_KEY = "embed_tenant"


def read_scope_mark(scope: MutableMapping[str, Any], key: str = ENVIRON_KEY) -> object:
    """The app's mark in a scope: ``scope[key]``, else the Starlette state (``embed_tenant`` for the
    standard key, the key itself for another). Used by ``TenantMark`` (the one owner of the shortcut)
    and by the environ built for hooks; here because the verifying side shares this module."""
    mark = scope.get(key)
    if mark is None:
        state = scope.get("state")
        if type(state) is dict or isinstance(state, MutableMapping):
            mark = state.get(STATE_KEY if key == ENVIRON_KEY else key)
    return mark


def app_path(scope: MutableMapping[str, Any]) -> str:
    """The path inside the app: ``path`` without the ``root_path`` it is mounted under (the one rule
    for every ASGI path check: the endpoints, the verifier's gate, the resolvers' request)."""
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


#: Stands for the headers until something asks for them.
_UNBUILT = Headers()


class ScopeRequest(Request):
    """A shallow request (no body) over an ASGI scope."""

    _fields: Headers

    def __init__(self, scope: MutableMapping[str, Any]) -> None:
        self.scope = scope
        client = scope.get("client")
        server = scope.get("server")
        SansIORequest.__init__(
            self,
            method=str(scope.get("method", "GET")),
            scheme=str(scope.get("scheme", "http")),
            server=(server[0], server[1]) if server else None,
            root_path=str(scope.get("root_path", "")),
            path=app_path(scope),
            query_string=ascii_query(bytes(scope.get("query_string", b""))),
            headers=_UNBUILT,  # built on first access: a default claims hook never reads them
            remote_addr=client[0] if client else None,
        )
        self.shallow = True
        self._environ: WSGIEnvironment | None = None

    @property
    def headers(self) -> Headers:
        if self._fields is _UNBUILT:
            self._fields = _headers(self.scope)
        return self._fields

    @headers.setter
    def headers(self, value: Headers) -> None:
        self._fields = value

    @property
    def environ(self) -> WSGIEnvironment:  # type: ignore[override]
        if self._environ is None:
            self._environ = environ_from_scope(self.scope)
        return self._environ


#: Printable ASCII: what a browser leaves unescaped in a query string.
_QUERY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


def ascii_query(query: bytes) -> bytes:
    """Stray non-ASCII bytes percent-encoded, as a browser would (and asgiref insists on)."""
    return query if query.isascii() else quote(query, safe=_QUERY_SAFE).encode("ascii")


class _CheckedHeaders(Headers):
    """werkzeug's ``Headers`` over fields already checked here (no CR, LF or NUL; names decoded), so
    that a page's request does not pay for ``Headers.add`` validating each field a second time."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._list = fields


def _headers(scope: MutableMapping[str, Any]) -> Headers:
    """Fields as a WSGI server would present them: repeats joined with "," (cookies with "; ")."""
    raw = list(scope.get("headers", ()))
    values = b"".join([value for _, value in raw])
    fields = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]
    if (
        b"\r" in values
        or b"\n" in values
        or b"\0" in values
        or len({name.lower() for name, _ in fields}) != len(fields)
    ):
        fields = _joined_fields(raw)
    return _CheckedHeaders(fields)


def _joined_fields(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The fields of a request that repeats a name or carries a forbidden byte (the rare case)."""
    joined: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for raw_name, raw_value in raw:
        if b"\r" in raw_value or b"\n" in raw_value or b"\0" in raw_value:
            continue  # no HTTP/1.1 parser lets these through; werkzeug refuses them: the field is dropped
        name = raw_name.decode("latin-1")
        lowered = name.lower()
        names.setdefault(lowered, name)
        joined.setdefault(lowered, []).append(raw_value.decode("latin-1"))
    # HTTP/2 splits cookies; they rejoin with "; " (RFC 9113 8.2.3), every other field with ",".
    return [(names[k], ("; " if k == "cookie" else ",").join(v)) for k, v in joined.items()]


def environ_from_scope(scope: MutableMapping[str, Any]) -> WSGIEnvironment:
    """asgiref's WSGI environ for the scope, with the tenant mark and the scope itself added."""
    builder = WsgiToAsgiInstance(None)
    builder.scope = scope
    try:
        environ: WSGIEnvironment = builder.build_environ(scope, io.BytesIO())
    except UnicodeDecodeError:
        fixed = dict(scope, query_string=ascii_query(scope["query_string"]))
        builder.scope = fixed
        environ = builder.build_environ(fixed, io.BytesIO())
    cookies = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == b"cookie"]
    if len(cookies) > 1:
        environ["HTTP_COOKIE"] = "; ".join(cookies)
    environ["asgi.scope"] = scope
    mark = read_scope_mark(scope, ENVIRON_KEY)
    if mark is not None:
        environ[ENVIRON_KEY] = mark
    return environ
