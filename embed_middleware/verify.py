"""The verifying side: what a self-hosted embedded app checks before it serves a chart.

The host app mints with :class:`~embed_middleware.TokenIssuer`; the embedded app (also Python) checks
with the same keys, or the public half of them::

    verifier = Verifier(KeySet.from_jwks(jwks_json), audience="charts", leeway=30)
    verified = verifier.verify(token, resource="top_airlines")   # raises TokenRejected
    verified.claims, verified.locked_params("top_airlines")

Every rejection carries a machine-readable ``reason`` and the HTTP status to answer with, so a page
knows whether to fetch a fresh token (401) or give up (403). PyJWT does the decoding and checking;
this module chooses the key, pins the algorithm to the key's own, and adds scopes and revocation.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt

from .errors import ConfigurationError
from .keys import ALGORITHMS, KeySet, SigningKey, as_key_set
from .revocation import RevocationStore
from .tenant_keys import DEFAULT_TENANT_CLAIM, TenantKeys

#: Each reason a token is refused, and the status that says what the client should do:
#: 401 = get a fresh token and retry, 403 = this token will never do, 503 = try again later.
REASONS: Mapping[str, int] = {
    "missing_token": 401,
    "malformed": 401,
    "unknown_key": 401,
    "unknown_tenant": 401,
    "algorithm_not_allowed": 401,
    "invalid_signature": 401,
    "expired": 401,
    "not_yet_valid": 401,
    "missing_claim": 401,
    "invalid_audience": 401,
    "invalid_issuer": 401,
    "revoked": 401,
    "out_of_scope": 403,
    "revocation_unavailable": 503,
}
#: Five minutes of clock skew is already generous; more would stretch every token's life.
MAX_LEEWAY = 300

# Most specific first: InvalidSignatureError is a DecodeError, ExpiredSignatureError an InvalidTokenError.
_PYJWT_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "invalid_audience"),
    (jwt.InvalidIssuerError, "invalid_issuer"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidSignatureError, "invalid_signature"),
    (jwt.InvalidAlgorithmError, "algorithm_not_allowed"),
    (jwt.InvalidIssuedAtError, "malformed"),  # a non-numeric iat (a future one is "immature")
)


class TokenRejected(Exception):
    """A token that must not be honoured; ``reason`` is one of :data:`REASONS`. Never holds the token."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.status = REASONS[reason]
        self.detail = detail


def default_scopes(claims: Mapping[str, Any]) -> frozenset[str] | None:
    """The resources a token grants, from the shapes our profiles mint; None when it names none.

    ``resource: "name"`` (default claims), ``scopes: [{"resource": "name", ...}]`` (Tinybird) or
    ``scopes: ["name"]``, and ``scope: "a b"`` (OAuth's space-separated form).
    """
    found: set[str] = set()
    named = False
    if "resource" in claims:
        named = True
        if isinstance(claims["resource"], str):
            found.add(claims["resource"])
    if "scopes" in claims:
        named = True
        for scope in claims["scopes"] if isinstance(claims["scopes"], list) else ():
            resource = scope.get("resource") if isinstance(scope, Mapping) else scope
            if isinstance(resource, str):
                found.add(resource)
    if isinstance(claims.get("scope"), str):
        named = True
        found.update(claims["scope"].split())
    return frozenset(found) if named else None


def default_locked_params(claims: Mapping[str, Any], resource: str | None) -> dict[str, Any]:
    """Parameters the token pins: ``params`` (Metabase, generic), ``env`` (Chartio), ``fixed_params``
    (top level or in the Tinybird scope for ``resource``). Later sources win."""
    locked: dict[str, Any] = {}
    for name in ("params", "env", "fixed_params"):
        if isinstance(claims.get(name), Mapping):
            locked.update(claims[name])
    scopes = claims.get("scopes")
    for scope in scopes if isinstance(scopes, list) else ():
        if (
            isinstance(scope, Mapping)
            and scope.get("resource") == resource
            and isinstance(scope.get("fixed_params"), Mapping)
        ):
            locked.update(scope["fixed_params"])
    return locked


@dataclass(frozen=True)
class VerifiedToken:
    """A token whose signature, lifetime, audience, scope and revocation all checked out."""

    claims: Mapping[str, Any]
    header: Mapping[str, Any]
    key: SigningKey
    tenant_id: str | None
    resource: str | None
    locked: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"VerifiedToken(tenant_id={self.tenant_id!r}, resource={self.resource!r}, kid={self.key.kid!r})"
        )


