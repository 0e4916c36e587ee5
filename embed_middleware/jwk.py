"""JWK and JWKS: a key's public members, its RFC 7638 thumbprint, reading a JWKS, and tenant bindings.

The reserved tenant-id claim, and how a published key is bound to one tenant:

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
import json
from binascii import b2a_base64
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import get_default_algorithms

from .errors import ConfigurationError
from .key_material import KEY_TYPES
from .randomness import URLSAFE
from .tenants import Tenant

#: The claim the issuer always writes: the id of the tenant the token was minted for.
TENANT_CLAIM = "tid"
#: JWK members binding a published key to its tenant: plain, or HMAC'd with a shared secret.
TENANT_MEMBER = "tid"
OPAQUE_TENANT_MEMBER = "tid_hmac"
#: An opaque binding is only as private as its secret is hard to guess (RFC 7518 3.2's HS256 floor).
MIN_TENANT_SECRET_BYTES = 32
#: RFC 7638 section 3.2: the members a thumbprint hashes, per key type.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def b64url(data: bytes) -> bytes:
    """RFC 7515 section 2: base64url without padding (binascii straight: every token's signature goes
    through here, and ``base64.urlsafe_b64encode`` adds two Python calls for the same bytes)."""
    return b2a_base64(data, newline=False).translate(URLSAFE).rstrip(b"=")


def public_members(algorithm: str, public_key: Any) -> dict[str, Any]:
    """PyJWT's JWK of a public key, with EC coordinates at the curve's full size (RFC 7518
    6.2.1.2): PyJWT 2.8 drops leading zero bytes, which its own ``from_jwk`` then refuses (about
    one P-256 key in a hundred) and which would change the RFC 7638 thumbprint between versions."""
    jwk: dict[str, Any] = get_default_algorithms()[algorithm].to_jwk(public_key, as_dict=True)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        size = (numbers.curve.key_size + 7) // 8
        for member, value in (("x", numbers.x), ("y", numbers.y)):
            jwk[member] = b64url(value.to_bytes(size, "big")).decode()
    return jwk


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: a stable ``kid`` that reveals nothing secret."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode())
    return b64url(digest.digest()).decode()


def jwk_algorithm(jwk: Mapping[str, Any]) -> str | None:
    """The asymmetric algorithm a JWK verifies: its ``alg``, or the one its curve implies (EC P-256:
    ES256, OKP: EdDSA); None for an RSA key without ``alg`` (RS256 or PS256 is not guessed)."""
    if jwk.get("use", "sig") != "sig":
        return None
    algorithm = jwk.get("alg")
    if algorithm is None:
        implied = {"EC": "ES256" if jwk.get("crv") == "P-256" else None, "OKP": "EdDSA"}
        algorithm = implied.get(str(jwk.get("kty")))
    return algorithm if algorithm in KEY_TYPES else None


def oct_secret(value: object) -> bytes:
    """The shared secret of an ``oct`` JWK (its ``k`` member, base64url)."""
    try:
        if not isinstance(value, str):
            raise TypeError
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (TypeError, ValueError):
        raise ConfigurationError("an oct JWK needs its secret as base64url in 'k'") from None


def jwks_entries(document: Mapping[str, Any] | str) -> list[Any]:
    """The ``keys`` list of a JWKS document (a dict or its JSON text)."""
    try:
        data = json.loads(document) if isinstance(document, str) else document
        entries = data["keys"]
    except (ValueError, TypeError, KeyError) as error:
        raise ConfigurationError(f"not a usable JWKS document: {error}") from None
    if not isinstance(entries, list):
        raise ConfigurationError("not a usable JWKS document: 'keys' is not a list")
    return entries


def entry_binding(entry: Mapping[str, Any], kid: str | None, secret: bytes | None) -> str | None:
    """The tenant binding a JWKS entry publishes for its key (None: the key is not bound).

    An opaque binding needs the publisher's ``secret``: without it the binding could not be enforced,
    so that is an error rather than an unbound key.
    """
    if OPAQUE_TENANT_MEMBER in entry and secret is None:
        raise ConfigurationError(
            f"key {kid!r} is bound to a tenant by {OPAQUE_TENANT_MEMBER!r}: pass the publisher's "
            "tenant_secret= to from_jwks, or the binding could not be enforced"
        )
    member = OPAQUE_TENANT_MEMBER if secret is not None else TENANT_MEMBER
    binding = entry.get(member)
    if member in entry and not (isinstance(binding, str) and binding):
        raise ConfigurationError(f"key {kid!r}: {member!r} must be a non-empty string")
    return binding if isinstance(binding, str) else None


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
    return b64url(digest).decode()


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
