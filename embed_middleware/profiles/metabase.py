"""Metabase static embedding (metabase.com/docs/latest/embedding/static-embedding).

``resource`` is ``{"dashboard": id}`` or ``{"question": id}``, ``params`` the locked parameters (``{}``
when none), ``exp``; the iframe loads ``<site>/embed/dashboard/<token>#bordered=true&titled=true``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
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
    id_mapping,
    optional_positive,
    positive,
)

#: The appearance settings of Metabase's own embed code (unsigned, after ``#``).
METABASE_APPEARANCE = "#bordered=true&titled=true"
_METABASE_KINDS = {"dashboard", "question"}
_NO_IDS: Mapping[str, int] = MappingProxyType({})
_HTTP = ("https://", "http://")


class MetabaseProfile(Profile):
    """Metabase static embedding: ``dashboards`` and ``questions`` map placeholder names to ids.

    ``params(tenant, resource, request)`` gives the locked parameters; ``params`` is always sent, ``{}`` when
    empty, as Metabase requires. The bare or an unknown resource raises ConfigurationError.
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
        raise ConfigurationError(
            f"metabase: no id for {resource!r}; name one listed in dashboards= or questions="
        )

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
            raise ConfigurationError(
                "metabase: resource must be exactly one of {'dashboard': id}, {'question': id}"
            )
        ((kind, ident),) = resource.items()
        if not positive(ident):
            raise ConfigurationError(f"metabase: resource.{kind} must be a positive integer id")
        if "params" not in claims:
            raise ConfigurationError("metabase: params is required ({} when no parameter is locked)")
        check_values(claims["params"], "metabase: params")
