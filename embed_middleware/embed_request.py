"""The request a built-in resolver reads: werkzeug's ``Request`` or Django's ``HttpRequest``.

The WSGI and ASGI middleware hand resolvers a werkzeug ``Request``; Django's ``EmbedMiddleware`` hands
them Django's own request (so ``request.user`` works). Both satisfy ``EmbedRequest``, and the built-in
resolvers read them only through the four functions here:

>>> from werkzeug.test import EnvironBuilder
>>> from werkzeug.wrappers import Request
>>> request = Request(EnvironBuilder("/t/acme", "http://acme.example.com/",
...                                  headers={"Cookie": "org=acme"}).get_environ())
>>> request_cookie(request, "org"), request_host(request), request_path(request)
('acme', 'acme.example.com', '/t/acme')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol


class RequestHeaders(Protocol):
    """Request headers, read by name: werkzeug's ``EnvironHeaders`` and Django's ``HttpHeaders``."""

    def get(self, key: str, /) -> str | None: ...


class WerkzeugStyleRequest(Protocol):
    """What the built-ins read from werkzeug's ``Request`` (handed to resolvers under WSGI and ASGI)."""

    @property
    def headers(self) -> RequestHeaders: ...
    @property
    def cookies(self) -> Mapping[str, str]: ...
    @property
    def host(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def environ(self) -> Mapping[str, Any]: ...


class DjangoStyleRequest(Protocol):
    """What the built-ins read from Django's ``HttpRequest`` (handed to resolvers by ``EmbedMiddleware``)."""

    @property
    def headers(self) -> RequestHeaders: ...
    @property
    def COOKIES(self) -> Mapping[str, str]: ...
    @property
    def META(self) -> Mapping[str, Any]: ...
    @property
    def path_info(self) -> str: ...
    def get_host(self) -> str: ...


#: The request the built-in resolvers accept. The two frameworks share ``headers`` but spell cookies,
#: host, path and environ differently, so the built-ins read through the four functions below, which
#: take either (a structural check, no framework import: Django need not be installed).
EmbedRequest = WerkzeugStyleRequest | DjangoStyleRequest


def _is_django(request: object) -> bool:
    return hasattr(request, "COOKIES") and hasattr(request, "get_host")


def request_cookie(request: EmbedRequest, name: str) -> str | None:
    """A cookie's value: werkzeug's ``cookies``, Django's ``COOKIES``."""
    cookies = request.COOKIES if _is_django(request) else request.cookies  # type: ignore[union-attr]
    value = cookies.get(name)
    return value if isinstance(value, str) else None


def request_host(request: EmbedRequest) -> str:
    """The Host (with port): werkzeug's ``host``; Django's ``get_host()``, which checks ALLOWED_HOSTS."""
    host = request.get_host() if _is_django(request) else request.host  # type: ignore[union-attr]
    return host if isinstance(host, str) else ""


def request_path(request: EmbedRequest) -> str:
    """The path inside the app: werkzeug's ``path``; Django's ``path_info`` (``path`` adds SCRIPT_NAME)."""
    path = request.path_info if _is_django(request) else request.path  # type: ignore[union-attr]
    return path if isinstance(path, str) else ""


def request_environ(request: EmbedRequest) -> Mapping[str, Any]:
    """The environ: Django's ``META`` (present under ASGI too), werkzeug's ``environ``."""
    environ = request.META if _is_django(request) else request.environ  # type: ignore[union-attr]
    return environ if isinstance(environ, Mapping) else {}


if TYPE_CHECKING:  # mypy proves werkzeug's Request fits (Django's is untyped: tests/test_tenants.py runs it)
    from werkzeug.wrappers import Request

    def _werkzeug_fits(request: Request) -> EmbedRequest:
        return request
