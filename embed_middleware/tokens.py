"""Token issuing: claims, keys, lifetime and the audit hook. PyJWT does the encoding and signing.

The issuer is built once at start-up and validated there, so a missing or weak key stops the app
before it serves a single page::

    issuer = TokenIssuer(os.environ["EMBED_SIGNING_KEY"], ttl=600,
                         claims=lambda tenant, resource, request: {"workspace_id": WS})
    issuer = TokenIssuer(SigningKey.from_file("embed.pem", algorithm="ES256"))    # asymmetric
    issuer = TokenIssuer(KeySet(new_key, old_key))                               # rotation
    issuer = TokenIssuer(TenantKeys({"acme": acme_key, "globex": globex_key}))   # per tenant
    issuer = TokenIssuer(key, ttl=600, reuse=TokenReuse(window=300))            # one token per window

Fresh per response is the default: every call mints a new token. ``reuse=`` (or a profile's ``reuse``)
hands identical final claims the same token for a window, so vendor caches keyed on the token work
(see reuse.py for what is keyed, and why the window is at most half the ttl).

Keys are parsed once (see keys.py) and never appear in a repr, a log line or an exception message.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from werkzeug.wrappers import Request

from .claim_checks import names_setting
from .errors import ConfigurationError, TokenIssueError
from .keys import DEFAULT_KEY_ENV, MIN_HMAC_KEY_BYTES, KeyMaterial, KeySet, SigningKey, coerce_keys
from .profiles import Profile
from .reuse import Slot, TokenCache, TokenReuse, canonical, reuse_setting
from .tenant_binding import TENANT_CLAIM
from .tenant_keys import TenantKeys
from .tenants import Tenant

__all__ = [
    "DEFAULT_KEY_ENV",
    "DEFAULT_TTL",
    "MAX_TTL",
    "MIN_HMAC_KEY_BYTES",
    "ClaimsHook",
    "IssueEvent",
    "IssuedToken",
    "TokenIssuer",
]

log = logging.getLogger("embed_middleware")

#: Ten minutes, as in the Tinybird guides: long enough for a page view, short enough to limit a leak.
DEFAULT_TTL = 600
#: Chartio's cap, and ours: a copied iframe URL stops working within a day whatever the settings.
MAX_TTL = 24 * 60 * 60
#: Claims the issuer owns: a hook cannot extend a token's life or reuse an id.
RESERVED_CLAIMS = frozenset({"iat", "exp", "jti"})
#: How many (profile, resource) pairs the URL-budget warning remembers, so it warns once each.
_WARNED_LIMIT = 1024

#: One encoder for every payload (``json.dumps`` with options builds a new one per call).
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))

#: ``resources="per-tenant"``: each ``Tenant.resources`` is the allowlist (listing none: no token).
PER_TENANT: Literal["per-tenant"] = "per-tenant"
Resources = Collection[str] | Literal["per-tenant"]

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
    kid: str | None = None

    def __repr__(self) -> str:
        return f"IssuedToken(jti={self.jti!r}, kid={self.kid!r}, expires_at={self.expires_at})"


@dataclass(frozen=True)
class IssueEvent:
    """What ``on_issue`` hears about each token: enough to count and audit, never the token itself."""

    tenant: Tenant
    resource: str | None
    kid: str | None
    jti: str
    algorithm: str
    issued_at: int
    expires_at: int
    #: True when the token was minted earlier in its reuse window (this process's or the fleet's cache).
    reused: bool = False


#: ``(event) -> None``, called for every token delivered (``reused`` tells a cache hit from a mint).
#: If it raises, the token is not delivered.
IssueHook = Callable[[IssueEvent], None]


class TokenIssuer:
    """Mints short-lived JWTs for one tenant and resource at a time."""

    def __init__(
        self,
        signing_key: KeyMaterial | SigningKey | KeySet | TenantKeys | None = None,
        *,
        algorithm: str | None = None,
        kid: str | None = None,
        ttl: int = DEFAULT_TTL,
        claims: ClaimsHook | Profile | None = None,
        key_env: str = DEFAULT_KEY_ENV,
        on_issue: IssueHook | None = None,
        clock: Callable[[], float] = time.time,
        resources: Resources | None = None,
        allow_unscoped: bool = False,
        reuse: TokenReuse | int | None = None,
    ) -> None:
        self._keys = _signing_keys(signing_key, algorithm, kid, key_env)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= MAX_TTL:
            raise ConfigurationError(
                f"ttl must be a whole number of seconds between 1 and {MAX_TTL} (24 hours), not {ttl!r}"
            )
        if claims is not None and not callable(claims):
            raise ConfigurationError("claims must be a callable (tenant, resource, request) -> dict")
        self._profile = claims if isinstance(claims, Profile) else None
        if self._profile is not None and self._profile.max_ttl is not None and ttl > self._profile.max_ttl:
            raise ConfigurationError(
                f"ttl {ttl} is longer than {self._profile.name} allows ({self._profile.max_ttl} s)"
            )
        if on_issue is not None and not callable(on_issue):
            raise ConfigurationError("on_issue must be a callable (IssueEvent) -> None")
        if not isinstance(allow_unscoped, bool):
            raise ConfigurationError("allow_unscoped must be True or False")
        self.ttl = ttl
        #: The names pages may embed: ``resources=``, else the profile's pipes/dashboards; None: none named.
        self.resources = _allowlist(resources, self._profile)
        #: Whether a token without a resource (valid for whatever a vendor lets it read) may be minted.
        self.allow_unscoped = allow_unscoped
        self._claims = claims or default_claims
        self._on_issue = on_issue
        self._clock = clock
        self._warned: set[tuple[str, str | None]] = set()
        settings = reuse_setting(reuse if reuse is not None else getattr(self._profile, "reuse", None))
        #: The reuse cache; None (the default) mints a fresh token for every response.
        self.reuse: TokenCache | None = None if settings is None else TokenCache(settings, ttl)

    @property
    def algorithm(self) -> str:
        """The active key's algorithm ("per-tenant" when each tenant has its own keys)."""
        return self._keys.active.algorithm if isinstance(self._keys, KeySet) else "per-tenant"

    @property
    def keys(self) -> KeySet | TenantKeys:
        """What verifiers need (and what :func:`jwks` publishes)."""
        return self._keys

    def __repr__(self) -> str:
        window = "" if self.reuse is None else f", reuse_window={self.reuse.settings.window}"
        return f"TokenIssuer(algorithm={self.algorithm!r}, ttl={self.ttl}{window})"

    def now(self) -> float:
        """The issuer's clock (time.time unless a test passed another)."""
        return self._clock()

    def names(self, resource: str | None) -> bool:
        """Whether ``resource`` could be allowed for some tenant: checked before any tenant is resolved."""
        if resource is None:
            return self.allow_unscoped
        allowed = self.resources
        return allowed == PER_TENANT or (isinstance(allowed, frozenset) and resource in allowed)

    def allows(self, tenant: Tenant, resource: str | None) -> bool:
        """Whether ``tenant`` may have a token for ``resource``: the issuer's allowlist (or the profile's)
        and the tenant's own list must both name it; the unscoped token needs ``allow_unscoped``.
        Nothing named anywhere allows nothing: fail closed."""
        if not self.names(resource):
            return False
        if self.resources == PER_TENANT and resource is not None and tenant.resources is None:
            return False
        return tenant.may_embed(resource)

    def claims_for(self, tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
        """The payload before signing: hook claims, then tenant claims over them, then ours."""
        return self._stamped(self._final_claims(tenant, resource, request), int(self._clock()))

    def _final_claims(self, tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
        """Everything but iat/exp/jti: what a reused token is keyed on."""
        derived = self._claims(tenant, resource, request)
        if type(derived) is not dict and not isinstance(derived, Mapping):  # the type check first: hot path
            raise TypeError(f"the claims hook must return a dict, not {type(derived).__name__}")
        merged = _merge_locked(derived, tenant.locked_claims) if tenant.locked_claims else dict(derived)
        _pin_tenant(merged, TENANT_CLAIM, tenant.id)  # what revocation and per-tenant keys key on
        if isinstance(self._keys, TenantKeys):
            _pin_tenant(merged, self._keys.tenant_claim, tenant.id)
        return merged

    def _stamped(self, merged: dict[str, Any], now: int, jti: str | None = None) -> dict[str, Any]:
        merged["iat"] = now
        merged["exp"] = now + self.ttl
        merged["jti"] = secrets.token_urlsafe(16) if jti is None else jti
        if self._profile is not None:
            if self._profile.nbf_from_iat:
                merged["nbf"] = now
            self._profile.validate(merged)
        return merged

    def issue(self, tenant: Tenant, resource: str | None, request: Request) -> IssuedToken:
        key = self._key_for(tenant)
        claims = self._final_claims(tenant, resource, request)
        reused = False
        if self.reuse is None:
            claims = self._stamped(claims, int(self._clock()))
            token = key.encode(_COMPACT_JSON.encode(claims).encode())
            issued = IssuedToken(token, claims["iat"], claims["exp"], claims["jti"], key.kid)
        else:
            slot = self.reuse.slot(key, tenant.id, resource, claims, self._clock())
            found = self.reuse.get(slot)
            reused = found is not None
            if found is None:
                found, reused = self._mint_for_slot(slot, claims)
                found = self.reuse.put(slot, found)
            issued = found
        if not reused and self._profile is not None and self._profile.url_budget is not None:
            self._check_url_budget(tenant, resource, issued.token)
        if self._on_issue is not None:
            event = IssueEvent(
                tenant,
                resource,
                key.kid,
                issued.jti,
                key.algorithm,
                issued.issued_at,
                issued.expires_at,
                reused,
            )
            self._on_issue(event)
        return issued

    def _mint_for_slot(self, slot: Slot, claims: dict[str, Any]) -> tuple[IssuedToken, bool]:
        """The slot's token: signed here, or the fleet's from the shared store. True when not ours."""
        assert self.reuse is not None
        payload = canonical(self._stamped(claims, slot.iat, slot.jti())).encode()
        minted: list[str] = []

        def mint() -> str:
            minted.append(slot.key.encode(payload))
            return minted[-1]

        if self.reuse.settings.shared is None:
            token = mint()
        else:
            token = self.reuse.shared_token(slot, payload, mint, self._clock())
        issued = IssuedToken(token, claims["iat"], claims["exp"], claims["jti"], slot.key.kid)
        return issued, token not in minted

    def _key_for(self, tenant: Tenant) -> SigningKey:
        if isinstance(self._keys, KeySet):
            return self._keys.active
        keys = self._keys.for_tenant(tenant.id)
        if keys is None or not keys.active.can_sign:
            # Fail closed, but say which tenant lacks a key (its id is not a secret; the key would be).
            raise TokenIssueError(f"no signing key for tenant {tenant.id!r}")
        return keys.active

    def _check_url_budget(self, tenant: Tenant, resource: str | None, token: str) -> None:
        assert self._profile is not None and self._profile.url_budget is not None
        length = self._profile.url_length(token)
        key = (tenant.id, resource)
        if length <= self._profile.url_budget or key in self._warned or len(self._warned) >= _WARNED_LIMIT:
            return  # once per pair, and silence once that many pairs were named (a log, not a flood)
        self._warned.add(key)
        log.warning(
            "a %s embed URL for tenant %r, resource %r is %d characters, over the %d budget: "
            "browsers may cut it; move claims out of the token or shorten them",
            self._profile.name,
            tenant.id,
            resource,
            length,
            self._profile.url_budget,
        )


def _allowlist(
    resources: Resources | None, profile: Profile | None
) -> frozenset[str] | Literal["per-tenant"] | None:
    if isinstance(resources, str):
        if resources != PER_TENANT:
            raise ConfigurationError(
                "resources must be a list of names, e.g. ['top_airlines'], or 'per-tenant', "
                f"not {resources!r}"
            )
        return PER_TENANT
    if resources is not None:
        return names_setting(resources, "resources")
    return profile.resources if profile is not None else None


def _signing_keys(
    source: KeyMaterial | SigningKey | KeySet | TenantKeys | None,
    algorithm: str | None,
    kid: str | None,
    key_env: str,
) -> KeySet | TenantKeys:
    keys = coerce_keys(source, algorithm=algorithm, kid=kid, key_env=key_env)  # shared with Verifier
    if isinstance(keys, KeySet) and not keys.active.can_sign:
        raise ConfigurationError("the active key is a public key; the issuer needs the private key to sign")
    return keys


def _pin_tenant(claims: dict[str, Any], claim: str, tenant_id: str) -> None:
    """Verifiers pick per-tenant keys and revocations by this claim: it must name the token's tenant."""
    named = claims.setdefault(claim, tenant_id)
    if named != tenant_id:
        raise TokenIssueError(
            f"claim {claim!r} names {named!r} but the token is signed for tenant {tenant_id!r}; "
            "verifiers key revocation and per-tenant keys on it, so it must name the token's own tenant"
        )


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
