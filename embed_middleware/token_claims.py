"""What a token says: the default claims, the hook's shape, the tenant's locked claims merged over a
hook's, the tenant claim pinned, and a fresh ``jti``. Pure functions the issuer calls per token.
"""

from __future__ import annotations

from binascii import b2a_base64
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, Literal

from werkzeug.wrappers import Request

from .errors import ConfigurationError, TokenIssueError
from .profiles.checks import names_setting
from .randomness import URLSAFE, random_id
from .tenants import Tenant

if TYPE_CHECKING:
    from .profiles import Profile

#: Claims the issuer owns: a hook cannot extend a token's life or reuse an id.
RESERVED_CLAIMS = frozenset({"iat", "exp", "jti"})
#: A fresh token id: 128 random bits in base64url (see ``randomness``).
new_jti = random_id


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


class StaticPayloads:
    """The base64url of the part of a payload that is the same for every token of a (tenant, resource).

    With the default claims and no locked claims, a payload is ``{"sub":…,"resource":…`` followed by
    ``"iat":…,"exp":…,"jti":…}``: only the tail changes per token. base64url maps each 3 bytes to 4
    characters on its own, so the head's first ``3k`` bytes are encoded once and kept; each token then
    encodes its few leftover head bytes and its tail. The bytes equal those of encoding the whole dict
    with the issuer's compact JSON (``tests/test_compact_jws.py`` holds them to it), and the claims
    still come from ``claims_of`` on a miss, so there is no second owner of what a token says.
    """

    __slots__ = ("_claims_of", "_encode", "_heads")

    #: Distinct (tenant, resource) pairs kept; past it the cache starts over. A pair costs ~200 bytes
    #: (2 KB at most: a 256-character id, all escaped), so a resolver handing out many ids stays bounded.
    LIMIT = 1024

    def __init__(
        self,
        claims_of: Callable[[Tenant, str | None], dict[str, Any]],
        encode_json: Callable[[Any], str],
    ) -> None:
        self._claims_of = claims_of
        self._encode = encode_json
        self._heads: dict[tuple[str, str | None], tuple[bytes, bytes]] = {}

    def segment(self, tenant: Tenant, resource: str | None, now: int, exp: int, jti: str) -> bytes:
        """The payload segment (base64url) for these claims with ``iat``/``exp``/``jti`` appended."""
        key = (tenant.id, resource)
        found = self._heads.get(key)
        if found is None:
            found = self._head(tenant, resource)
        encoded, leftover = found
        tail = b'"iat":%d,"exp":%d,"jti":"%s"}' % (now, exp, jti.encode("ascii"))
        return encoded + b2a_base64(leftover + tail, newline=False).translate(URLSAFE).rstrip(b"=")

    def _head(self, tenant: Tenant, resource: str | None) -> tuple[bytes, bytes]:
        claims = self._claims_of(tenant, resource)
        if RESERVED_CLAIMS & claims.keys():  # pragma: no cover - the claims never hold them here
            raise TokenIssueError("static claims may not name iat, exp or jti")
        text = self._encode(claims).encode()
        head = text[:-1] + (b"," if claims else b"")  # "{...}" -> "{...," ; "{}" -> "{"
        cut = len(head) - len(head) % 3
        found = (b2a_base64(head[:cut], newline=False).translate(URLSAFE), head[cut:])
        if len(self._heads) >= self.LIMIT:
            self._heads.clear()
        self._heads[(tenant.id, resource)] = found
        return found
