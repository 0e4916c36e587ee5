"""Signing keys: parsed once, named by ``kid``, grouped into sets for rotation and per tenant.

Parsing a PEM costs about a hundred times a signature, so a key is turned into a ``cryptography``
key object once, at start-up, and every token after that only signs::

    key = SigningKey.from_file("keys/embed-es256.pem", algorithm="ES256")
    keys = KeySet(new_key, old_key)        # the first signs; the others are still accepted
    keys.jwks()                           # the public halves, for verifiers

A symmetric key is the shared secret itself, so it never appears in a JWKS, a repr or a message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from jwt.algorithms import Algorithm, HMACAlgorithm, get_default_algorithms
from jwt.api_jws import PyJWS
from jwt.exceptions import InvalidKeyError

from . import jwk as tenant_binding
from .errors import ConfigurationError
from .jwk import b64url, bound_to, entry_binding, jwk_algorithm, jwks_entries, public_members
from .jwk import thumbprint as jwk_thumbprint
from .key_material import (
    ALGORITHMS,
    DEFAULT_KEY_ENV,
    MIN_HMAC_KEY_BYTES,
    MIN_RSA_BITS,
    PRIVATE_TYPES,
    KeyMaterial,
    PreparedHMAC,
    missing_key,
    parse_asymmetric,
    read_file,
    secret_bytes,
    unsupported,
)

__all__ = [
    "ALGORITHMS",
    "DEFAULT_KEY_ENV",
    "MIN_HMAC_KEY_BYTES",
    "MIN_RSA_BITS",
    "KeyMaterial",
    "KeySet",
    "SigningKey",
    "as_key_set",
]


class SigningKey:
    """One key for one algorithm: a secret, a private key, or (for verifiers only) a public key."""

    __slots__ = ("_algo", "_derived", "_header", "_jws", "_signing", "_verifying", "algorithm", "kid")

    def __init__(
        self,
        material: KeyMaterial,
        *,
        algorithm: str = "HS256",
        kid: str | None = None,
        password: bytes | None = None,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ConfigurationError(unsupported(algorithm))
        if kid is not None and (not isinstance(kid, str) or not kid):
            raise ConfigurationError(f"kid must be a non-empty string, not {kid!r}")
        if isinstance(material, os.PathLike):
            material = read_file(material)
        if isinstance(material, Mapping) and kid is None and isinstance(material.get("kid"), str):
            kid = material["kid"]  # a JWK names itself
        self.algorithm = algorithm
        algo: Algorithm
        if algorithm in MIN_HMAC_KEY_BYTES:
            secret = secret_bytes(material, algorithm)
            try:
                algo = PreparedHMAC(getattr(HMACAlgorithm, "SHA" + algorithm[2:]), secret)
            except InvalidKeyError:
                raise ConfigurationError(
                    "the signing key looks like a PEM/SSH/DER key; HMAC needs a random shared secret "
                    "(or pass algorithm='RS256'/'ES256'/... for an asymmetric key)"
                ) from None
            self._signing: Any = secret
            self._verifying: Any = secret
        else:
            parsed = parse_asymmetric(material, algorithm, password)
            is_private = isinstance(parsed, PRIVATE_TYPES)
            self._signing = parsed if is_private else None
            self._verifying = parsed.public_key() if is_private else parsed
            algo = get_default_algorithms()[algorithm]
        self.kid = kid if kid is not None or self.symmetric else self.thumbprint()
        self._jws = PyJWS(algorithms=[])
        self._jws.register_algorithm(algorithm, algo)
        self._algo = algo
        # RFC 7515 7.1: the header segment is the same for every token this key signs, so it is
        # encoded once (members sorted, compact, as PyJWT writes it).
        header = (
            {"alg": algorithm, "typ": "JWT"}
            if self.kid is None
            else {"alg": algorithm, "kid": self.kid, "typ": "JWT"}
        )
        self._header = b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode()) + b"."
        self._derived: dict[bytes, bytes] = {}

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, algorithm: str = "HS256", kid: str | None = None
    ) -> SigningKey:
        """A PEM (or, for HMAC, a secret whose trailing newline is dropped) read from a file."""
        return cls(read_file(path), algorithm=algorithm, kid=kid)

    @classmethod
    def from_env(
        cls, name: str = DEFAULT_KEY_ENV, *, algorithm: str = "HS256", kid: str | None = None
    ) -> SigningKey:
        """The key's text from an environment variable (a secret, or a whole PEM)."""
        value = os.environ.get(name)
        if not value:
            raise ConfigurationError(missing_key(name, algorithm))
        return cls(value, algorithm=algorithm, kid=kid)

    @property
    def symmetric(self) -> bool:
        """An HMAC secret: never published in a JWKS, and both sides must keep it."""
        return self.algorithm in MIN_HMAC_KEY_BYTES

    @property
    def can_sign(self) -> bool:
        """False for a public key, which only verifiers hold."""
        return self._signing is not None

    @property
    def verifying_key(self) -> Any:
        """What ``jwt.decode`` needs: the secret, or the public key object."""
        return self._verifying

    def encode(self, payload: bytes) -> str:
        """Signs a JSON payload into a compact JWS (RFC 7515 7.1): ``header.payload.signature``.

        The serialisation is ours (the header segment is cached per key; one base64url per part);
        PyJWT's algorithm object makes the signature, and ``jwt.decode`` reads the result as its own.
        """
        return self.sign_segment(b64url(payload))

    def sign_segment(self, payload_segment: bytes) -> str:
        """``encode`` for a payload already in base64url (the issuer caches the part that never changes)."""
        if self._signing is None:
            raise ConfigurationError(f"key {self.kid!r} is a public key; only a private key can sign")
        signing_input = self._header + payload_segment
        return (signing_input + b"." + b64url(self._algo.sign(signing_input, self._signing))).decode("ascii")

    def derive(self, label: bytes) -> bytes:
        """A 32-byte secret for one purpose (``label``), derived from the signing key.

        Token reuse needs values every host holding this key computes alike, that nobody without the
        key can compute, and that change when the key does: ``jti`` for a window, cache names. It is
        HMAC-SHA256 of the label under a hash of the private material, so it reveals nothing about the
        key, and each label gives an unrelated secret. Computed once per label (a PEM export costs).
        """
        found = self._derived.get(label)
        if found is None:
            if self._signing is None:
                raise ConfigurationError(f"key {self.kid!r} is a public key; only a private key derives")
            if isinstance(self._signing, bytes):
                material = self._signing
            else:
                material = hashlib.sha256(
                    self._signing.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
                ).digest()
            found = self._derived[label] = hmac.digest(material, b"embed_middleware:" + label, "sha256")
        return found

    def verify_signature(self, signing_input: bytes, signature: bytes) -> bool:
        """Whether ``signature`` over ``signing_input`` was made with this key (no claims are checked)."""
        algorithm = self._jws.get_algorithm_by_name(self.algorithm)
        try:
            return bool(algorithm.verify(signing_input, self._verifying, signature))
        except (ValueError, TypeError):
            return False

    def public_jwk(self) -> dict[str, Any] | None:
        """The public half as a JWK (with ``kid``, ``alg``, ``use``); None for a shared secret."""
        if self.symmetric:
            return None
        jwk = public_members(self.algorithm, self._verifying)
        jwk.pop("key_ops", None)
        jwk.update(alg=self.algorithm, use="sig")
        if self.kid is not None:
            jwk["kid"] = self.kid
        return jwk

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint of the public key: a stable ``kid`` that reveals nothing secret."""
        return jwk_thumbprint(public_members(self.algorithm, self._verifying))

    def __repr__(self) -> str:
        kind = "secret" if self.symmetric else ("private" if self.can_sign else "public")
        return f"SigningKey(algorithm={self.algorithm!r}, kid={self.kid!r}, {kind})"


class KeySet:
    """The active signing key first, then older keys verifiers still accept until their tokens expire.

    Rotating without downtime: 1. give verifiers ``KeySet(old, new)`` (new is accepted); 2. give
    issuers ``KeySet(new, old)`` (new signs); 3. after the longest TTL, drop ``old`` everywhere.
    """

    __slots__ = ("_by_kid", "_secret", "_tenants", "keys")

    def __init__(self, active: SigningKey, *accepted: SigningKey) -> None:
        keys = (active, *accepted)
        if not all(isinstance(key, SigningKey) for key in keys):
            raise ConfigurationError(
                "a KeySet holds SigningKey objects, e.g. SigningKey(secret, kid='2026-11')"
            )
        if len(keys) > 1 and any(key.kid is None for key in keys):
            raise ConfigurationError(
                "every key in a set of several needs a kid, so verifiers can tell them apart: "
                "SigningKey(secret, kid='2026-11')"
            )
        kids = [key.kid for key in keys]
        if len(set(kids)) != len(kids):
            raise ConfigurationError(f"duplicate kid in key set: {kids}")
        self.keys: tuple[SigningKey, ...] = keys
        self._by_kid = {key.kid: key for key in keys}
        #: kid -> the tenant binding a per-tenant JWKS published for it (see tenant_binding.py).
        self._tenants: dict[str | None, str] = {}
        self._secret: bytes | None = None

    @property
    def active(self) -> SigningKey:
        """The key new tokens are signed with; the others are still accepted while tokens signed
        with them may live (rotation)."""
        return self.keys[0]

    @classmethod
    def from_jwks(
        cls, document: Mapping[str, Any] | str, *, tenant_secret: str | bytes | None = None
    ) -> KeySet:
        """A verifier's key set from a JWKS document (a dict or its JSON text).

        Each key's ``alg`` says what it verifies; without one, EC P-256 means ES256 and OKP means
        EdDSA, while an RSA key (RS256 or PS256?) is skipped rather than guessed. Secret (``oct``)
        keys are skipped: a published secret is no secret.

        A key published with a tenant binding (``tid``, or ``tid_hmac`` when the publisher passed
        ``tenant_secret=``) verifies only tokens of that tenant. An opaque binding needs the same
        ``tenant_secret`` here: without it the binding could not be enforced, so that is an error.
        """
        secret = tenant_binding.tenant_secret(tenant_secret)
        usable = [
            (SigningKey(entry, algorithm=algorithm), entry)
            for entry in jwks_entries(document)
            if isinstance(entry, Mapping) and (algorithm := jwk_algorithm(entry)) is not None
        ]
        if not usable:
            raise ConfigurationError("the JWKS document has no key for RS256, PS256, ES256 or EdDSA")
        keys = cls(*(key for key, _ in usable))
        keys._secret = secret
        for key, entry in usable:
            binding = entry_binding(entry, key.kid, secret)
            if binding is not None:
                keys._tenants[key.kid] = binding
        return keys

    def admits(self, key: SigningKey, tenant_id: object) -> bool:
        """False when ``key`` was published bound to a tenant other than ``tenant_id``."""
        binding = self._tenants.get(key.kid)
        return binding is None or bound_to(binding, tenant_id, self._secret)

    def find(self, kid: str | None) -> SigningKey | None:
        """The key a token's ``kid`` names; a token without one matches only a single-key set."""
        if kid is None:
            return self.keys[0] if len(self.keys) == 1 else None
        return self._by_kid.get(kid)

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWKS document; shared secrets are never included."""
        return {"keys": [jwk for key in self.keys if (jwk := key.public_jwk()) is not None]}

    def __iter__(self) -> Any:
        return iter(self.keys)

    def __repr__(self) -> str:
        return f"KeySet({', '.join(map(repr, self.keys))})"


def as_key_set(keys: SigningKey | KeySet | Iterable[SigningKey]) -> KeySet:
    """Lets a single key stand wherever a set is expected."""
    if isinstance(keys, KeySet):
        return keys
    if isinstance(keys, SigningKey):
        return KeySet(keys)
    if isinstance(keys, str | bytes) or not isinstance(keys, Iterable) or not (keys := tuple(keys)):
        raise ConfigurationError("keys must be a SigningKey, a KeySet, or a non-empty list of SigningKey")
    return KeySet(*keys)
