"""The token header option: a fresh token in a response header (the Next.js guide's pattern)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request

from ..errors import ConfigurationError
from ..rewrite import RESOURCE_NAME

#: RFC 9110 5.1: a field name is a token.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

#: ``(request, status, response headers) -> bool``: which responses get the token header.
HeaderPredicate = Callable[[Request, int, Headers], bool]


def every_response(request: Request, status: int, headers: Headers) -> bool:
    """The default ``HeaderDelivery.when``: every response the tenant gets carries the header token."""
    return True


@dataclass(frozen=True)
class HeaderDelivery:
    """Deliver a fresh token in a response header (the Next.js guide's pattern, without Next.js)."""

    name: str = "X-Embed-Token"
    #: Which responses carry it; every response by default.
    when: HeaderPredicate = every_response
    #: The resource the header's token is scoped to (required: None, the unscoped token, only where the
    #: issuer has ``allow_unscoped=True``).
    resource: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not HEADER_NAME.fullmatch(self.name):
            raise ConfigurationError(f"header name {self.name!r} is not a valid HTTP field name")
        if not callable(self.when):
            raise ConfigurationError(
                "HeaderDelivery.when must be a callable (request, status, headers) -> bool"
            )
        if self.resource is not None and not RESOURCE_NAME.fullmatch(self.resource):
            raise ConfigurationError(f"HeaderDelivery.resource {self.resource!r} is not a resource name")
