"""The one function that turns whatever a user passes as keys into a KeySet or TenantKeys.

The issuer and the verifier both call :func:`coerce_keys`, so anything that signs also verifies: a
secret, a PEM, a ``Path``, a JWK, a key object, a SigningKey, a list of them, a KeySet, TenantKeys, or
None (the ``EMBED_SIGNING_KEY`` environment variable).
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import ConfigurationError
from .jwk import jwk_algorithm, oct_secret
from .key_material import ALGORITHMS, DEFAULT_KEY_ENV, KeyMaterial, unsupported
from .keys import KeySet, SigningKey, as_key_set
from .tenant_keys import TenantKeys

__all__ = ["coerce_keys"]


def coerce_keys(
    source: KeyMaterial | SigningKey | KeySet | TenantKeys | None,
    *,
    algorithm: str | None = None,
    kid: str | None = None,
    key_env: str = DEFAULT_KEY_ENV,
    signing: bool = False,
) -> KeySet | TenantKeys:
    """What the issuer and the verifier both accept as keys, turned into a KeySet (or TenantKeys).

    One function for both sides, so a key that signs also verifies: a secret (str or bytes), a PEM,
    a ``Path`` to either, a JWK dict (its ``alg`` is used; ``oct`` is a secret), a ``cryptography``
    key object, a SigningKey, a list of them, a KeySet or TenantKeys; None reads ``key_env``.
    ``algorithm`` (HS256 unless the JWK names one) and ``kid`` describe raw material only.
    ``signing=True`` (the issuer) also demands that a KeySet's active key is private.
    """
    keys = _coerce(source, algorithm, kid, key_env)
    if signing and isinstance(keys, KeySet) and not keys.active.can_sign:
        raise ConfigurationError("the active key is a public key; the issuer needs the private key to sign")
    return keys


def _coerce(
    source: KeyMaterial | SigningKey | KeySet | TenantKeys | None,
    algorithm: str | None,
    kid: str | None,
    key_env: str,
) -> KeySet | TenantKeys:
    listed = source if isinstance(source, list | tuple) else ()
    key_list = bool(listed) and all(isinstance(key, SigningKey) for key in listed)
    if isinstance(source, SigningKey | KeySet | TenantKeys) or key_list:
        if algorithm is not None or kid is not None:
            raise ConfigurationError(
                "algorithm= and kid= describe raw key material; a SigningKey carries its own"
            )
        if isinstance(source, TenantKeys):
            return source
        return source if isinstance(source, KeySet) else as_key_set(listed or (source,))
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise ConfigurationError(unsupported(algorithm))
    if source is None:
        return KeySet(SigningKey.from_env(key_env, algorithm=algorithm or "HS256", kid=kid))
    if isinstance(source, Mapping):
        if source.get("kty") == "oct":  # a JWK holding a shared secret
            algorithm = algorithm or str(source.get("alg") or "HS256")
            kid = kid if kid is not None else source.get("kid")
            source = oct_secret(source.get("k"))
        else:
            algorithm = algorithm or jwk_algorithm(source)
            if algorithm is None:
                raise ConfigurationError("this JWK names no usable alg; pass algorithm='RS256', 'ES256', ...")
    return KeySet(SigningKey(source, algorithm=algorithm or "HS256", kid=kid))
