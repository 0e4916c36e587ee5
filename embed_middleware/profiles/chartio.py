"""Chartio embed tokens (chartio.com/docs/embedding/, "JWT Expiration").

``organization`` and ``dashboard`` ids, ``env`` values for dashboard variables, ``iat``, ``exp``; Chartio
caps a token at 24 hours after ``iat`` whatever ``exp`` says. The iframe loads
``https://embed.chartio.com/d/<dashboard>/<token>``, and browsers that cap URLs near 2,000 characters
leave about 1,700 for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Request

from ..errors import ConfigurationError
from ..lifetime import MAX_TTL
from ..tenants import Tenant
from .base import Profile
from .checks import (
    ValuesHook,
    call_hook,
    callable_setting,
    check_values,
    id_mapping,
    int_claim,
    positive_setting,
)

#: Chartio never honours a token more than 24 hours after its ``iat``.
CHARTIO_MAX_TTL = MAX_TTL  # the same 24 hours as ours (lifetime.py)
CHARTIO_EMBED_BASE = "https://embed.chartio.com/d/"


class ChartioProfile(Profile):
    """Chartio dashboards: ``dashboards`` maps placeholder names to dashboard ids.

    ``env(tenant, resource, request)`` fills dashboard variables; values locked to a tenant (its account id)
    belong in ``Tenant.locked_claims["env"]``, which always win. The bare or an unknown resource raises
    ConfigurationError:
    a Chartio token embeds one dashboard. ``max_ttl`` is Chartio's 24 hours.
    """

    name = "chartio"
    max_ttl = CHARTIO_MAX_TTL

    def __init__(
        self,
        organization: int,
        *,
        dashboards: Mapping[str, int],
        env: ValuesHook | None = None,
        url_budget: int = 1700,
    ) -> None:
        self.organization = positive_setting(organization, "chartio: organization")
        self.dashboards = id_mapping(dashboards, "chartio: dashboards")
        if not self.dashboards:
            raise ConfigurationError("chartio: dashboards must map resource names to dashboard ids")
        self.resources = frozenset(self.dashboards)
        self._env = callable_setting(env, "chartio: env")
        self.url_budget = positive_setting(url_budget, "chartio: url_budget")
        self.url_overhead = len(CHARTIO_EMBED_BASE) + max(len(str(i)) for i in self.dashboards.values()) + 1

    def _dashboard(self, resource: str | None) -> int:
        if resource is None or resource not in self.dashboards:
            raise ConfigurationError(
                f"chartio: no dashboard for {resource!r}; name one listed in dashboards="
            )
        return self.dashboards[resource]

    def __call__(self, tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
        dashboard = self._dashboard(resource)
        env = {} if self._env is None else call_hook(self._env, tenant, resource, request, "chartio: env")
        return {"organization": self.organization, "dashboard": dashboard, "env": env}

    def embed_url(self, token: str, resource: str) -> str:
        """The iframe ``src`` for ``resource``'s dashboard."""
        return f"{CHARTIO_EMBED_BASE}{self._dashboard(resource)}/{token}"

    def validate(self, claims: Mapping[str, Any]) -> None:
        super().validate(claims)
        for key in ("organization", "dashboard"):
            if int_claim(claims, key, self.name) < 1:
                raise ConfigurationError(f"chartio: {key} must be a positive integer id")
        if "env" in claims:
            check_values(claims["env"], "chartio: env")
