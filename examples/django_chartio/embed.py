"""What the embed middleware needs from this project: whose page it is, and what its token says.

The guide's payload, split by trust: the filter form's values come from the query string and go
into ``env`` through the claims hook; ``ACCT_ID`` comes from the session and goes into
``Tenant.locked_claims``, which the issuer merges over whatever the hook returned, so no query parameter
(``?acct_id=2``, ``?ACCT_ID=2``) can change whose rows the dashboard shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms  # type: ignore[import-untyped]
from django.conf import settings  # type: ignore[import-untyped]

from embed_middleware import ChartioProfile, Tenant, TokenIssuer

from .chartio import AIRPORTS

#: Who may log in: user -> (tenant, that tenant's Chartio account id).
USERS: Mapping[str, tuple[str, str]] = {"alice": ("acme", "1"), "bob": ("globex", "2")}
TENANT_NAMES: Mapping[str, str] = {"acme": "Acme Air", "globex": "Globex Airways"}
#: The only dashboards a tenant's page may embed: any other placeholder is left empty.
RESOURCES = frozenset(settings.CHARTIO_DASHBOARDS)


class FilterForm(forms.Form):  # type: ignore[misc]
    """The page's filters, which the guide turns into dashboard variables."""

    origin = forms.ChoiceField(choices=[("", "any"), *((a, a) for a in AIRPORTS)], required=False)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


def filter_env(tenant: Tenant, resource: str | None, request: Any) -> dict[str, str]:
    """The guide's ``env = {k.upper(): str(v) for k, v in form.cleaned_data.items()}``, read from the
    Django request the middleware hands over; an invalid or empty filter is left out."""
    form = FilterForm(request.GET)
    form.is_valid()
    return {name.upper(): str(value) for name, value in form.cleaned_data.items() if value not in (None, "")}


def tenant_of(request: Any) -> Tenant | None:
    """The logged-in user's tenant, its ``ACCT_ID`` locked from the session (the guide's
    ``env['ACCT_ID'] = request.session['ACCT_ID']``); None, so no token, when nobody is logged in."""
    tenant, account = request.session.get("tenant"), request.session.get("ACCT_ID")
    if tenant not in TENANT_NAMES or not isinstance(account, str):
        return None
    return Tenant(tenant, locked_claims={"env": {"ACCT_ID": account}}, resources=RESOURCES)


#: Ten minutes: the guide's tokens live a day, but a copied iframe URL should die sooner.
issuer = TokenIssuer(
    settings.CHARTIO_SECRET,
    ttl=600,
    claims=ChartioProfile(
        settings.CHARTIO_ORGANIZATION, dashboards=settings.CHARTIO_DASHBOARDS, env=filter_env
    ),
)
