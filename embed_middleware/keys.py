"""Signing keys: parsed once, named by ``kid``, grouped into sets for rotation and per tenant.

Parsing a PEM costs about a hundred times a signature, so a key is turned into a ``cryptography``
key object once, at start-up, and every token after that only signs::

    key = SigningKey.from_file("keys/embed-es256.pem", algorithm="ES256")
    keys = KeySet(new_key, old_key)        # the first signs; the others are still accepted
    keys.jwks()                           # the public halves, for verifiers

A symmetric key is the shared secret itself, so it never appears in a JWKS, a repr or a message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
    load_pem_public_key,
    load_ssh_public_key,
)
from jwt.algorithms import Algorithm, HMACAlgorithm, get_default_algorithms
from jwt.api_jws import PyJWS
from jwt.exceptions import InvalidKeyError

from . import tenant_binding
from .errors import ConfigurationError
from .tenant_binding import OPAQUE_TENANT_MEMBER, TENANT_MEMBER, bound_to

if TYPE_CHECKING:
    from .tenant_keys import TenantKeys

#: Where a key is read from when none is passed.
DEFAULT_KEY_ENV = "EMBED_SIGNING_KEY"
#: The algorithms we sign with, and what kind of key each needs (for messages).
ALGORITHMS: Mapping[str, str] = {
    "HS256": "a shared secret of at least 32 bytes",
    "HS384": "a shared secret of at least 48 bytes",
    "HS512": "a shared secret of at least 64 bytes",
    "RS256": "an RSA key of at least 2048 bits",
    "PS256": "an RSA key of at least 2048 bits",
    "ES256": "an EC key on curve P-256",
    "EdDSA": "an Ed25519 or Ed448 key",
}
#: RFC 7518 section 3.2: an HMAC key must be at least as long as the hash output.
MIN_HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
#: NIST SP 800-131A: RSA keys below 2048 bits are no longer acceptable for signatures.
MIN_RSA_BITS = 2048

_KEY_TYPES: Mapping[str, tuple[type, ...]] = {
    "RS256": (rsa.RSAPrivateKey, rsa.RSAPublicKey),
    "PS256": (rsa.RSAPrivateKey, rsa.RSAPublicKey),
    "ES256": (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey),
    "EdDSA": (
        ed25519.Ed25519PrivateKey,
        ed25519.Ed25519PublicKey,
        ed448.Ed448PrivateKey,
        ed448.Ed448PublicKey,
    ),
}
_PRIVATE_TYPES = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)
#: RFC 7638 section 3.2: the members a thumbprint hashes, per key type.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}

KeyMaterial = str | bytes | os.PathLike[str] | Mapping[str, Any] | Any


class _PreparedHMAC(HMACAlgorithm):
    """PyJWT's own HMAC algorithm, with the key it validated once kept for every signature.

    Signing goes through ``hmac.digest``, the one-shot form of the same HMAC that skips building an
    ``hmac.HMAC`` object per token (PyJWT still builds the header, encodes and assembles the token).
    """

    def __init__(self, hash_alg: Any, key: bytes) -> None:
        super().__init__(hash_alg)
        self._prepared = HMACAlgorithm(hash_alg).prepare_key(key)
        self._digest = hash_alg().name

    def prepare_key(self, key: Any) -> bytes:
        return self._prepared

    def sign(self, msg: bytes, key: bytes) -> bytes:
        return hmac.digest(key, msg, self._digest)


class SigningKey:
    """One key for one algorithm: a secret, a private key, or (for verifiers only) a public key."""

    __slots__ = ("_derived", "_jws", "_signing", "_verifying", "algorithm", "kid")

    def __init__(
        self,
        material: KeyMaterial,
        *,
        algorithm: str = "HS256",
        kid: str | None = None,
        password: bytes | None = None,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ConfigurationError(_unsupported(algorithm))
        if kid is not None and (not isinstance(kid, str) or not kid):
            raise ConfigurationError(f"kid must be a non-empty string, not {kid!r}")
        if isinstance(material, os.PathLike):
            material = _read_file(material)
        if isinstance(material, Mapping) and kid is None and isinstance(material.get("kid"), str):
            kid = material["kid"]  # a JWK names itself
        self.algorithm = algorithm
        algo: Algorithm
        if algorithm in MIN_HMAC_KEY_BYTES:
            secret = _secret_bytes(material, algorithm)
            try:
                algo = _PreparedHMAC(getattr(HMACAlgorithm, "SHA" + algorithm[2:]), secret)
            except InvalidKeyError:
                raise ConfigurationError(
                    "the signing key looks like a PEM/SSH/DER key; HMAC needs a random shared secret "
                    "(or pass algorithm='RS256'/'ES256'/... for an asymmetric key)"
                ) from None
            self._signing: Any = secret
            self._verifying: Any = secret
        else:
            parsed = _parse_asymmetric(material, algorithm, password)
            is_private = isinstance(parsed, _PRIVATE_TYPES)
            self._signing = parsed if is_private else None
            self._verifying = parsed.public_key() if is_private else parsed
            algo = get_default_algorithms()[algorithm]
        self.kid = kid if kid is not None or self.symmetric else self.thumbprint()
        self._jws = PyJWS(algorithms=[])
        self._jws.register_algorithm(algorithm, algo)
        self._derived: dict[bytes, bytes] = {}

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, algorithm: str = "HS256", kid: str | None = None
    ) -> SigningKey:
        """A PEM (or, for HMAC, a secret whose trailing newline is dropped) read from a file."""
        return cls(_read_file(path), algorithm=algorithm, kid=kid)

    @classmethod
    def from_env(
        cls, name: str = DEFAULT_KEY_ENV, *, algorithm: str = "HS256", kid: str | None = None
    ) -> SigningKey:
        """The key's text from an environment variable (a secret, or a whole PEM)."""
        value = os.environ.get(name)
        if not value:
            raise ConfigurationError(_missing_key(name, algorithm))
        return cls(value, algorithm=algorithm, kid=kid)

    @property
    def symmetric(self) -> bool:
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
        """Signs a JSON payload (PyJWT builds the header and the signature)."""
        if self._signing is None:
            raise ConfigurationError(f"key {self.kid!r} is a public key; only a private key can sign")
        headers = {"kid": self.kid} if self.kid is not None else None
        return self._jws.encode(payload, self._signing, algorithm=self.algorithm, headers=headers)

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

    def _jwk_members(self) -> dict[str, Any]:
        """PyJWT's JWK of the public key, with EC coordinates at the curve's full size (RFC 7518
        6.2.1.2): PyJWT 2.8 drops leading zero bytes, which its own ``from_jwk`` then refuses (about
        one P-256 key in a hundred) and which would change the RFC 7638 thumbprint between versions."""
        jwk: dict[str, Any] = get_default_algorithms()[self.algorithm].to_jwk(self._verifying, as_dict=True)
        if isinstance(self._verifying, ec.EllipticCurvePublicKey):
            numbers = self._verifying.public_numbers()
            size = (numbers.curve.key_size + 7) // 8
            for member, value in (("x", numbers.x), ("y", numbers.y)):
                jwk[member] = base64.urlsafe_b64encode(value.to_bytes(size, "big")).rstrip(b"=").decode()
        return jwk

    def public_jwk(self) -> dict[str, Any] | None:
        """The public half as a JWK (with ``kid``, ``alg``, ``use``); None for a shared secret."""
        if self.symmetric:
            return None
        jwk = self._jwk_members()
        jwk.pop("key_ops", None)
        jwk.update(alg=self.algorithm, use="sig")
        if self.kid is not None:
            jwk["kid"] = self.kid
        return jwk

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint of the public key: a stable ``kid`` that reveals nothing secret."""
        jwk = self._jwk_members()
        members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
        digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode())
        return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()

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
        try:
            data = json.loads(document) if isinstance(document, str) else document
            entries = data["keys"]
            if not isinstance(entries, list):
                raise TypeError("'keys' is not a list")
        except (ValueError, TypeError, KeyError) as error:
            raise ConfigurationError(f"not a usable JWKS document: {error}") from None
        usable = [
            (SigningKey(entry, algorithm=algorithm), entry)
            for entry in entries
            if isinstance(entry, Mapping) and (algorithm := _jwk_algorithm(entry)) is not None
        ]
        if not usable:
            raise ConfigurationError("the JWKS document has no key for RS256, PS256, ES256 or EdDSA")
        keys = cls(*(key for key, _ in usable))
        keys._secret = secret
        for key, entry in usable:
            if OPAQUE_TENANT_MEMBER in entry and secret is None:
                raise ConfigurationError(
                    f"key {key.kid!r} is bound to a tenant by {OPAQUE_TENANT_MEMBER!r}: pass the publisher's "
                    "tenant_secret= to from_jwks, or the binding could not be enforced"
                )
            member = OPAQUE_TENANT_MEMBER if secret is not None else TENANT_MEMBER
            binding = entry.get(member)
            if member in entry and not (isinstance(binding, str) and binding):
                raise ConfigurationError(f"key {key.kid!r}: {member!r} must be a non-empty string")
            if isinstance(binding, str):
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


def coerce_keys(
    source: KeyMaterial | SigningKey | KeySet | TenantKeys | None,
    *,
    algorithm: str | None = None,
    kid: str | None = None,
    key_env: str = DEFAULT_KEY_ENV,
) -> KeySet | TenantKeys:
    """What the issuer and the verifier both accept as keys, turned into a KeySet (or TenantKeys).

    One function for both sides, so a key that signs also verifies: a secret (str or bytes), a PEM,
    a ``Path`` to either, a JWK dict (its ``alg`` is used; ``oct`` is a secret), a ``cryptography``
    key object, a SigningKey, a list of them, a KeySet or TenantKeys; None reads ``key_env``.
    ``algorithm`` (HS256 unless the JWK names one) and ``kid`` describe raw material only.
    """
    from .tenant_keys import TenantKeys  # tenant_keys builds on this module

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
        raise ConfigurationError(_unsupported(algorithm))
    if source is None:
        return KeySet(SigningKey.from_env(key_env, algorithm=algorithm or "HS256", kid=kid))
    if isinstance(source, Mapping):
        if source.get("kty") == "oct":  # a JWK holding a shared secret
            algorithm = algorithm or str(source.get("alg") or "HS256")
            kid = kid if kid is not None else source.get("kid")
            source = _base64url(source.get("k"))
        else:
            algorithm = algorithm or _jwk_algorithm(source)
            if algorithm is None:
                raise ConfigurationError("this JWK names no usable alg; pass algorithm='RS256', 'ES256', ...")
    return KeySet(SigningKey(source, algorithm=algorithm or "HS256", kid=kid))


def _signing_key_list(source: object) -> bool:
    return (
        isinstance(source, list | tuple) and bool(source) and all(isinstance(k, SigningKey) for k in source)
    )


def _base64url(value: object) -> bytes:
    try:
        if not isinstance(value, str):
            raise TypeError
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (TypeError, ValueError):
        raise ConfigurationError("an oct JWK needs its secret as base64url in 'k'") from None


def _jwk_algorithm(jwk: Mapping[str, Any]) -> str | None:
    if jwk.get("use", "sig") != "sig":
        return None
    algorithm = jwk.get("alg")
    if algorithm is None:
        implied = {"EC": "ES256" if jwk.get("crv") == "P-256" else None, "OKP": "EdDSA"}
        algorithm = implied.get(str(jwk.get("kty")))
    return algorithm if algorithm in _KEY_TYPES else None


def _unsupported(algorithm: object) -> str:
    supported = ", ".join(ALGORITHMS)
    if isinstance(algorithm, str) and algorithm.lower() == "none":
        return f"algorithm 'none' produces unsigned tokens anyone can forge; use one of {supported}"
    return f"unsupported algorithm {algorithm!r}; use one of {supported}"


def _missing_key(env: str, algorithm: str) -> str:
    if algorithm in MIN_HMAC_KEY_BYTES:
        return (
            f"no signing key: pass signing_key=... or set the {env} environment variable "
            f'(at least {MIN_HMAC_KEY_BYTES[algorithm]} bytes, e.g. from `python -c "import secrets; '
            'print(secrets.token_urlsafe(48))"`)'
        )
    return f"no signing key: pass signing_key=... or set the {env} environment variable to a PEM private key"


def _read_file(path: str | os.PathLike[str]) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise ConfigurationError(f"cannot read key file {os.fspath(path)!r}: {error.strerror}") from None
    # A secret written with `echo` ends with a newline that is not part of it; a PEM does not care.
    return data.rstrip(b"\r\n")


def _secret_bytes(material: KeyMaterial, algorithm: str) -> bytes:
    if not isinstance(material, str | bytes):
        raise ConfigurationError(
            f"an {algorithm} key must be a secret (str or bytes), not {type(material).__name__}"
        )
    secret = material.encode() if isinstance(material, str) else material
    needed = MIN_HMAC_KEY_BYTES[algorithm]
    if len(secret) < needed:
        raise ConfigurationError(
            f"signing key is {len(secret)} bytes; {algorithm} needs at least {needed} "
            "(RFC 7518 3.2): use a longer random secret"
        )
    return secret


def _parse_asymmetric(material: KeyMaterial, algorithm: str, password: bytes | None) -> Any:
    """A cryptography key object of the kind ``algorithm`` needs, or a ConfigurationError saying why not."""
    need = ALGORITHMS[algorithm]
    if isinstance(material, Mapping):
        try:
            material = get_default_algorithms()[algorithm].from_jwk(dict(material))
        except (InvalidKeyError, ValueError, KeyError) as error:
            raise ConfigurationError(f"not a usable {algorithm} JWK: {error}") from None
    if isinstance(material, str | bytes):
        data = material.encode() if isinstance(material, str) else material
        material = _load_pem(data, algorithm, password)
    if not isinstance(material, _KEY_TYPES[algorithm]):
        raise ConfigurationError(f"{algorithm} needs {need}; this key is {_describe(material)}")
    if isinstance(material, rsa.RSAPrivateKey | rsa.RSAPublicKey) and material.key_size < MIN_RSA_BITS:
        raise ConfigurationError(
            f"this RSA key has {material.key_size} bits; {algorithm} needs at least {MIN_RSA_BITS}"
        )
    if isinstance(material, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and not isinstance(
        material.curve, ec.SECP256R1
    ):
        raise ConfigurationError(f"this EC key is on curve {material.curve.name}; ES256 needs P-256")
    return material


def _load_pem(data: bytes, algorithm: str, password: bytes | None) -> Any:
    stripped = data.strip()
    is_ssh = stripped.startswith((b"ssh-", b"ecdsa-sha2-"))
    if not is_ssh and b"-----BEGIN" not in stripped:
        raise ConfigurationError(
            f"{algorithm} needs {ALGORITHMS[algorithm]} in PEM form ('-----BEGIN PRIVATE KEY-----'); "
            "this looks like a shared secret: use algorithm='HS256' for that"
        )
    try:
        if is_ssh:
            return load_ssh_public_key(stripped)
        if b"PUBLIC KEY-----" in stripped:
            return load_pem_public_key(stripped)
        return load_pem_private_key(stripped, password=password)
    except TypeError as error:  # encrypted without a password, or a password for a plain key
        raise ConfigurationError(f"cannot load the {algorithm} key: {error}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigurationError(f"cannot parse the {algorithm} key: malformed or truncated PEM") from None


def _describe(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"an RSA key ({key.key_size} bits)"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"an EC key on curve {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "an Ed25519 key"
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return "an Ed448 key"
    return f"a {type(key).__name__}"
