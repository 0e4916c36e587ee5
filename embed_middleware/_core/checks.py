"""Start-up checks that span options: what the issuer must name, and whom a token endpoint trusts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigurationError
from ..tenant_keys import TenantKeys
from ..tenants import reads_client_input
from ..tokens import TokenIssuer

if TYPE_CHECKING:
    from ..config import HeaderDelivery


def check_endpoint_resolver(resolver: object, trusts_client_input: bool) -> None:
    """A token endpoint must know who asks: refuse one whose resolver any client can steer alone."""
    if trusts_client_input or not reads_client_input(resolver):
        return
    raise ConfigurationError(
        f"the token endpoint would trust {resolver!r}, which names a tenant from what any client sends "
        "(Host, path, a header or an unverified cookie): an anonymous caller would get that tenant's "
        "token. Use a resolver that reads your session or login (or require_all(session_resolver, "
        "from_subdomain(...))), mount the endpoint inside your app (TokenEndpointWSGI/TokenEndpointASGI, "
        "the Flask or Django view) so that resolver sees them, or pass "
        "token_endpoint_trusts_client_input=True if a proxy in front authenticates every caller"
    )


def check_scoping(issuer: TokenIssuer, header: HeaderDelivery | None) -> None:
    """Scoped by default: the issuer must name what pages may embed, and the header token its scope."""
    if issuer.resources is None:
        raise ConfigurationError(
            "name the resources pages may embed: TokenIssuer(resources=['top_airlines', ...]), a profile's "
            "pipes=/dashboards=/questions=, or resources='per-tenant' when every Tenant lists its own"
        )
    if header is not None and not issuer.names(header.resource):
        raise ConfigurationError(
            "HeaderDelivery(resource=...) must name a resource the issuer allows"
            + (
                " (an unscoped token needs TokenIssuer(allow_unscoped=True))"
                if header.resource is None
                else ""
            )
        )


def check_publishable(issuer: TokenIssuer) -> None:
    """A JWKS path only makes sense with public keys to publish; say so at start-up, not with a 404."""
    keys = issuer.keys
    if isinstance(keys, TenantKeys) and keys.is_lookup:
        raise ConfigurationError(
            "jwks_path needs TenantKeys built from a mapping: a lookup cannot list its keys"
        )
    if not keys.jwks()["keys"]:
        raise ConfigurationError(
            "jwks_path publishes public keys, and this issuer signs with a shared secret (never published): "
            "use an RS256/PS256/ES256/EdDSA key, or drop jwks_path"
        )
