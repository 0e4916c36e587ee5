"""Claims builders ("profiles") for real analytics providers, one provider per module.

A profile is a ``TokenIssuer`` claims hook ``(tenant, resource, request) -> dict`` that also knows its
provider's limits, so a wrong claim fails here, naming the limit, instead of as a blank iframe there::

    TokenIssuer(ttl=600, claims=TinybirdProfile(WORKSPACE, fixed_params=lambda t, pipe, r: {"org": t.id}))

Modules: :mod:`.tinybird`, :mod:`.chartio`, :mod:`.metabase`, :mod:`.superset`, :mod:`.generic`, and
:mod:`.base` (the :class:`Profile` they share). Error messages name the claim and the limit, never a
token, a key or a claim's value.
"""

from __future__ import annotations

from .base import Profile
from .chartio import CHARTIO_EMBED_BASE, CHARTIO_MAX_TTL, ChartioProfile
from .generic import GenericProfile
from .metabase import METABASE_APPEARANCE, MetabaseProfile
from .superset import (
    MAX_LITERAL,
    SUPERSET_MAX_TTL,
    SUPERSET_MIN_TTL,
    RlsTemplate,
    SupersetProfile,
    sql_literal,
)
from .tinybird import TINYBIRD_SCOPE_TYPES, TinybirdProfile

__all__ = [
    "CHARTIO_EMBED_BASE",
    "CHARTIO_MAX_TTL",
    "MAX_LITERAL",
    "METABASE_APPEARANCE",
    "PROFILES",
    "SUPERSET_MAX_TTL",
    "SUPERSET_MIN_TTL",
    "TINYBIRD_SCOPE_TYPES",
    "ChartioProfile",
    "GenericProfile",
    "MetabaseProfile",
    "Profile",
    "RlsTemplate",
    "SupersetProfile",
    "TinybirdProfile",
    "sql_literal",
]

#: Profile classes by name, for configuration files.
PROFILES: dict[str, type[Profile]] = {
    p.name: p for p in (TinybirdProfile, ChartioProfile, MetabaseProfile, GenericProfile, SupersetProfile)
}
