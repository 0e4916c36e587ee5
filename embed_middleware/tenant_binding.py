"""The reserved tenant-id claim, and how a published key is bound to one tenant.

Every token the issuer mints names its tenant in :data:`TENANT_CLAIM` (``tid``, the name Azure AD
gives the same idea), whatever a claims hook or a profile did with ``sub``: ``GenericProfile(subject=...)``
may put a user in ``sub``, but revocation, per-tenant keys and JWKS binding must key on the tenant.

A per-tenant JWKS binds each public key to its tenant with a member beside ``kid``:

* ``"tid": "acme"`` (the default): plain, so it discloses the list of tenant ids to whoever can
  fetch the JWKS (usually anybody: it is public);
* ``"tid_hmac": base64url(HMAC-SHA256(secret, tenant id))`` when the publisher passes
  ``tenant_secret=``: opaque to anyone without the secret, which the verifier then needs too.

The verifier refuses a token signed by a key bound to another tenant (tenant A's key never verifies
a token that claims tenant B).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from .errors import ConfigurationError
from .tenants import Tenant

#: The claim the issuer always writes: the id of the tenant the token was minted for.
TENANT_CLAIM = "tid"
#: JWK members binding a published key to its tenant: plain, or HMAC'd with a shared secret.
TENANT_MEMBER = "tid"
OPAQUE_TENANT_MEMBER = "tid_hmac"
#: An opaque binding is only as private as its secret is hard to guess (RFC 7518 3.2's HS256 floor).
MIN_TENANT_SECRET_BYTES = 32


def is_tenant_id(value: object) -> bool:
    """True when ``value`` could name a tenant the issuer mints for (the ``Tenant`` id rule: 1 to 256
    printable characters). Checked before any lookup, so an attacker's CR/LF/NUL or megabyte string
    never reaches the operator's key lookup or revocation store."""
    if not isinstance(value, str) or not 0 < len(value) <= 256:
        return False
    try:
        Tenant(value)
    except (TypeError, ValueError):
        return False
    return True


def tenant_secret(secret: str | bytes | None) -> bytes | None:
    """The opaque-binding secret as bytes, or a ConfigurationError saying what a usable one is."""
    if secret is None:
        return None
    if not isinstance(secret, str | bytes):
        raise ConfigurationError(f"tenant_secret must be a str or bytes secret, not {type(secret).__name__}")
    raw = secret.encode() if isinstance(secret, str) else secret
    if len(raw) < MIN_TENANT_SECRET_BYTES:
        raise ConfigurationError(
            f"tenant_secret is {len(raw)} bytes; use at least {MIN_TENANT_SECRET_BYTES} random bytes "
            "(a short one lets anyone with the JWKS guess tenant ids back)"
        )
    return raw


def opaque_tenant(tenant_id: str, secret: bytes) -> str:
    """What a JWKS publishes instead of the tenant id when bindings are opaque."""
    digest = hmac.digest(secret, tenant_id.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def binding_member(tenant_id: str, secret: bytes | None) -> dict[str, str]:
    """The JWK member that binds a key to ``tenant_id``."""
    if secret is None:
        return {TENANT_MEMBER: tenant_id}
    return {OPAQUE_TENANT_MEMBER: opaque_tenant(tenant_id, secret)}


def bound_to(binding: str, tenant_id: object, secret: bytes | None) -> bool:
    """True when a key bound by ``binding`` (a member's value) may verify a token of ``tenant_id``."""
    if not is_tenant_id(tenant_id):
        return False
    assert isinstance(tenant_id, str)
    expected = tenant_id if secret is None else opaque_tenant(tenant_id, secret)
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), binding.encode("utf-8", "surrogatepass")
    )
