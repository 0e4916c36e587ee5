"""Claims builders ("profiles") for real analytics providers, each checking what its provider documents.

A profile is a ``TokenIssuer`` claims hook ``(tenant, resource, request) -> dict`` that also knows its
provider's limits, so a wrong claim fails here, naming the limit, instead of as a blank iframe there::

    TokenIssuer(ttl=600, claims=TinybirdProfile(WORKSPACE, fixed_params=lambda t, pipe, r: {"org": t.id}))

* **Tinybird** (tinybird.co/docs/forward/administration/tokens/jwt): ``workspace_id``, ``name`` (shown
  in ``pipe_stats_rt``; need not be unique), ``exp`` and ``scopes`` are required; a scope is ``{"type",
  "resource", "fixed_params"}``, ``fixed_params`` being values the caller cannot override. Tinybird's SDK
  types JWT scopes as ``PIPES:READ``, ``DATASOURCES:READ`` (optional SQL ``filter``) or
  ``DATASOURCES:APPEND``, and ``limits`` as ``{"rps": n}``, a per-token rate limit.
* **Chartio** (chartio.com/docs/embedding/, "JWT Expiration"): ``organization`` and ``dashboard`` ids,
  ``env`` values for dashboard variables, ``iat``, ``exp``; Chartio caps a token at 24 hours after ``iat``
  whatever ``exp`` says. The iframe loads ``https://embed.chartio.com/d/<dashboard>/<token>``, and browsers
  that cap URLs near 2,000 characters leave about 1,700 for it.
* **Metabase** static embedding (metabase.com/docs/latest/embedding/static-embedding): ``resource`` is
  ``{"dashboard": id}`` or ``{"question": id}``, ``params`` the locked parameters (``{}`` when none), ``exp``;
  the iframe loads ``<site>/embed/dashboard/<token>#bordered=true&titled=true``.
* **Generic**: RFC 7519's registered claims (``iss``, ``aud``, ``sub``, ``nbf``) for a verifier of your own.

Error messages name the claim and the limit, never a token, a key or a claim's value.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Request

from ..errors import ConfigurationError
from ..tenants import Tenant
from .checks import (
    int_claim,
)


class Profile(ABC):
    """Base class: a claims hook (tenant, resource, request) -> dict that knows its provider's limits.

    The issuer calls the profile, deep-merges the tenant's locked claims over the result, sets ``iat``,
    ``exp`` and ``jti`` itself, and only then calls :meth:`validate`, so the checks see exactly what will be
    signed, locked claims included. A profile never sets ``iat``, ``exp`` or ``jti``.

    ``nbf_from_iat`` asks the issuer to set ``nbf = iat``: a profile runs before ``iat`` exists, and its own
    clock read could disagree with the issuer's by a second.
    """

    name: str = "profile"
    #: The longest ttl the provider honours; the issuer refuses a longer one at start-up. None: no cap.
    max_ttl: int | None = None
    #: Characters an embed URL may use; the issuer warns when ``url_length(token)`` exceeds it. None: none.
    url_budget: int | None = None
    nbf_from_iat: bool = False
    #: Characters of the embed URL around the token (host, path, fragment).
    url_overhead: int = 0
    #: The resource names this provider may be asked for (pipes, dashboard names): the issuer's
    #: allowlist unless ``TokenIssuer(resources=...)`` names one. None: the profile names none.
    resources: frozenset[str] | None = None
    #: Token reuse for issuers built on this profile (``TokenReuse`` or a window in seconds), unless
    #: ``TokenIssuer(reuse=...)`` says otherwise. None: a fresh token per response. See reuse.py.
    reuse: Any = None

    @abstractmethod
    def __call__(self, tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]: ...

    def validate(self, claims: Mapping[str, Any]) -> None:
        """Checks the final claims; raises ConfigurationError naming the limit broken.

        ``exp`` must be an integer; under a ``max_ttl`` so must ``iat``, with ``exp - iat`` within it (a
        provider that caps lifetimes would cut a longer token short, silently); ``nbf`` not after ``exp``.
        """
        exp = int_claim(claims, "exp", self.name)
        if self.max_ttl is not None:
            life = exp - int_claim(claims, "iat", self.name)
            if not 0 < life <= self.max_ttl:
                raise ConfigurationError(
                    f"{self.name}: exp - iat is {life} s; it must be 1 to {self.max_ttl} s"
                )
        if "nbf" in claims and int_claim(claims, "nbf", self.name) > exp:
            raise ConfigurationError(f"{self.name}: nbf is after exp, so the token would never be valid")

    def url_length(self, token: str) -> int:
        """Length of the embed URL carrying ``token``: the provider's overhead plus the token."""
        return self.url_overhead + len(token)
