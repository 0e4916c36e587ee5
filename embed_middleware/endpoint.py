"""The built-in endpoints: the guides' ``/generate-token``, and the public keys as a JWKS.

``GET <token_endpoint>?resource=name`` -> ``{"token", "expires_at", "expires_in"}`` for the request's
tenant; 401 when there is none, 404 for a resource the tenant may not embed, 400 for a malformed
name, 405 for other methods. Pages use it to refresh a token shortly before it expires.
"""

from __future__ import annotations

import json
import math
from typing import Unpack

from ._core.checks import check_endpoint_resolver
from ._core.emission import Emission, Head, WarnOnce, own_response
from ._core.policy import add_vary
from ._core.response import Exchange
from .config import EmbedConfig, EmbedOptions
from .errors import TokenIssueError


def _json(status: int, payload: dict[str, object], config: EmbedConfig, *extra: tuple[str, str]) -> Emission:
    headers = list(extra)
    add_vary(headers, config.vary)
    return own_response(status, json.dumps(payload).encode(), "application/json", headers)


class _FromQuery:
    """The default ``resource``: read it from the request's query string."""


_FROM_QUERY = _FromQuery()


class MountedEndpoint:
    """What the mountable token endpoints share: the middleware's options, checked at start-up, and the
    rule that a token endpoint must know who is asking (see ``check_endpoint_resolver``)."""

    def __init__(self, **options: Unpack[EmbedOptions]) -> None:
        self.config = EmbedConfig.from_options(**options)
        check_endpoint_resolver(
            self.config.resolver, options.get("token_endpoint_trusts_client_input", False)
        )
        self._warnings = WarnOnce()


def _unknown(resource: str | None) -> dict[str, object]:
    reason = "an unscoped token is not allowed" if resource is None else "not an allowed resource"
    return {"error": "unknown_resource", "reason": reason}


def answer_token_request(
    exchange: Exchange, config: EmbedConfig, method: str, resource: str | _FromQuery | None = _FROM_QUERY
) -> Emission:
    """The whole response to one token-endpoint request.

    ``resource`` is the ``?resource=`` value; by default it is read from the exchange's werkzeug
    request, and a framework whose request is another type (Django) passes it in.
    """
    return _for_method(_token_answer(exchange, config, method, resource), method)


def _token_answer(
    exchange: Exchange, config: EmbedConfig, method: str, resource: str | _FromQuery | None
) -> Emission:
    if method not in ("GET", "HEAD"):
        return _json(405, {"error": "method_not_allowed"}, config, ("Allow", "GET, HEAD"))
    if isinstance(resource, _FromQuery):
        resource = exchange.request.args.get("resource")
    resource = resource or None
    if resource is not None and not config.placeholder_rules.is_resource_name(resource):
        return _json(400, {"error": "invalid_resource"}, config)
    if not config.issuer.names(resource):  # before any resolver runs: the name alone rules it out
        return _json(404, _unknown(resource), config)
    try:
        tenant = exchange.tokens.tenant()
        if tenant is None:
            return _json(401, {"error": "no_tenant"}, config)
        if not config.issuer.allows(tenant, resource):
            return _json(404, _unknown(resource), config)
        if method == "HEAD":
            # GET's status and headers, without minting a token nobody will read (nor telling on_issue);
            # its length is known only once a token exists, so none is claimed (RFC 9110 9.3.2).
            return _without_length(_json(200, {}, config))
        issued = exchange.tokens.token(resource)
    except TokenIssueError as error:
        return exchange.failure(error)
    if issued is None:  # pragma: no cover - a known tenant allowed this resource
        return _json(404, {"error": "unknown_resource"}, config)
    payload = {
        "token": issued.token,
        "expires_at": issued.expires_at,
        # Seconds it is still good for, rounded down: iat is whole seconds, so never promise more.
        "expires_in": max(0, issued.expires_at - math.ceil(exchange.tokens.issuer_clock())),
    }
    return _json(200, payload, config)


#: Verifiers may cache the key set this long; during a rotation, wait at least this long between
#: publishing a new key and signing with it.
JWKS_MAX_AGE = 300


def _without_length(emission: Emission) -> Emission:
    assert emission.head is not None
    headers = [(k, v) for k, v in emission.head.headers if k.lower() != "content-length"]
    return Emission(Head(emission.head.status, headers), b"", True)


def _for_method(emission: Emission, method: str) -> Emission:
    """HEAD: the same head (Content-Length included, RFC 9110 9.3.2), no body. Every adapter sends
    what it gets, so this is decided here once."""
    return Emission(emission.head, b"", True) if method == "HEAD" else emission


def answer_jwks_request(config: EmbedConfig, method: str) -> Emission:
    """The issuer's public keys (never a shared secret), read at each request so a rotation shows."""
    if method not in ("GET", "HEAD"):
        return _json(405, {"error": "method_not_allowed"}, config, ("Allow", "GET, HEAD"))
    body = json.dumps(config.issuer.keys.jwks()).encode()
    extra = [("Access-Control-Allow-Origin", "*")]
    return _for_method(
        own_response(200, body, "application/jwk-set+json", extra, f"public, max-age={JWKS_MAX_AGE}"),
        method,
    )
