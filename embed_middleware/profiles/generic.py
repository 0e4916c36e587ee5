"""RFC 7519's registered claims (``iss``, ``aud``, ``sub``, ``nbf``) for a verifier of your own."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from werkzeug.wrappers import Request

from ..errors import ConfigurationError
from ..tenants import Tenant
from .base import Profile
from .checks import (
    audience_ok,
    callable_setting,
    names_setting,
    nonempty_str,
    optional_positive,
)


class GenericProfile(Profile):
    """RFC 7519 registered claims for a verifier of your own: ``iss``, ``aud``, ``sub``, and the resource.

    ``resources`` lists the names pages may embed (the issuer's allowlist).
    ``not_before`` sets ``nbf_from_iat``: the issuer then writes ``nbf = iat``, which a profile cannot.
    """

    name = "generic"
    _REGISTERED = frozenset({"iss", "aud", "sub", "iat", "exp", "nbf", "jti"})

    def __init__(
        self,
        *,
        issuer: str | None = None,
        audience: str | Sequence[str] | None = None,
        subject: Callable[[Tenant], str] | None = None,
        not_before: bool = True,
        resource_claim: str = "resource",
        resources: Collection[str] | None = None,
        url_budget: int | None = None,
    ) -> None:
        self.resources = names_setting(resources, "generic: resources")
        if not (issuer is None or nonempty_str(issuer)):
            raise ConfigurationError("generic: issuer must be a non-empty string")
        if not (audience is None or audience_ok(audience)):
            raise ConfigurationError("generic: audience must be a non-empty string or list of them")
        if not isinstance(not_before, bool):
            raise ConfigurationError("generic: not_before must be True or False")
        if not nonempty_str(resource_claim) or resource_claim in self._REGISTERED:
            raise ConfigurationError("generic: resource_claim must not be empty or a registered claim")
        self.issuer = issuer
        self.audience = audience if audience is None or isinstance(audience, str) else list(audience)
        self._subject = callable_setting(subject, "generic: subject")
        self.nbf_from_iat = not_before
        self.resource_claim = resource_claim
        self.url_budget = optional_positive(url_budget, "generic: url_budget")

    def __call__(self, tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
        claims: dict[str, Any] = {} if self.issuer is None else {"iss": self.issuer}
        if self.audience is not None:
            claims["aud"] = self.audience
        claims["sub"] = tenant.id if self._subject is None else self._subject(tenant)
        if resource is not None:
            claims[self.resource_claim] = resource
        return claims

    def validate(self, claims: Mapping[str, Any]) -> None:
        super().validate(claims)
        if not nonempty_str(claims.get("sub")):
            raise ConfigurationError("generic: sub must be a non-empty string")
        if not nonempty_str(claims.get("iss", "-")):
            raise ConfigurationError("generic: iss must be a non-empty string")
        if not audience_ok(claims.get("aud", "-")):
            raise ConfigurationError("generic: aud must be a non-empty string or a non-empty list of them")
