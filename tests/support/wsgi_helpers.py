"""Small WSGI apps and wrappers shared by the WSGI tests."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.validate import validator

from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import EnvironBuilder

from embed_middleware import EmbedWSGIMiddleware, Tenant, TokenIssuer, from_environ
from tests.support.app_placeholders import TEST_RESOURCES, own_chunks
from tests.support.tokens import decode_token, signing_secret

KEY = signing_secret("test", 57)
HTML = "text/html; charset=utf-8"

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


def decode(token: str | bytes) -> dict[str, Any]:
    return decode_token(token, KEY)


class ClosingList:
    """An app iterable that records whether the server closed it."""

    def __init__(self, chunks: Iterable[bytes], log: list[str] | None = None) -> None:
        self._chunks = list(chunks)
        self.closed = False
        self.produced = 0
        self.log = log if log is not None else []

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.produced += 1
            self.log.append(f"app:{self.produced}")
            yield chunk

    def close(self) -> None:
        self.closed = True


def page_app(
    chunks: Iterable[bytes] | bytes,
    *,
    content_type: str = HTML,
    status: str = "200 OK",
    headers: Iterable[tuple[str, str]] = (),
    tenant: str | Tenant | None = "acme",
    content_length: bool | None = None,
    as_list: bool = False,
    own: bool = True,
) -> tuple[WSGIApp, list[ClosingList]]:
    """An app that marks ``tenant`` during handling and streams ``chunks``.

    ``content_length`` None declares it only for a single chunk; returns the app and the list that
    collects each request's iterable, so tests can check it was closed.
    """
    parts = [chunks] if isinstance(chunks, bytes) else list(chunks)
    made: list[ClosingList] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if tenant is not None:
            environ["embed.tenant"] = tenant
        # The page's placeholders are the app's own: they carry this request's nonce.
        signed = own_chunks(parts, environ) if own else parts
        response_headers = [("Content-Type", content_type), *headers]
        declare = content_length if content_length is not None else len(signed) == 1
        if declare:
            response_headers.append(("Content-Length", str(sum(map(len, signed)))))
        start_response(status, response_headers)
        if as_list:
            return list(signed)
        body = ClosingList(signed)
        made.append(body)
        return body

    return app, made


def test_issuer(**options: Any) -> TokenIssuer:
    """The suites' issuer: the names their pages use, and the unscoped ``<JWT_TOKEN>`` allowed."""
    options.setdefault("resources", TEST_RESOURCES)
    options.setdefault("allow_unscoped", True)
    return TokenIssuer(KEY, **options)


test_issuer.__test__ = False  # type: ignore[attr-defined]  # a helper: pytest must not collect it where imported


def middleware(app: WSGIApp, **options: Any) -> EmbedWSGIMiddleware:
    options.setdefault("issuer", test_issuer())
    options.setdefault("resolver", from_environ())
    return EmbedWSGIMiddleware(app, **options)


def _unchecked(app: Any) -> Any:
    return app


#: Which checker stands on which side. wsgiref.validate rejects werkzeug lint's ``wsgi.input``
#: wrapper, so it can only stand outermost; tests run once with each arrangement (see conftest).
#: Under webtest, webtest's own lint checks the outside as well.
CHECKERS = {
    "validate-outside-lint-inside": (validator, LintMiddleware),
    "validate-inside": (_unchecked, validator),
}
checker_arrangement = ["validate-outside-lint-inside"]


def checked(app: WSGIApp, **options: Any) -> Any:
    """The middleware between PEP 3333 checkers (on it as an app, and on it as a server)."""
    outside, inside = CHECKERS[checker_arrangement[0]]
    return outside(middleware(inside(app), **options))


def run(app: Any, path: str = "/", method: str = "GET", **environ_overrides: Any) -> tuple[str, list, bytes]:
    """Calls a WSGI app directly (no webtest) and returns status, headers and the whole body."""
    builder = EnvironBuilder(path=path, method=method)
    environ = builder.get_environ()
    environ.update(environ_overrides)
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list, exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None and captured:
            raise exc_info[1].with_traceback(exc_info[2])
        captured["status"], captured["headers"] = status, headers
        return written.write

    written = io.BytesIO()
    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"], written.getvalue() + body


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name.lower():
            return value
    return None
