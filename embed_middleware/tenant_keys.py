"""Per-tenant keys: each tenant organisation signs with its own secret, as Chartio does.

Revoking one tenant is rotating that tenant's key set; every other tenant's tokens keep working::

    keys = TenantKeys({"acme": SigningKey(acme_secret), "globex": SigningKey(globex_secret)})
    issuer = TokenIssuer(keys)                  # signs acme's tokens with acme's key
    verify(token, keys)                          # looks up the key by the token's tenant claim
    keys.rotate("acme", SigningKey(new_secret))  # acme's old tokens stop verifying; globex notices nothing

The verifier learns the tenant from the token's (not yet verified) ``tenant_claim`` (the reserved
``tid`` the issuer always writes), checks that it is a possible tenant id before any lookup, and
checks the signature with that tenant's keys only, so a token signed with tenant A's key that claims
to be tenant B's fails: B's keys never verify A's signature. An unknown tenant is answered exactly
like a bad signature, so the answers do not tell an anonymous client which tenants exist.

``jwks()`` binds each published key to its tenant (``"tid": "acme"`` beside ``kid``), which
``KeySet.from_jwks`` and the verifier enforce. That member discloses every tenant id to whoever can
fetch the JWKS; ``TenantKeys(..., tenant_secret=...)`` publishes an HMAC of the id instead (``tid_hmac``), and
verifiers then pass the same secret to ``from_jwks``. Give asymmetric keys their default kid (the
RFC 7638 thumbprint): a kid such as ``"acme-1"`` would disclose the tenant all the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from . import jwk as tenant_binding
from .errors import ConfigurationError
from .jwk import TENANT_CLAIM, binding_member, is_tenant_id
from .keys import KeySet, SigningKey, as_key_set

#: The claim that names a token's tenant, for key lookup and revocation: the reserved ``tid``.
DEFAULT_TENANT_CLAIM = TENANT_CLAIM

KeyLookup = Callable[[str], "SigningKey | KeySet | None"]


class TenantKeys:
    """Key sets by tenant id: a mapping fixed at start-up (rotatable), or a lookup callable."""

    def __init__(
        self,
        keys: Mapping[str, SigningKey | KeySet] | KeyLookup,
        *,
        tenant_claim: str = DEFAULT_TENANT_CLAIM,
        tenant_secret: str | bytes | None = None,
    ) -> None:
        if not isinstance(tenant_claim, str) or not tenant_claim:
            raise ConfigurationError(f"tenant_claim must be a claim name such as 'tid', not {tenant_claim!r}")
        self.tenant_claim = tenant_claim
        #: When set, jwks() binds keys by an HMAC of the tenant id, not the id itself.
        self._tenant_secret = tenant_binding.tenant_secret(tenant_secret)
        self._lock = threading.Lock()
        self._lookup: KeyLookup | None = None
        self._sets: dict[str, KeySet] = {}
        if isinstance(keys, Mapping):
            for tenant_id, tenant_keys in keys.items():
                self._sets[_checked_id(tenant_id)] = _checked_set(tenant_id, tenant_keys)
        elif callable(keys):
            self._lookup = keys
        else:
            raise ConfigurationError(
                "TenantKeys takes a mapping {tenant_id: key} or a callable tenant_id -> key"
            )

    def for_tenant(self, tenant_id: str) -> KeySet | None:
        """The tenant's keys; None when it has none (no token is issued or accepted for it), or when
        ``tenant_id`` could not be a tenant's: the lookup never sees such a string."""
        if not is_tenant_id(tenant_id):
            return None
        if self._lookup is None:
            return self._sets.get(tenant_id)
        found = self._lookup(tenant_id)
        return None if found is None else _checked_set(tenant_id, found)

    def for_claims(self, claims: Mapping[str, Any]) -> KeySet | None:
        """The keys of the tenant a token names (before its signature is checked)."""
        tenant_id = claims.get(self.tenant_claim)
        return self.for_tenant(tenant_id) if isinstance(tenant_id, str) else None

    def rotate(self, tenant_id: str, keys: SigningKey | KeySet) -> None:
        """Replaces one tenant's keys. Pass ``KeySet(new, old)`` to keep old tokens valid until expiry,
        or just the new key to revoke every token the tenant holds now."""
        if self._lookup is not None:
            raise ConfigurationError(
                "rotate() needs TenantKeys built from a mapping; your lookup owns the keys"
            )
        new = _checked_set(tenant_id, keys)
        with self._lock:
            self._sets = {**self._sets, _checked_id(tenant_id): new}

    @property
    def is_lookup(self) -> bool:
        """True when a callable owns the keys (they cannot be listed, rotated or published here)."""
        return self._lookup is not None

    def jwks(self) -> dict[str, Any]:
        """Every tenant's public keys in one JWKS, each bound to its tenant (kids must then be unique
        across tenants). Plain bindings disclose the tenant ids; ``tenant_secret=`` makes them opaque."""
        return {
            "keys": [
                {**jwk, **binding_member(tenant_id, self._tenant_secret)}
                for tenant_id, keys in self._sets.items()
                for jwk in keys.jwks()["keys"]
            ]
        }

    def __repr__(self) -> str:
        return f"TenantKeys({len(self._sets)} tenants, tenant_claim={self.tenant_claim!r})"


def _checked_id(tenant_id: object) -> str:
    if not is_tenant_id(tenant_id):
        raise ConfigurationError(f"tenant ids are 1 to 256 printable characters, not {tenant_id!r}")
    assert isinstance(tenant_id, str)
    return tenant_id


def _checked_set(tenant_id: object, keys: object) -> KeySet:
    if not isinstance(keys, SigningKey | KeySet):
        raise ConfigurationError(
            f"the keys for tenant {tenant_id!r} must be a SigningKey or KeySet, not {type(keys).__name__}"
        )
    return as_key_set(keys)
