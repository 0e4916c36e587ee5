"""Apache Superset guest tokens, minted by the host app instead of Superset's ``/security/guest_token/``.

Superset (``EMBEDDED_SUPERSET`` feature flag) reads a guest token from the ``X-GuestToken`` header that
its embedded SDK sends, checks it with PyJWT against ``GUEST_TOKEN_JWT_SECRET``, ``GUEST_TOKEN_JWT_ALGO``
and ``GUEST_TOKEN_JWT_AUDIENCE``, and then wants ``user``, ``resources``, ``rls_rules`` and
``type: "guest"`` (``superset/security/manager.py``, ``get_guest_user_from_request``)::

    profile = SupersetProfile(
        dashboards={"sales": "5e2ff9db-9213-4f72-8b58-ed4a0bcf25bc"},  # embedded uuids
        audience="superset",                                           # GUEST_TOKEN_JWT_AUDIENCE
        rls="tenant_id = {tenant}",                                    # {tenant}: a quoted literal
    )
    issuer = TokenIssuer(superset_secret, ttl=300, claims=profile)

What Superset does not check, and so this profile does:

* **RLS clauses are raw SQL**, pasted into the query's ``WHERE``. Values enter a clause only as SQL
  literals written here: strings quoted with ``'`` doubled, integers as digits, lists as ``(a, b)``.
  A string with a backslash or a control character is refused: MySQL's default mode and PostgreSQL
  with ``standard_conforming_strings=off`` read ``\\'`` as an escaped quote, so doubling alone is not
  enough there. A template that quotes its own field (``'{tenant}'``) fails at start-up.
* **No rule, no filter.** A token whose ``rls_rules`` is empty, or whose rule names another dataset's
  id, reads every row; so a profile with ``rls`` refuses a token without a rule, and ``rls=None`` (no
  row filtering at all) must be said explicitly.
* **Which dashboard.** Superset accepts a dashboard's integer id as well as its embedded uuid; the
  profile sends only embedded uuids, those in ``dashboards`` (the allowlist).

Keys: Superset verifies with one key and one algorithm. It ignores ``kid`` and fetches no JWKS, so a
rotation changes Superset's ``GUEST_TOKEN_JWT_SECRET`` and the issuer's key together, and pages holding
a token signed with the old key see 401s until the SDK's next refresh (keep ``ttl`` short). Per-tenant
keys (``TenantKeys``) cannot work: Superset has one secret for every tenant. For ES256/RS256, Superset's
``GUEST_TOKEN_JWT_SECRET`` is the public PEM (Superset's own guest-token API can then no longer mint).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from string import Formatter
from typing import Any

from werkzeug.wrappers import Request

from ..errors import ConfigurationError
from ..tenants import Tenant
from .base import Profile
from .checks import ValuesHook, call_hook, callable_setting, nonempty_str, positive, positive_setting

#: Superset's own guest tokens live ``GUEST_TOKEN_JWT_EXP_SECONDS``, 300 s by default.
SUPERSET_MAX_TTL = 300
#: The embedded SDK asks for a new token ``max(10 s, exp - now) - 5 s`` after the last one arrived: a
#: token living under 10 s would expire before (or as) its replacement is asked for.
SUPERSET_MIN_TTL = 10
#: The longest string value written into an RLS clause.
MAX_LITERAL = 256
_USER_KEYS = frozenset({"username", "first_name", "last_name"})
_RLS_KEYS = frozenset({"clause", "dataset"})
_QUOTES = ("'", '"', "`")
#: ``(tenant) -> {"username": ..., "first_name": ..., "last_name": ...}``
UserHook = Callable[[Tenant], Mapping[str, str]]
#: One clause template for every dataset, or ``{dataset_id: template}``
Rls = str | Mapping[int, str]


def sql_literal(value: object, where: str) -> str:
    """``value`` as an SQL literal any dialect reads the same way, or ConfigurationError naming ``where``."""
    if isinstance(value, bool) or value is None:
        raise ConfigurationError(f"{where} must be a string, an integer or a list of them, not {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if len(value) > MAX_LITERAL:
            raise ConfigurationError(f"{where} is longer than {MAX_LITERAL} characters")
        if "\\" in value or any(ord(c) < 32 or 127 <= ord(c) <= 159 for c in value):
            raise ConfigurationError(f"{where} contains a backslash or a control character; refused in SQL")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, list | tuple | frozenset | set) and value:
        items = sorted(value, key=str) if isinstance(value, frozenset | set) else value
        if any(isinstance(item, list | tuple | frozenset | set) for item in items):
            raise ConfigurationError(f"{where}: a list of lists cannot be written in SQL")
        return "(" + ", ".join(sql_literal(item, where) for item in items) + ")"
    raise ConfigurationError(f"{where} must be a string, an integer or a non-empty list of them")


class RlsTemplate:
    """An RLS clause with ``{name}`` fields, each filled with a SQL literal (never pasted text)."""

    def __init__(self, template: str, dataset: int | None, what: str) -> None:
        if not nonempty_str(template):
            raise ConfigurationError(f"{what} must be an SQL condition such as 'tenant_id = {{tenant}}'")
        try:
            parts = list(Formatter().parse(template))
        except ValueError as exc:
            raise ConfigurationError(f"{what}: {exc} (write a literal brace as {{{{ or }}}})") from None
        self.parts: list[tuple[str, str | None]] = []
        for i, (text, field, spec, conversion) in enumerate(parts):
            if field is not None and (not field.isidentifier() or spec or conversion):
                raise ConfigurationError(f"{what}: write fields as {{name}}, without format or conversion")
            after = parts[i + 1][0] if i + 1 < len(parts) else ""
            if field is not None and (text.rstrip().endswith(_QUOTES) or after.lstrip().startswith(_QUOTES)):
                raise ConfigurationError(
                    f"{what}: write {{{field}}} without quotes; the profile quotes values"
                )
            self.parts.append((text, field))
        if not any(field for _, field in self.parts):
            raise ConfigurationError(f"{what} names no field: it would filter every tenant alike")
        self.fields = frozenset(field for _, field in self.parts if field)
        self.dataset = dataset

    def render(self, values: Mapping[str, object]) -> dict[str, Any]:
        clause = []
        for text, field in self.parts:
            clause.append(text)
            if field is not None:
                if field not in values:
                    raise ConfigurationError(
                        f"superset: rls field {{{field}}} has no value (rls_values returns it)"
                    )
                clause.append(sql_literal(values[field], f"superset: rls value {{{field}}}"))
        rule: dict[str, Any] = {"clause": "".join(clause)}
        if self.dataset is not None:
            rule["dataset"] = self.dataset
        return rule


def _rls_setting(rls: Rls | None) -> list[RlsTemplate] | None:
    if rls is None:
        return None
    if isinstance(rls, str):
        return [RlsTemplate(rls, None, "superset: rls")]
    if not isinstance(rls, Mapping) or not rls:
        raise ConfigurationError("superset: rls must be a clause template or {dataset_id: template}")
    for dataset in rls:
        if not positive(dataset):
            raise ConfigurationError(f"superset: rls key {dataset!r} must be a dataset's integer id")
    return [RlsTemplate(template, dataset, f"superset: rls[{dataset}]") for dataset, template in rls.items()]


def _uuid_setting(dashboards: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(dashboards, Mapping) or not dashboards:
        raise ConfigurationError("superset: dashboards must map resource names to embedded dashboard uuids")
    found = {}
    for name, ident in dashboards.items():
        try:
            found[name] = str(uuid.UUID(ident)) if isinstance(ident, str) else ""
        except ValueError:
            found[name] = ""
        if not found[name]:
            raise ConfigurationError(
                f"superset: dashboards[{name!r}] must be the uuid Superset shows under Embed dashboard"
            )
    return found


def default_user(tenant: Tenant) -> dict[str, str]:
    """Superset's guest user: a name for its logs; no personal data."""
    return {"username": f"guest-{tenant.id}", "first_name": "Guest", "last_name": "User"}


