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
from collections.abc import Callable, Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from werkzeug.wrappers import Request

from .claim_checks import (
    ValuesHook,
    audience_ok,
    call_hook,
    callable_setting,
    check_values,
    id_mapping,
    int_claim,
    names_setting,
    nonempty_str,
    optional_positive,
    positive,
    positive_setting,
)
from .errors import ConfigurationError
from .tenants import Tenant

#: Scope types accepted in a Tinybird embed token. ``DATASOURCES:APPEND`` is a valid JWT scope, but an embed
#: token sits in a page anyone can read: it would let every visitor write into the data source.
TINYBIRD_SCOPE_TYPES = frozenset({"PIPES:READ", "DATASOURCES:READ"})
_TINYBIRD_SCOPE_KEYS = frozenset({"type", "resource", "fixed_params", "filter"})
_TINYBIRD_KEYS = ", ".join(sorted(_TINYBIRD_SCOPE_KEYS))
#: Chartio never honours a token more than 24 hours after its ``iat``.
CHARTIO_MAX_TTL = 24 * 60 * 60
CHARTIO_EMBED_BASE = "https://embed.chartio.com/d/"
#: The appearance settings of Metabase's own embed code (unsigned, after ``#``).
METABASE_APPEARANCE = "#bordered=true&titled=true"
_METABASE_KINDS = {"dashboard", "question"}
_NO_IDS: Mapping[str, int] = MappingProxyType({})
_HTTP = ("https://", "http://")


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
        """Checks the final claims; raises ValueError naming the limit broken.

        ``exp`` must be an integer; under a ``max_ttl`` so must ``iat``, with ``exp - iat`` within it (a
        provider that caps lifetimes would cut a longer token short, silently); ``nbf`` not after ``exp``.
        """
        exp = int_claim(claims, "exp", self.name)
        if self.max_ttl is not None:
            life = exp - int_claim(claims, "iat", self.name)
            if not 0 < life <= self.max_ttl:
                raise ValueError(f"{self.name}: exp - iat is {life} s; it must be 1 to {self.max_ttl} s")
        if "nbf" in claims and int_claim(claims, "nbf", self.name) > exp:
            raise ValueError(f"{self.name}: nbf is after exp, so the token would never be valid")

    def url_length(self, token: str) -> int:
        """Length of the embed URL carrying ``token``: the provider's overhead plus the token."""
        return self.url_overhead + len(token)


class TinybirdProfile(Profile):
    """Tinybird JWTs: a ``PIPES:READ`` scope per pipe, ``fixed_params`` for row-level security.

    ``pipes`` lists the pipes pages may embed (the allowlist: a placeholder, header or token-endpoint
    request for any other name gets no token). ``fixed_params(tenant, pipe, request)`` gives values a
    request cannot override, so the tenant's id belongs there: without one a token reads every tenant's
    rows. ``scopes`` is a list, which locked tenant claims replace whole rather than merge into, so
    per-tenant values come from ``fixed_params``.

    ``resource=None`` (the bare ``<JWT_TOKEN>``) gets a scope per pipe in ``tenant.resources``, each with its
    own ``fixed_params``; a tenant listing none raises ValueError, since a Tinybird token must name a pipe.
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
            raise ValueError("tinybird: a token needs a pipe scope; use <JWT_TOKEN:pipe> or list resources")
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
                raise ValueError(f"tinybird: {key} is required and must be a non-empty string")
        scopes = claims.get("scopes")
        if not isinstance(scopes, list | tuple) or not scopes:
            raise ValueError("tinybird: scopes must be a non-empty list; a token without one grants nothing")
        for i, scope in enumerate(scopes):
            where = f"tinybird: scopes[{i}]"
            if not isinstance(scope, Mapping):
                raise ValueError(f"{where} must be an object, not {type(scope).__name__}")
            if unknown := sorted(str(k) for k in set(scope) - _TINYBIRD_SCOPE_KEYS):
                raise ValueError(f"{where} has unknown keys {unknown}; Tinybird reads {_TINYBIRD_KEYS}")
            if scope.get("type") not in TINYBIRD_SCOPE_TYPES:
                raise ValueError(f"{where}.type must be one of {sorted(TINYBIRD_SCOPE_TYPES)}")
            if not nonempty_str(scope.get("resource")):
                raise ValueError(f"{where}.resource must be the pipe's name or id, a non-empty string")
            if "fixed_params" in scope:
                check_values(scope["fixed_params"], f"{where}.fixed_params")
            if not isinstance(scope.get("filter", ""), str):
                raise ValueError(f"{where}.filter must be an SQL expression, a string")
        limits = claims.get("limits", {"rps": 1})
        if not (isinstance(limits, Mapping) and set(limits) == {"rps"} and positive(limits["rps"])):
            raise ValueError("tinybird: limits must be {'rps': a positive integer of requests per second}")


class ChartioProfile(Profile):
    """Chartio dashboards: ``dashboards`` maps placeholder names to dashboard ids.

    ``env(tenant, resource, request)`` fills dashboard variables; values locked to a tenant (its account id)
    belong in ``Tenant.locked_claims["env"]``, which always win. The bare or an unknown resource raises
    ValueError:
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
            raise ValueError(f"chartio: no dashboard for {resource!r}; name one listed in dashboards=")
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
                raise ValueError(f"chartio: {key} must be a positive integer id")
        if "env" in claims:
            check_values(claims["env"], "chartio: env")


