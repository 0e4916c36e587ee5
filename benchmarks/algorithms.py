"""Minting per algorithm: the issuer with its pre-parsed key, beside two references.

1. **PyJWT handed the PEM** (``jwt.encode(claims, pem, algorithm)``), what most hand-written
   ``/generate-token`` endpoints do: PyJWT parses the PEM on every call. The ratio shows what
   parsing once at start-up buys (target: below 1.0x, i.e. the issuer is faster).
2. **A bare signature** with the same pre-parsed ``cryptography`` key and the same claims, header,
   JSON and base64url work, the least code that yields a token PyJWT accepts: the floor. The ratio
   is the issuer's own overhead on top of the signature (target <= 1.5x).

Every contender's token is decoded with ``jwt.decode`` and the public key before timing starts. The
issuer names its resources (``resources=[...]``), as the middleware now requires of every issuer.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from itertools import repeat
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import SigningKey, Tenant, TokenIssuer

from .minting import RESOURCE, TTL, tinybird_claims
from .report import Row
from .timing import interleave

ASYMMETRIC = ("RS256", "PS256", "ES256", "EdDSA")
TARGET_VS_PEM = 1.0
TARGET_VS_SIGN = 1.5

Mint = Callable[[], str]


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _private_key(algorithm: str) -> Any:
    if algorithm in ("RS256", "PS256"):
        return rsa.generate_private_key(65537, 2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _signer(algorithm: str, key: Any) -> Callable[[bytes], bytes]:
    """The JWS signature itself (RFC 7518), straight from cryptography."""
    if algorithm == "RS256":
        return lambda data: bytes(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    if algorithm == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size)
        return lambda data: bytes(key.sign(data, pss, hashes.SHA256()))
    if algorithm == "ES256":

        def es256(data: bytes) -> bytes:
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        return es256
    return lambda data: bytes(key.sign(data))


def _claims(tenant: Tenant, request: Request) -> dict[str, Any]:
    claims = tinybird_claims(tenant, RESOURCE, request)
    now = int(time.time())
    claims.update(iat=now, exp=now + TTL, jti=secrets.token_urlsafe(16))
    return claims


def bare_sign(algorithm: str, key: Any, kid: str, tenant: Tenant, request: Request) -> Mint:
    header = {"alg": algorithm, "kid": kid, "typ": "JWT"}
    header_segment = _b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
    sign = _signer(algorithm, key)

    def mint() -> str:
        payload = json.dumps(_claims(tenant, request), separators=(",", ":")).encode()
        signing_input = header_segment + b"." + _b64url(payload)
        return (signing_input + b"." + _b64url(sign(signing_input))).decode("ascii")

    return mint


def pyjwt_with_pem(algorithm: str, pem: str, tenant: Tenant, request: Request) -> Mint:
    return lambda: jwt.encode(_claims(tenant, request), pem, algorithm=algorithm)


def _batch(mint: Mint, size: int) -> Callable[[], None]:
    def run() -> None:
        for _ in repeat(None, size):
            mint()

    return run


def _check(tokens: dict[str, str], public: Any, algorithm: str) -> None:
    for name, token in tokens.items():
        claims = jwt.decode(token, public, algorithms=[algorithm])
        if claims["scopes"][0]["resource"] != RESOURCE:
            raise RuntimeError(f"{name} minted unexpected claims for {algorithm}")


def _row(label: str, ours: float, floor: float, ratio: float, target: float, size: int) -> Row:
    return Row(
        benchmark=label,
        ours=f"{ours / size / 1000:.1f} µs",
        floor=f"{floor / size / 1000:.1f} µs",
        ratio=f"{ratio:.2f}x",
        target=f"<= {target:.1f}x" if target != TARGET_VS_PEM else f"< {target:.1f}x",
        met=ratio <= target if target != TARGET_VS_PEM else ratio < target,
    )


def run(*, quick: bool) -> list[Row]:
    tenant = Tenant("acme")
    request = Request(EnvironBuilder().get_environ())
    vs_pem: list[Row] = []
    vs_sign: list[Row] = []
    for algorithm in ("HS256", *ASYMMETRIC):
        if algorithm == "HS256":
            secret = "x" * 48
            issuer = TokenIssuer(secret, ttl=TTL, claims=tinybird_claims, resources=[RESOURCE])
            pem, public = secret, secret
        else:
            private = _private_key(algorithm)
            pem = private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            key = SigningKey(private, algorithm=algorithm)
            issuer = TokenIssuer(key, ttl=TTL, claims=tinybird_claims, resources=[RESOURCE])
            public = private.public_key()
        slow = algorithm in ("RS256", "PS256")
        size = (20 if slow else 200) if quick else (60 if slow else 1000)
        rounds = 8 if quick else 30

        def ours(issuer: TokenIssuer = issuer) -> str:
            return issuer.issue(tenant, RESOURCE, request).token

        reference = pyjwt_with_pem(algorithm, pem, tenant, request)
        contenders = {"ours": ours, "pyjwt+pem": reference}
        if algorithm != "HS256":
            assert key.kid is not None
            contenders["bare sign"] = bare_sign(algorithm, private, key.kid, tenant, request)
        _check({name: mint() for name, mint in contenders.items()}, public, algorithm)
        # PyJWT parsing an RSA PEM takes ~30 ms a call: a few calls per round say enough.
        pem_size = 4 if slow else size
        paired = interleave(_batch(ours, pem_size), _batch(reference, pem_size), rounds)
        label = f"mint {algorithm}: pre-parsed key vs PyJWT given the PEM"
        vs_pem.append(_row(label, paired.ours, paired.floor, paired.time_ratio, TARGET_VS_PEM, pem_size))
        if algorithm != "HS256":
            paired = interleave(_batch(ours, size), _batch(contenders["bare sign"], size), rounds)
            label = f"mint {algorithm} (time/token) vs bare signature"
            vs_sign.append(_row(label, paired.ours, paired.floor, paired.time_ratio, TARGET_VS_SIGN, size))
    return vs_sign + vs_pem