@dataclass(frozen=True)
class Verifier:
    """Checks tokens against a key set (or per-tenant keys), built once and shared by every request."""

    keys: SigningKey | KeySet | TenantKeys
    #: Allowed algorithms; a token must also use its key's own algorithm (no alg confusion).
    algorithms: Collection[str] | None = None
    audience: str | Sequence[str] | None = None
    issuer: str | None = None
    #: Seconds of clock skew tolerated on exp/nbf/iat.
    leeway: float = 0
    require: Sequence[str] = ("exp", "iat")
    #: Rejects tokens its tenant revoked (iat before the tenant's cut-off).
    revocations: RevocationStore | None = None
    #: The claim naming the tenant, for revocation (TenantKeys bring their own).
    tenant_claim: str = DEFAULT_TENANT_CLAIM
    #: Accept a token that names no resource at all for any requested resource (off: fail closed).
    allow_unscoped: bool = False
    scopes_of: Callable[[Mapping[str, Any]], frozenset[str] | None] = default_scopes
    locked_params_of: Callable[[Mapping[str, Any], str | None], Mapping[str, Any]] = default_locked_params

    def __post_init__(self) -> None:
        if not isinstance(self.keys, TenantKeys):
            object.__setattr__(self, "keys", as_key_set(self.keys))
        else:
            object.__setattr__(self, "tenant_claim", self.keys.tenant_claim)
        if self.algorithms is not None:
            unknown = set(self.algorithms) - set(ALGORITHMS)
            if unknown or isinstance(self.algorithms, str):
                raise ConfigurationError(f"algorithms must be a list drawn from {', '.join(ALGORITHMS)}")
        if not 0 <= self.leeway <= MAX_LEEWAY:
            raise ConfigurationError(
                f"leeway must be between 0 and {MAX_LEEWAY} seconds, not {self.leeway!r}"
            )

    def verify(self, token: str | None, resource: str | None = None) -> VerifiedToken:
        """Every check, revocation included (which may do I/O: see ``revocations.blocking``)."""
        verified = self.verify_signed(token, resource)
        self.check_revocation(verified)
        return verified

    def verify_signed(self, token: str | None, resource: str | None = None) -> VerifiedToken:
        """The checks that need no I/O: key, algorithm, signature, lifetime, audience, scope."""
        if not token:
            raise TokenRejected("missing_token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:  # not a JWT, or a header PyJWT refuses (bad kid type, unknown crit)
            raise TokenRejected("malformed", "not a JWT") from None
        if "crit" in header:  # RFC 7515 4.1.11: we understand no extension, so none may be critical
            raise TokenRejected("malformed", "unsupported critical header")
        key = self._key_for(token, header)
        if header.get("alg") != key.algorithm or (
            self.algorithms is not None and key.algorithm not in self.algorithms
        ):
            raise TokenRejected("algorithm_not_allowed", f"{header.get('alg')!r} is not accepted")
        try:
            claims = jwt.decode(
                token,
                key.verifying_key,
                algorithms=[key.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(self.require)},
            )
        except jwt.PyJWTError as error:
            raise TokenRejected(_reason_of(error, token), str(error)) from None
        self._check_scope(claims, resource)
        tenant_id = claims.get(self.tenant_claim)
        return VerifiedToken(
            claims=claims,
            header=header,
            key=key,
            tenant_id=tenant_id if isinstance(tenant_id, str) else None,
            resource=resource,
            locked=dict(self.locked_params_of(claims, resource)),
        )

    def check_revocation(self, verified: VerifiedToken) -> None:
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
        if cutoff is not None and issued_at < cutoff:
            raise TokenRejected("revoked", "issued before the tenant's revocation cut-off")

    def _key_for(self, token: str, header: Mapping[str, Any]) -> SigningKey:
        keys = self.keys
        if isinstance(keys, TenantKeys):
            try:
                unverified = jwt.decode(token, options={"verify_signature": False})
            except jwt.DecodeError:
                raise TokenRejected("malformed", "unreadable claims") from None
            try:
                found = keys.for_claims(unverified)
            except Exception:  # the lookup saw an attacker's value: its failure refuses, never crashes
                found = None
            if found is None:
                raise TokenRejected("unknown_tenant", f"no keys for the token's {keys.tenant_claim!r}")
            keys = found
        assert isinstance(keys, KeySet)
        kid = header.get("kid")
        key = keys.find(kid if isinstance(kid, str) else None)
        if key is None:
            raise TokenRejected("unknown_key", "no key with the token's kid")
        return key

    def _check_scope(self, claims: Mapping[str, Any], resource: str | None) -> None:
        if resource is None:
            return
        granted = self.scopes_of(claims)
        if granted is None and self.allow_unscoped:
            return
        if granted is None or resource not in granted:
            raise TokenRejected("out_of_scope", f"the token does not grant {resource!r}")


def verify(
    token: str | None, keys: SigningKey | KeySet | TenantKeys, *, resource: str | None = None, **options: Any
) -> VerifiedToken:
    """One-off check: ``Verifier(keys, **options).verify(token, resource)``. Raises TokenRejected."""
    return Verifier(keys, **options).verify(token, resource)


def _reason_of(error: Exception, token: str) -> str:
    for kind, reason in _PYJWT_REASONS:
        if isinstance(error, kind):
            if reason == "invalid_signature" and not _readable(token):
                # Older PyJWT checks the signature before reading the payload: say what is wrong.
                return "malformed"
            return reason
    return "malformed"


def _readable(token: str) -> bool:
    try:
        jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return True
