"""Token issuing: claims, key, algorithm and lifetime. PyJWT does the encoding and signing.

The issuer is built once at start-up and validated there, so a missing or weak key stops the app
before it serves a single page::

    issuer = TokenIssuer(signing_key=os.environ["EMBED_SIGNING_KEY"], ttl=600,
                         claims=lambda tenant, resource, request: {"workspace_id": WS})

The key is prepared once (PyJWT would otherwise re-inspect it on every token) and never appears
in a repr, a log line or an exception message.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jwt.algorithms import HMACAlgorithm
from jwt.api_jws import PyJWS
from jwt.exceptions import InvalidKeyError
from werkzeug.wrappers import Request

from .errors import ConfigurationError
from .tenants import Tenant

#: Where the key is read from when no ``signing_key`` is passed.
DEFAULT_KEY_ENV = "EMBED_SIGNING_KEY"
#: Ten minutes, as in the Tinybird guides: long enough for a page view, short enough to limit a leak.
DEFAULT_TTL = 600
#: Chartio's cap, and ours: a copied iframe URL stops working within a day whatever the settings.
MAX_TTL = 24 * 60 * 60
#: RFC 7518 section 3.2: an HMAC key must be at least as long as the hash output.
MIN_HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}

_HASHES = {
    "HS256": HMACAlgorithm.SHA256,
    "HS384": HMACAlgorithm.SHA384,
    "HS512": HMACAlgorithm.SHA512,
}
#: Claims the issuer owns: a hook cannot extend a token's life or reuse an id.
RESERVED_CLAIMS = frozenset({"iat", "exp", "jti"})

#: ``(tenant, resource, request) -> claims``; resource is None for the bare ``<JWT_TOKEN>``.
ClaimsHook = Callable[[Tenant, "str | None", Request], Mapping[str, Any]]


def default_claims(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
    """``sub`` is the tenant, ``resource`` the placeholder's name when it has one."""
    claims: dict[str, Any] = {"sub": tenant.id}
    if resource is not None:
        claims["resource"] = resource
    return claims


@dataclass(frozen=True)
class IssuedToken:
    """A signed token and when it stops working. The repr hides the token."""

    token: str
    issued_at: int
    expires_at: int
    jti: str

    def __repr__(self) -> str:
        return f"IssuedToken(jti={self.jti!r}, expires_at={self.expires_at})"


class _PreparedHMAC(HMACAlgorithm):
    """PyJWT's own HMAC algorithm, with the key PyJWT validated once kept for every signature."""

    def __init__(self, hash_alg: Any, key: bytes) -> None:
        super().__init__(hash_alg)
        self._prepared = HMACAlgorithm(hash_alg).prepare_key(key)

    def prepare_key(self, key: str | bytes) -> bytes:
        return self._prepared


class TokenIssuer:
    """Mints short-lived JWTs for one tenant and resource at a time."""

    def __init__(
        self,
        signing_key: str | bytes | None = None,
        *,
        algorithm: str = "HS256",
        ttl: int = DEFAULT_TTL,
        claims: ClaimsHook | None = None,
        key_env: str = DEFAULT_KEY_ENV,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if algorithm not in _HASHES:
            supported = ", ".join(_HASHES)
            if algorithm.lower() == "none":
                raise ConfigurationError(
                    f"algorithm 'none' produces unsigned tokens anyone can forge; use one of {supported}"
                )
            raise ConfigurationError(f"unsupported algorithm {algorithm!r}; use one of {supported}")
        key = _load_key(signing_key, key_env, MIN_HMAC_KEY_BYTES[algorithm], algorithm)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= MAX_TTL:
            raise ConfigurationError(
                f"ttl must be a whole number of seconds between 1 and {MAX_TTL} (24 hours), not {ttl!r}"
            )
        if claims is not None and not callable(claims):
            raise ConfigurationError("claims must be a callable (tenant, resource, request) -> dict")
        self.algorithm = algorithm
        self.ttl = ttl
        self._claims = claims or default_claims
        self._clock = clock
        try:
            prepared = _PreparedHMAC(_HASHES[algorithm], key)
        except InvalidKeyError:
            raise ConfigurationError(
                "the signing key looks like a PEM/SSH/DER key; HMAC needs a random shared secret"
            ) from None
        self._jws = PyJWS(algorithms=[])
        self._jws.register_algorithm(algorithm, prepared)
        self._key = key

    def __repr__(self) -> str:
        return f"TokenIssuer(algorithm={self.algorithm!r}, ttl={self.ttl})"

    def now(self) -> float:
        """The issuer's clock (time.time unless a test passed another)."""
        return self._clock()

    def claims_for(self, tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
        """The payload before signing: hook claims, then tenant claims over them, then ours."""
        derived = self._claims(tenant, resource, request)
        if not isinstance(derived, Mapping):
            raise TypeError(f"the claims hook must return a dict, not {type(derived).__name__}")
        merged = _merge_locked(derived, tenant.claims)
        now = int(self._clock())
        merged["iat"] = now
        merged["exp"] = now + self.ttl
        merged["jti"] = secrets.token_urlsafe(16)
        return merged

    def issue(self, tenant: Tenant, resource: str | None, request: Request) -> IssuedToken:
        claims = self.claims_for(tenant, resource, request)
        payload = json.dumps(claims, separators=(",", ":")).encode()
        token = self._jws.encode(payload, self._key, algorithm=self.algorithm)
        return IssuedToken(token, claims["iat"], claims["exp"], claims["jti"])


def _merge_locked(derived: Mapping[str, Any], locked: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merges ``locked`` over ``derived``: at every level the tenant's value wins."""
    merged = dict(derived)
    for name, value in locked.items():
        below = merged.get(name)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[name] = _merge_locked(below, value)
        else:
            merged[name] = value
    return merged


def _load_key(signing_key: str | bytes | None, key_env: str, min_bytes: int, algorithm: str) -> bytes:
    if signing_key is None:
        signing_key = os.environ.get(key_env)
        if not signing_key:
            raise ConfigurationError(
                f"no signing key: pass signing_key=... or set the {key_env} environment variable "
                f'(at least {min_bytes} bytes, e.g. from `python -c "import secrets; '
                'print(secrets.token_urlsafe(48))"`)'
            )
    if not isinstance(signing_key, str | bytes):
        raise ConfigurationError(f"signing_key must be str or bytes, not {type(signing_key).__name__}")
    key = signing_key.encode() if isinstance(signing_key, str) else signing_key
    if len(key) < min_bytes:
        raise ConfigurationError(
            f"signing key is {len(key)} bytes; {algorithm} needs at least {min_bytes} "
            "(RFC 7518 3.2): use a longer random secret"
        )
    return key