class MetabaseProfile(Profile):
    """Metabase static embedding: ``dashboards`` and ``questions`` map placeholder names to ids.

    ``params(tenant, resource, request)`` gives the locked parameters; ``params`` is always sent, ``{}`` when
    empty, as Metabase requires. The bare or an unknown resource raises ValueError.
    """

    name = "metabase"

    def __init__(
        self,
        *,
        dashboards: Mapping[str, int] = _NO_IDS,
        questions: Mapping[str, int] = _NO_IDS,
        params: ValuesHook | None = None,
        site_url: str | None = None,
        url_budget: int | None = None,
    ) -> None:
        self.dashboards = id_mapping(dashboards, "metabase: dashboards")
        self.questions = id_mapping(questions, "metabase: questions")
        if not self.dashboards and not self.questions:
            raise ConfigurationError("metabase: pass dashboards={name: id} and/or questions={name: id}")
        if both := sorted(set(self.dashboards) & set(self.questions)):
            raise ConfigurationError(f"metabase: {both} name both a dashboard and a question; rename one")
        self.resources = frozenset(self.dashboards) | frozenset(self.questions)
        self._params = callable_setting(params, "metabase: params")
        if site_url is not None and not (isinstance(site_url, str) and site_url.startswith(_HTTP)):
            raise ConfigurationError("metabase: site_url must be your Metabase's address, https://...")
        self.site_url = None if site_url is None else site_url.rstrip("/")
        self.url_budget = optional_positive(url_budget, "metabase: url_budget")
        self.url_overhead = len(self.site_url or "") + len("/embed/dashboard/") + len(METABASE_APPEARANCE)

    def _resource(self, resource: str | None) -> tuple[str, int]:
        for kind, ids in (("dashboard", self.dashboards), ("question", self.questions)):
            if resource is not None and resource in ids:
                return kind, ids[resource]
        raise ValueError(f"metabase: no id for {resource!r}; name one listed in dashboards= or questions=")

    def __call__(self, tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
        kind, ident = self._resource(resource)
        params = {} if self._params is None else call_hook(self._params, tenant, resource, request, "params")
        return {"resource": {kind: ident}, "params": params}

    def embed_url(self, token: str, resource: str) -> str:
        """The iframe ``src``: ``<site>/embed/dashboard/<token>#bordered=true&titled=true`` (or question)."""
        if self.site_url is None:
            raise ConfigurationError("metabase: embed_url needs site_url=..., your Metabase's address")
        return f"{self.site_url}/embed/{self._resource(resource)[0]}/{token}{METABASE_APPEARANCE}"

    def validate(self, claims: Mapping[str, Any]) -> None:
        super().validate(claims)
        resource = claims.get("resource")
        if not isinstance(resource, Mapping) or len(resource) != 1 or not resource.keys() <= _METABASE_KINDS:
            raise ValueError("metabase: resource must be exactly one of {'dashboard': id}, {'question': id}")
        ((kind, ident),) = resource.items()
        if not positive(ident):
            raise ValueError(f"metabase: resource.{kind} must be a positive integer id")
        if "params" not in claims:
            raise ValueError("metabase: params is required ({} when no parameter is locked)")
        check_values(claims["params"], "metabase: params")


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
            raise ValueError("generic: sub must be a non-empty string")
        if not nonempty_str(claims.get("iss", "-")):
            raise ValueError("generic: iss must be a non-empty string")
        if not audience_ok(claims.get("aud", "-")):
            raise ValueError("generic: aud must be a non-empty string or a non-empty list of them")


#: Profile classes by name, for configuration files.
PROFILES: dict[str, type[Profile]] = {
    p.name: p for p in (TinybirdProfile, ChartioProfile, MetabaseProfile, GenericProfile)
}

# Registers SupersetProfile in PROFILES (its module imports Profile from this one).
from . import superset_profile as _superset_profile  # noqa: E402, F401
