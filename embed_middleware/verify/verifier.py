"""The verifying side: what a self-hosted embedded app checks before it serves a chart.

The host app mints with :class:`~embed_middleware.TokenIssuer`; the embedded app (also Python) checks
with the same keys, or the public half of them::

    verifier = Verifier(KeySet.from_jwks(jwks_json), audience="charts", leeway=30)
    verified = verifier.verify(token, resource="top_airlines")   # raises TokenRejected
    verified.claims, verified.tenant_id, verified.locked

Every check runs whatever the configuration left out: a token that grants scopes is refused when no
resource is named (``unsafe_skip_scope_check=True`` is the only way round that), the parameters it
pins are pinned whatever resource is asked for, and an unknown tenant looks like a bad signature.

Every rejection carries a machine-readable ``reason`` and the HTTP status to answer with, so a page
knows whether to fetch a fresh token (401) or give up (403). PyJWT does the decoding and checking;
this module chooses the key, pins the algorithm to the key's own, and adds scopes and revocation.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from ..errors import ConfigurationError
from ..jwk import is_tenant_id
from ..key_sources import coerce_keys
from ..keys import ALGORITHMS, KeyMaterial, KeySet, SigningKey
from ..lifetime import MAX_TTL, ttl_setting, within_cap
from ..tenant_keys import DEFAULT_TENANT_CLAIM, TenantKeys
from .claims import (
    REASONS,
    TokenRejected,
    VerifiedToken,
    default_locked_params,
    default_scopes,
    pyjwt_reason,
    unverified,
)
from .revocation import RevocationStore, token_revoked

__all__ = [
    "MAX_LEEWAY",
    "MAX_TOKEN_LENGTH",
    "REASONS",
    "TokenRejected",
    "VerifiedToken",
    "Verifier",
    "default_locked_params",
    "default_scopes",
    "verify",
]

#: Five minutes of clock skew is already generous; more would stretch every token's life.
MAX_LEEWAY = 300
#: Longer than any token we mint (a Tinybird token of a few dozen pipes), shorter than a server's
#: header limit: longer input is refused before any parser sees it.
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True)
class Verifier:
    """Checks tokens against keys, built once and shared by every request.

    ``keys`` is anything :class:`~embed_middleware.TokenIssuer` signs with (a secret, a PEM, a
    ``Path``, a JWK, a key object, a SigningKey, a KeySet, TenantKeys), read by the same function.
    """

    keys: KeyMaterial | SigningKey | KeySet | TenantKeys
    #: For raw key material only, as TokenIssuer's: its algorithm (HS256 unless a JWK names one) and kid.
    algorithm: str | None = None
    kid: str | None = None
    #: Allowed algorithms; a token must also use its key's own algorithm (no alg confusion).
    algorithms: Collection[str] | None = None
    audience: str | Sequence[str] | None = None
    #: Deprecated spelling of ``expected_issuer`` (``issuer=`` is a TokenIssuer on the host side).
    issuer: str | None = None
    #: Seconds of clock skew tolerated on exp/nbf/iat.
    leeway: float = 0
    require: Sequence[str] = ("exp", "iat")
    #: Rejects tokens its tenant revoked (iat before the tenant's cut-off).
    revocations: RevocationStore | None = None
    #: The claim naming the tenant, for revocation and key binding (TenantKeys bring their own).
    tenant_claim: str = DEFAULT_TENANT_CLAIM
    #: Accept a token that names no resource at all for any requested resource (off: fail closed).
    allow_unscoped: bool = False
    #: Accept a token that grants scopes when no resource is named. Off: such a token is refused,
    #: since nothing says it may read what it asks for. Turn on only when no path maps to a resource.
    unsafe_skip_scope_check: bool = False
    #: Longer tokens are refused (malformed) before anything decodes them.
    max_token_length: int = MAX_TOKEN_LENGTH
    scopes_of: Callable[[Mapping[str, Any]], frozenset[str] | None] = default_scopes
    locked_params_of: Callable[[Mapping[str, Any], str | None], Mapping[str, Any]] = default_locked_params
    #: The ``iss`` claim every token must carry (None: ``iss`` is not checked).
    expected_issuer: str | None = None
    #: The longest life (``exp - iat``) a token may claim; 24 hours at most, whatever is set here.
    max_ttl: int = MAX_TTL

    def __post_init__(self) -> None:
        if self.issuer is not None:
            warnings.warn(
                "Verifier(issuer=...) is deprecated: it names the expected 'iss' claim, so it is now "
                "spelled expected_issuer=",
                DeprecationWarning,
                stacklevel=3,
            )
            if self.expected_issuer not in (None, self.issuer):
                raise ConfigurationError("pass expected_issuer= only (issuer= is its deprecated spelling)")
            object.__setattr__(self, "expected_issuer", self.issuer)
        object.__setattr__(self, "max_ttl", ttl_setting(self.max_ttl, "max_ttl"))
        keys = coerce_keys(self.keys, algorithm=self.algorithm, kid=self.kid)
        object.__setattr__(self, "keys", keys)
        if isinstance(keys, TenantKeys):
            if self.tenant_claim not in (DEFAULT_TENANT_CLAIM, keys.tenant_claim):
                raise ConfigurationError(
                    f"tenant_claim={self.tenant_claim!r} but the TenantKeys read {keys.tenant_claim!r}: "
                    "set it on TenantKeys only"
                )
            object.__setattr__(self, "tenant_claim", keys.tenant_claim)
        _check_settings(self)

    def verify(self, token: str | None, resource: str | None = None) -> VerifiedToken:
        """Every check, revocation included (which may do I/O: see ``revocations.blocking``)."""
        verified = self.verify_signed(token, resource)
        self.check_revocation(verified)
        return verified

    def verify_signed(self, token: str | None, resource: str | None = None) -> VerifiedToken:
        """The checks that need no I/O: key, algorithm, signature, lifetime, audience, scope."""
        if not token:
            raise TokenRejected("missing_token")
        if not isinstance(token, str) or len(token) > self.max_token_length:
            raise TokenRejected("malformed", "not a token of a usable length")
        header, unchecked = unverified(token)
        if "crit" in header:  # RFC 7515 4.1.11: we understand no extension, so none may be critical
            raise TokenRejected("malformed", "unsupported critical header")
        alg = header.get("alg")
        if self.algorithms is not None and alg not in self.algorithms:
            raise TokenRejected("algorithm_not_allowed", f"{alg!r} is not accepted")
        tenant_id = self._tenant_of(unchecked)
        key, key_set = self._key_for(header, tenant_id)
        try:
            claims = jwt.decode(
                token,
                key.verifying_key,
                algorithms=[key.algorithm],
                audience=self.audience,
                issuer=self.expected_issuer,
                leeway=self.leeway,
                options={"require": list(self.require)},
            )
        except Exception as error:  # PyJWT's errors by kind; anything else a parser raised is malformed
            raise TokenRejected(
                pyjwt_reason(error), str(error) if isinstance(error, jwt.PyJWTError) else ""
            ) from None
        if not within_cap(claims, self.max_ttl):
            raise TokenRejected("expired", f"the token claims to live longer than {self.max_ttl} s")
        if not key_set.admits(key, claims.get(self.tenant_claim)):
            # A per-tenant JWKS key used for another tenant's token: not that tenant's signature.
            raise TokenRejected("invalid_signature", "the key is bound to another tenant")
        self._check_scope(claims, resource)
        return VerifiedToken(
            claims=claims,
            header=header,
            key=key,
            tenant_id=tenant_id,
            resource=resource,
            locked=dict(self.locked_params_of(claims, resource)),
        )

    def check_revocation(self, verified: VerifiedToken) -> None:
        """Raise ``TokenRejected("revoked")`` for a token issued before its tenant's cut-off.

        Apart from ``check`` so that a verifier whose store does blocking I/O (Redis) can run this one
        step off the event loop; a token without a tenant cannot be cleared, so it is refused.
        """
        if self.revocations is None:
            return
        if verified.tenant_id is None:
            raise TokenRejected("missing_claim", f"no {self.tenant_claim!r} claim to check revocation by")
        try:
            cutoff = self.revocations.cutoff(verified.tenant_id)
        except Exception:  # RevocationStoreError, or whatever a store of the app's own raises: fail closed
            raise TokenRejected("revocation_unavailable") from None
        issued_at = verified.claims.get("iat")
        if not isinstance(issued_at, int | float) or isinstance(issued_at, bool):
            raise TokenRejected("missing_claim", "no numeric 'iat' to check revocation by")
        if token_revoked(issued_at, cutoff):
            raise TokenRejected("revoked", "issued before the tenant's revocation cut-off")

    def _tenant_of(self, claims: Mapping[str, Any]) -> str | None:
        """The tenant the token claims, checked to be a possible tenant id before anything looks it up."""
        tenant_id = claims.get(self.tenant_claim)
        if tenant_id is None:
            return None
        if not is_tenant_id(tenant_id):
            raise TokenRejected("malformed", f"the {self.tenant_claim!r} claim is not a tenant id")
        assert isinstance(tenant_id, str)
        return tenant_id

    def _key_for(self, header: Mapping[str, Any], tenant_id: str | None) -> tuple[SigningKey, KeySet]:
        keys = self.keys
        per_tenant = isinstance(keys, TenantKeys)
        if isinstance(keys, TenantKeys):
            if tenant_id is None:
                raise TokenRejected("missing_claim", f"no {keys.tenant_claim!r} claim to pick the key by")
            try:
                found = keys.for_tenant(tenant_id)
            except Exception:  # the lookup saw an attacker's value: its failure refuses, never crashes
                found = None
            # An unknown tenant, like every answer below that depends on its keys, reads exactly as a
            # bad signature: an anonymous client must not learn which tenants exist.
            if found is None:
                raise TokenRejected("invalid_signature")
            keys = found
        assert isinstance(keys, KeySet)
        kid = header.get("kid")
        key = keys.find(kid if isinstance(kid, str) else None)
        if key is None:
            raise TokenRejected(
                "invalid_signature" if per_tenant else "unknown_key", "no key with the token's kid"
            )
        if header.get("alg") != key.algorithm:
            raise TokenRejected(
                "invalid_signature" if per_tenant else "algorithm_not_allowed",
                f"{header.get('alg')!r} is not the key's algorithm",
            )
        return key, keys

    def _check_scope(self, claims: Mapping[str, Any], resource: str | None) -> None:
        granted = self.scopes_of(claims)
        if resource is None:
            if granted is not None and not self.unsafe_skip_scope_check:
                raise TokenRejected(
                    "out_of_scope", "the token grants scopes and the request names no resource"
                )
            return
        if granted is None and self.allow_unscoped:
            return
        if granted is None or resource not in granted:
            raise TokenRejected("out_of_scope", f"the token does not grant {resource!r}")


def verify(token: str | None, keys: Any, *, resource: str | None = None, **options: Any) -> VerifiedToken:
    """One-off check: ``Verifier(keys, **options).verify(token, resource)``. Raises TokenRejected.

    ``keys`` is whatever TokenIssuer takes (``verify(token, secret)`` checks what ``TokenIssuer(secret)``
    minted); build one Verifier instead when checking many tokens, since keys are parsed each call here.
    """
    return Verifier(keys, **options).verify(token, resource)


def _check_settings(verifier: Verifier) -> None:
    """Every setting checked at construction: a ConfigurationError that says what to fix, never a
    TypeError at the first request, and never a ``str`` where a list is meant ("exp" is not e, x, p)."""
    algorithms = verifier.algorithms
    if algorithms is not None and (
        isinstance(algorithms, str | bytes)
        or not isinstance(algorithms, Collection)
        or not set(algorithms) <= set(ALGORITHMS)
    ):
        raise ConfigurationError(f"algorithms must be a list drawn from {', '.join(ALGORITHMS)}")
    require = verifier.require
    if (
        isinstance(require, str | bytes)
        or not isinstance(require, Sequence)
        or not all(isinstance(name, str) and name for name in require)
    ):
        raise ConfigurationError(
            f"require must be a list of claim names, e.g. ['exp', 'iat'], not {require!r}"
        )
    audience = verifier.audience
    if (
        audience is not None
        and not isinstance(audience, str)
        and not (
            isinstance(audience, Sequence)
            and not isinstance(audience, bytes)
            and all(isinstance(a, str) for a in audience)
        )
    ):
        raise ConfigurationError(f"audience must be a str or a list of str, not {type(audience).__name__}")
    expected = verifier.expected_issuer
    if expected is not None and not isinstance(expected, str):
        raise ConfigurationError(f"expected_issuer must be a str, not {type(expected).__name__}")
    leeway = verifier.leeway
    if isinstance(leeway, bool) or not isinstance(leeway, int | float) or not 0 <= leeway <= MAX_LEEWAY:
        raise ConfigurationError(f"leeway must be between 0 and {MAX_LEEWAY} seconds, not {leeway!r}")
    length = verifier.max_token_length
    if isinstance(length, bool) or not isinstance(length, int) or length < 256:
        raise ConfigurationError(f"max_token_length must be an integer of at least 256, not {length!r}")
    if not isinstance(verifier.tenant_claim, str) or not verifier.tenant_claim:
        raise ConfigurationError(
            f"tenant_claim must be a claim name such as 'tid', not {verifier.tenant_claim!r}"
        )
    for name in ("allow_unscoped", "unsafe_skip_scope_check"):
        if not isinstance(getattr(verifier, name), bool):
            raise ConfigurationError(f"{name} must be True or False")
    for name in ("scopes_of", "locked_params_of"):
        if not callable(getattr(verifier, name)):
            raise ConfigurationError(f"{name} must be a callable")
    if verifier.revocations is not None and not isinstance(verifier.revocations, RevocationStore):
        raise ConfigurationError("revocations must be a RevocationStore such as MemoryRevocations()")
