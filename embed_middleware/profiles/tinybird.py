"""Tinybird JWT embed tokens (tinybird.co/docs/forward/administration/tokens/jwt).

``workspace_id``, ``name`` (shown in ``pipe_stats_rt``; need not be unique), ``exp`` and ``scopes`` are
required; a scope is ``{"type", "resource", "fixed_params"}``, ``fixed_params`` being values the caller
cannot override. Tinybird's SDK types JWT scopes as ``PIPES:READ``, ``DATASOURCES:READ`` (optional SQL
``filter``) or ``DATASOURCES:APPEND``, and ``limits`` as ``{"rps": n}``, a per-token rate limit::

    TokenIssuer(ttl=600, claims=TinybirdProfile(WORKSPACE, fixed_params=lambda t, pipe, r: {"org": t.id}))
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from werkzeug.wrappers import Request

from ..errors import ConfigurationError
from ..tenants import Tenant
from .base import Profile
from .checks import (
    ValuesHook,
    call_hook,
    callable_setting,
    check_values,
    names_setting,
    nonempty_str,
    optional_positive,
    positive,
)

#: Scope types accepted in a Tinybird embed token. ``DATASOURCES:APPEND`` is a valid JWT scope, but an embed
#: token sits in a page anyone can read: it would let every visitor write into the data source.
TINYBIRD_SCOPE_TYPES = frozenset({"PIPES:READ", "DATASOURCES:READ"})
_TINYBIRD_SCOPE_KEYS = frozenset({"type", "resource", "fixed_params", "filter"})
_TINYBIRD_KEYS = ", ".join(sorted(_TINYBIRD_SCOPE_KEYS))


class TinybirdProfile(Profile):
    """Tinybird JWTs: a ``PIPES:READ`` scope per pipe, ``fixed_params`` for row-level security.

    ``pipes`` lists the pipes pages may embed (the allowlist: a placeholder, header or token-endpoint
    request for any other name gets no token). ``fixed_params(tenant, pipe, request)`` gives values a
    request cannot override, so the tenant's id belongs there: without one a token reads every tenant's
    rows. ``scopes`` is a list, which locked tenant claims replace whole rather than merge into, so
    per-tenant values come from ``fixed_params``.

    ``resource=None`` (the bare ``<JWT_TOKEN>``) gets a scope per pipe in ``tenant.resources``, each with its
    own ``fixed_params``; a tenant listing none raises ConfigurationError, since a Tinybird token must
    name a pipe.
    (The middleware refuses the bare placeholder to tenants listing resources before any hook runs, so
    through it the bare placeholder always raises; the listing serves direct callers.)
    """

    name = "tinybird"

    def __init__(
        self,
        workspace_id: str,
        *,
        name: str | Callable[[Tenant], str] | None = None,
        pipes: Collection[str] | None = None,
        fixed_params: ValuesHook | None = None,
        rps: int | None = None,
        url_budget: int | None = None,
    ) -> None:
        self.resources = names_setting(pipes, "tinybird: pipes")
        if not nonempty_str(workspace_id):
            raise ConfigurationError("tinybird: workspace_id must be your workspace's id, a string")
        if not (name is None or callable(name) or nonempty_str(name)):
            raise ConfigurationError("tinybird: name must be a non-empty string or a callable tenant -> str")
        self.workspace_id = workspace_id
        self.token_name = name
        self._fixed_params = callable_setting(fixed_params, "tinybird: fixed_params")
        self.rps = optional_positive(rps, "tinybird: rps")
        self.url_budget = optional_positive(url_budget, "tinybird: url_budget")

    def __call__(self, tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
        if resource is None and not tenant.resources:
            raise ConfigurationError(
                "tinybird: a token needs a pipe scope; use <JWT_TOKEN:pipe> or list resources"
            )
        scopes, hook = [], self._fixed_params
        for pipe in [resource] if resource is not None else sorted(tenant.resources or ()):
            scope: dict[str, Any] = {"type": "PIPES:READ", "resource": pipe}
            fixed = {} if hook is None else call_hook(hook, tenant, pipe, request, "tinybird: fixed_params")
            if fixed:
                scope["fixed_params"] = fixed
            scopes.append(scope)
        name = self.token_name
        token_name = f"embed-{tenant.id}" if name is None else name if isinstance(name, str) else name(tenant)
        claims: dict[str, Any] = {"workspace_id": self.workspace_id, "name": token_name, "scopes": scopes}
        if self.rps is not None:
            claims["limits"] = {"rps": self.rps}
        return claims

    def validate(self, claims: Mapping[str, Any]) -> None:
        super().validate(claims)
        for key in ("workspace_id", "name"):
            if not nonempty_str(claims.get(key)):
                raise ConfigurationError(f"tinybird: {key} is required and must be a non-empty string")
        scopes = claims.get("scopes")
        if not isinstance(scopes, list | tuple) or not scopes:
            raise ConfigurationError(
                "tinybird: scopes must be a non-empty list; a token without one grants nothing"
            )
        for i, scope in enumerate(scopes):
            where = f"tinybird: scopes[{i}]"
            if not isinstance(scope, Mapping):
                raise ConfigurationError(f"{where} must be an object, not {type(scope).__name__}")
            if unknown := sorted(str(k) for k in set(scope) - _TINYBIRD_SCOPE_KEYS):
                raise ConfigurationError(
                    f"{where} has unknown keys {unknown}; Tinybird reads {_TINYBIRD_KEYS}"
                )
            if scope.get("type") not in TINYBIRD_SCOPE_TYPES:
                raise ConfigurationError(f"{where}.type must be one of {sorted(TINYBIRD_SCOPE_TYPES)}")
            if not nonempty_str(scope.get("resource")):
                raise ConfigurationError(
                    f"{where}.resource must be the pipe's name or id, a non-empty string"
                )
            if "fixed_params" in scope:
                check_values(scope["fixed_params"], f"{where}.fixed_params")
            if not isinstance(scope.get("filter", ""), str):
                raise ConfigurationError(f"{where}.filter must be an SQL expression, a string")
        limits = claims.get("limits", {"rps": 1})
        if not (isinstance(limits, Mapping) and set(limits) == {"rps"} and positive(limits["rps"])):
            raise ConfigurationError(
                "tinybird: limits must be {'rps': a positive integer of requests per second}"
            )
