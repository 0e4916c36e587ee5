"""What the verifier reads out of a token: the reasons it refuses, the scopes it grants, the
parameters it pins, and the one guarded way to look inside a token before its signature is checked.

Kept apart from verifier.py so the reading of claims (pure functions over a dict) can be tested and
replaced (``Verifier(scopes_of=..., locked_params_of=...)``) on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from ..errors import EmbedError
from ..keys import SigningKey

#: Each reason a token is refused, and the status that says what the client should do:
#: 401 = get a fresh token and retry, 403 = this token will never do, 503 = try again later.
#: There is deliberately no "unknown tenant": it is answered as ``invalid_signature`` (no enumeration).
REASONS: Mapping[str, int] = {
    "missing_token": 401,
    "malformed": 401,
    "unknown_key": 401,
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
#: Claims holding the parameters a token pins: Metabase/generic ``params``, Chartio ``env``, Tinybird
#: ``fixed_params`` (top level here; per scope inside ``scopes``).
LOCKED_PARAM_CLAIMS = ("params", "env", "fixed_params")
#: Reading, not checking: PyJWT checks nothing when the signature is not verified, said explicitly.
_UNVERIFIED: Any = {"verify_signature": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False}


class TokenRejected(EmbedError):
    """A token that must not be honoured; ``reason`` is one of :data:`REASONS`. Never holds the token."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.status = REASONS[reason]
        self.detail = detail


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


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a token whose signature is not checked yet; any failure is ``malformed``.

    Any, not just PyJWT's errors: on PyJWT 2.8 a header of deeply nested JSON escapes as RecursionError,
    and whatever a parser raises on attacker input must be a 401, never a 500.
    """
    try:
        header = jwt.get_unverified_header(token)
        return header, jwt.decode(token, options=_UNVERIFIED)
    except Exception:
        raise TokenRejected("malformed", "not a readable JWT") from None


def default_scopes(claims: Mapping[str, Any]) -> frozenset[str] | None:
    """The resources a token grants, from the shapes our profiles mint; None when it names none.

    ``resource: "name"`` (default claims), ``scopes: [{"resource": "name", ...}]`` (Tinybird) or
    ``scopes: ["name"]``, and ``scope: "a b"`` (OAuth's space-separated form). A ``resource`` that is
    not a name (Metabase's ``{"dashboard": 7}``) still counts as a scope, one no path can name.
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
    if "scope" in claims:
        named = True
        if isinstance(claims["scope"], str):
            found.update(claims["scope"].split())
    return frozenset(found) if named else None


def default_locked_params(claims: Mapping[str, Any], resource: str | None = None) -> dict[str, Any]:
    """Every parameter the token pins, whatever resource is asked for: the union of ``params``,
    ``env``, ``fixed_params`` and the ``fixed_params`` of every scope.

    The union, not the scope of the requested resource: a path that names no resource (or another
    one) must not unpin a tenant filter. Two sources pinning different values for one name (names
    compared without case, as ``Tenant_ID`` and ``tenant_id`` would both reach a lenient app) make the
    token unusable: ``out_of_scope``. ``resource`` is accepted for custom hooks and not used here.
    """
    sources = [claims.get(name) for name in LOCKED_PARAM_CLAIMS]
    scopes = claims.get("scopes")
    sources += (
        [scope.get("fixed_params") for scope in scopes if isinstance(scope, Mapping)]
        if isinstance(scopes, list)
        else []
    )
    locked: dict[str, Any] = {}
    folded: dict[str, tuple[str, Any]] = {}
    for source in sources:
        if source is None:
            continue
        if not isinstance(source, Mapping):
            raise TokenRejected("malformed", "pinned parameters must be a JSON object")
        for name, value in source.items():
            if not isinstance(name, str):
                raise TokenRejected("malformed", "pinned parameter names must be strings")
            value = list(value) if isinstance(value, list | tuple) else value
            seen = folded.setdefault(name.casefold(), (name, value))
            if seen != (name, value):
                raise TokenRejected("out_of_scope", f"the token pins conflicting values for {name!r}")
            locked[name] = value
    return locked


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


def pyjwt_reason(error: Exception) -> str:
    """The reason for one of PyJWT's errors; anything else a parser raised is ``malformed``."""
    for kind, reason in _PYJWT_REASONS:
        if isinstance(error, kind):
            return reason
    return "malformed"
