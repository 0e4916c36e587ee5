"""Key material: what each algorithm needs, and turning a secret, a PEM or a JWK into a key object.

Every message here says what kind of key the algorithm needs and never echoes the key itself: a
secret pasted in the wrong place must not end up in a log through an exception.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_pem_public_key,
    load_ssh_public_key,
)
from jwt.algorithms import HMACAlgorithm, get_default_algorithms
from jwt.exceptions import InvalidKeyError

from .errors import ConfigurationError

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

KEY_TYPES: Mapping[str, tuple[type, ...]] = {
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
PRIVATE_TYPES = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)

KeyMaterial = str | bytes | os.PathLike[str] | Mapping[str, Any] | Any


class PreparedHMAC(HMACAlgorithm):
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


def unsupported(algorithm: object) -> str:
    supported = ", ".join(ALGORITHMS)
    if isinstance(algorithm, str) and algorithm.lower() == "none":
        return f"algorithm 'none' produces unsigned tokens anyone can forge; use one of {supported}"
    return f"unsupported algorithm {algorithm!r}; use one of {supported}"


def missing_key(env: str, algorithm: str) -> str:
    if algorithm in MIN_HMAC_KEY_BYTES:
        return (
            f"no signing key: pass signing_key=... or set the {env} environment variable "
            f'(at least {MIN_HMAC_KEY_BYTES[algorithm]} bytes, e.g. from `python -c "import secrets; '
            'print(secrets.token_urlsafe(48))"`)'
        )
    return f"no signing key: pass signing_key=... or set the {env} environment variable to a PEM private key"


def read_file(path: str | os.PathLike[str]) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise ConfigurationError(f"cannot read key file {os.fspath(path)!r}: {error.strerror}") from None
    # A secret written with `echo` ends with a newline that is not part of it; a PEM does not care.
    return data.rstrip(b"\r\n")


def secret_bytes(material: KeyMaterial, algorithm: str) -> bytes:
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


def parse_asymmetric(material: KeyMaterial, algorithm: str, password: bytes | None) -> Any:
    """A cryptography key object of the kind ``algorithm`` needs, or a ConfigurationError saying why not."""
    need = ALGORITHMS[algorithm]
    if isinstance(material, Mapping):
        try:
            material = get_default_algorithms()[algorithm].from_jwk(dict(material))
        except (InvalidKeyError, ValueError, KeyError) as error:
            raise ConfigurationError(f"not a usable {algorithm} JWK: {error}") from None
    if isinstance(material, str | bytes):
        data = material.encode() if isinstance(material, str) else material
        material = load_pem(data, algorithm, password)
    if not isinstance(material, KEY_TYPES[algorithm]):
        raise ConfigurationError(f"{algorithm} needs {need}; this key is {describe(material)}")
    if isinstance(material, rsa.RSAPrivateKey | rsa.RSAPublicKey) and material.key_size < MIN_RSA_BITS:
        raise ConfigurationError(
            f"this RSA key has {material.key_size} bits; {algorithm} needs at least {MIN_RSA_BITS}"
        )
    if isinstance(material, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and not isinstance(
        material.curve, ec.SECP256R1
    ):
        raise ConfigurationError(f"this EC key is on curve {material.curve.name}; ES256 needs P-256")
    return material


def load_pem(data: bytes, algorithm: str, password: bytes | None) -> Any:
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


def describe(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"an RSA key ({key.key_size} bits)"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"an EC key on curve {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "an Ed25519 key"
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return "an Ed448 key"
    return f"a {type(key).__name__}"