class SupersetProfile(Profile):
    """Superset guest tokens: ``dashboards`` maps placeholder names to embedded dashboard uuids.

    ``rls`` is a clause template (``"tenant_id = {tenant}"``; applies to every dataset) or
    ``{dataset_id: template}``; ``{tenant}`` is the tenant's id and other fields come from
    ``rls_values(tenant, resource, request)``, each written as an SQL literal. ``rls=None`` sends no
    rule: every guest reads every row the dashboard shows. ``audience`` is Superset's
    ``GUEST_TOKEN_JWT_AUDIENCE``; ``user(tenant)`` names the guest (see :func:`default_user`).
    ``max_ttl`` caps the issuer's ``ttl`` (Superset's own default lifetime, 300 s).
    """

    name = "superset"

    def __init__(
        self,
        *,
        dashboards: Mapping[str, str],
        audience: str,
        rls: Rls | None,
        rls_values: ValuesHook | None = None,
        user: UserHook | None = None,
        max_ttl: int = SUPERSET_MAX_TTL,
    ) -> None:
        self.dashboards = _uuid_setting(dashboards)
        self.resources = frozenset(self.dashboards)
        if not nonempty_str(audience):
            raise ConfigurationError("superset: audience must be Superset's GUEST_TOKEN_JWT_AUDIENCE")
        self.audience = audience
        self.rls = _rls_setting(rls)
        self._rls_values = callable_setting(rls_values, "superset: rls_values")
        wanted = sorted(set().union(*(t.fields for t in self.rls or ())) - {"tenant"})
        if wanted and rls_values is None:
            raise ConfigurationError(
                f"superset: rls names {wanted}; pass rls_values=(tenant, resource, request) -> dict"
            )
        self._user = callable_setting(user, "superset: user") or default_user
        self.max_ttl = positive_setting(max_ttl, "superset: max_ttl")
        if self.max_ttl < SUPERSET_MIN_TTL:
            raise ConfigurationError(f"superset: max_ttl must be at least {SUPERSET_MIN_TTL} s")

    def dashboard_id(self, resource: str | None) -> str:
        """The embedded uuid for ``resource``: what the page passes to ``embedDashboard({id})``."""
        if resource is None or resource not in self.dashboards:
            raise ConfigurationError(
                f"superset: no dashboard for {resource!r}; name one listed in dashboards="
            )
        return self.dashboards[resource]

    def __call__(self, tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
        dashboard = self.dashboard_id(resource)
        rules = []
        if self.rls is not None:
            hook = self._rls_values
            values = (
                {} if hook is None else call_hook(hook, tenant, resource, request, "superset: rls_values")
            )
            values["tenant"] = tenant.id  # always the tenant's own id, whatever the hook returned
            rules = [template.render(values) for template in self.rls]
        return {
            "user": dict(self._user(tenant)),
            "resources": [{"type": "dashboard", "id": dashboard}],
            "rls_rules": rules,
            "aud": self.audience,
            "type": "guest",
        }

    def validate(self, claims: Mapping[str, Any]) -> None:
        super().validate(claims)
        if claims["exp"] - claims["iat"] < SUPERSET_MIN_TTL:
            raise ConfigurationError(
                f"superset: a token must live at least {SUPERSET_MIN_TTL} s (the SDK's refresh)"
            )
        if claims.get("type") != "guest" or claims.get("aud") != self.audience:
            raise ConfigurationError("superset: type must be 'guest' and aud the profile's audience")
        user = claims.get("user")
        if (
            not isinstance(user, Mapping)
            or not set(user) <= _USER_KEYS
            or not all(map(nonempty_str, user.values()))
        ):
            raise ConfigurationError(
                "superset: user must be {username, first_name, last_name}, non-empty strings"
            )
        resources = claims.get("resources")
        allowed = set(self.dashboards.values())
        if not isinstance(resources, list) or not resources:
            raise ConfigurationError("superset: resources must be a non-empty list of dashboards")
        for item in resources:
            if (
                not isinstance(item, Mapping)
                or item.get("type") != "dashboard"
                or item.get("id") not in allowed
            ):
                raise ConfigurationError(
                    "superset: each resource must be {type: dashboard, id: a listed embedded uuid}"
                )
        rules = claims.get("rls_rules")
        if not isinstance(rules, list) or (self.rls is not None and not rules):
            raise ConfigurationError("superset: rls_rules must be a list, non-empty when the profile has rls")
        for rule in rules:
            if (
                not isinstance(rule, Mapping)
                or not set(rule) <= _RLS_KEYS
                or not nonempty_str(rule.get("clause"))
            ):
                raise ConfigurationError(
                    "superset: each rls rule must be {clause: SQL, dataset?: integer id}"
                )
            if "dataset" in rule and not positive(rule["dataset"]):
                raise ConfigurationError("superset: an rls rule's dataset must be the dataset's integer id")
