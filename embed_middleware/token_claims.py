"""What a token says: the default claims, the hook's shape, the tenant's locked claims merged over a
hook's, the tenant claim pinned, and a fresh ``jti``. Pure functions the issuer calls per token.
"""

from __future__ import annotations

from binascii import b2a_base64
from collections.abc import Callable, Collection, Mapping
from os import urandom
from typing import TYPE_CHECKING, Any, Literal

from werkzeug.wrappers import Request

from .errors import ConfigurationError, TokenIssueError
from .profiles.checks import names_setting
from .tenants import Tenant

if TYPE_CHECKING:
    from .profiles import Profile

#: Claims the issuer owns: a hook cannot extend a token's life or reuse an id.
RESERVED_CLAIMS = frozenset({"iat", "exp", "jti"})
#: base64url's alphabet over standard base64's (RFC 4648 section 5).
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def new_jti() -> str:
    """A fresh token id: 16 random bytes, base64url (``secrets.token_urlsafe(16)`` without its layers)."""
    return b2a_base64(urandom(16), newline=False).translate(_URLSAFE)[:22].decode("ascii")


#: ``(tenant, resource, request) -> claims``; resource is None for the bare ``<JWT_TOKEN>``, and
#: request is None when ``TokenIssuer.issue`` is called outside a request (a CLI, a background job).
ClaimsHook = Callable[[Tenant, "str | None", Request], Mapping[str, Any]]


def default_claims(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
    """``sub`` is the tenant, ``resource`` the placeholder's name when it has one."""
    if resource is None:
        return {"sub": tenant.id}
    return {"sub": tenant.id, "resource": resource}


def pin_tenant(claims: dict[str, Any], claim: str, tenant_id: str) -> None:
    """Verifiers pick per-tenant keys and revocations by this claim: it must name the token's tenant."""
    named = claims.setdefault(claim, tenant_id)
    if named != tenant_id:
        raise TokenIssueError(
            f"claim {claim!r} names {named!r} but the token is signed for tenant {tenant_id!r}; "
            "verifiers key revocation and per-tenant keys on it, so it must name the token's own tenant"
        )


def merge_locked(derived: Mapping[str, Any], locked: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merges ``locked`` over ``derived``: at every level the tenant's value wins."""
    merged = dict(derived)
    for name, value in locked.items():
        below = merged.get(name)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[name] = merge_locked(below, value)
        else:
            merged[name] = value
    return merged


#: ``resources="per-tenant"``: each ``Tenant.resources`` is the allowlist (listing none: no token).
PER_TENANT: Literal["per-tenant"] = "per-tenant"
Resources = Collection[str] | Literal["per-tenant"]


def resource_allowlist(
    resources: Resources | None, profile: Profile | None
) -> frozenset[str] | Literal["per-tenant"] | None:
    """The names pages may embed: ``resources=`` checked, else the profile's own list."""
    if isinstance(resources, str):
        if resources != PER_TENANT:
            raise ConfigurationError(
                "resources must be a list of names, e.g. ['top_airlines'], or 'per-tenant', "
                f"not {resources!r}"
            )
        return PER_TENANT
    if resources is not None:
        return names_setting(resources, "resources")
    return profile.resources if profile is not None else None
