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
import time
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.wrappers import Request

from .errors import ConfigurationError, TokenIssueError
from .issued import IssuedToken, IssueEvent, IssueHook
from .jwk import TENANT_CLAIM
from .key_sources import coerce_keys
from .keys import DEFAULT_KEY_ENV, MIN_HMAC_KEY_BYTES, KeyMaterial, KeySet, SigningKey
from .lifetime import MAX_TTL, ttl_setting
from .profiles import Profile
from .profiles.checks import HookResultError
from .reuse import Slot, TokenCache, TokenReuse, canonical, reuse_setting
from .tenant_keys import TenantKeys
from .tenants import Tenant
from .token_claims import (
    PER_TENANT,
    RESERVED_CLAIMS,
    ClaimsHook,
    Resources,
    StaticPayloads,
    default_claims,
    merge_locked,
    new_jti,
    pin_tenant,
    resource_allowlist,
)

__all__ = [
    "DEFAULT_KEY_ENV",
    "DEFAULT_TTL",
    "MAX_TTL",
    "MIN_HMAC_KEY_BYTES",
    "PER_TENANT",
    "RESERVED_CLAIMS",
    "ClaimsHook",
    "IssueEvent",
    "IssuedToken",
    "TokenIssuer",
    "default_claims",
]

log = logging.getLogger("embed_middleware")

#: Ten minutes, as in the Tinybird guides: long enough for a page view, short enough to limit a leak.
DEFAULT_TTL = 600
#: How many (profile, resource) pairs the URL-budget warning remembers, so it warns once each.
_WARNED_LIMIT = 1024

#: One encoder for every payload (``json.dumps`` with options builds a new one per call).
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


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
        self._keys = coerce_keys(signing_key, algorithm=algorithm, kid=kid, key_env=key_env, signing=True)
        #: The one signing key when every tenant shares it (None: per-tenant keys, looked up per token).
        self._key = self._keys.active if isinstance(self._keys, KeySet) else None
        ttl_setting(ttl)  # the one 24-hour cap (lifetime.py), shared with the verifier
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
        self.resources = resource_allowlist(resources, self._profile)
        #: Whether a token without a resource (valid for whatever a vendor lets it read) may be minted.
        self.allow_unscoped = allow_unscoped
        self._claims = claims or default_claims
        #: Whether minting reads the request (only a claims hook of the app's does): when not, adapters
        #: need not build a request object for a page whose tenant came from the app's mark.
        self.reads_request = self._claims is not default_claims
        #: With the default claims and no profile, a payload's head depends only on (tenant, resource):
        #: its encoding is cached (see ``StaticPayloads``); None: every token encodes its whole payload.
        self._static = (
            StaticPayloads(
                lambda tenant, resource: self._final_claims(tenant, resource, None),  # type: ignore[arg-type]
                _COMPACT_JSON.encode,
            )
            if self._claims is default_claims and self._profile is None
            else None
        )
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
            raise HookResultError(f"the claims hook must return a dict, not {type(derived).__name__}")
        merged = merge_locked(derived, tenant.locked_claims) if tenant.locked_claims else dict(derived)
        pin_tenant(merged, TENANT_CLAIM, tenant.id)  # what revocation and per-tenant keys key on
        if isinstance(self._keys, TenantKeys):
            pin_tenant(merged, self._keys.tenant_claim, tenant.id)
        return merged

    def _stamped(self, merged: dict[str, Any], now: int, jti: str | None = None) -> dict[str, Any]:
        merged["iat"] = now
        merged["exp"] = now + self.ttl
        merged["jti"] = new_jti() if jti is None else jti
        if self._profile is not None:
            if self._profile.nbf_from_iat:
                merged["nbf"] = now
            self._profile.validate(merged)
        return merged

    def issue(
        self, tenant: Tenant | str, resource: str | None = None, request: Request | None = None
    ) -> IssuedToken:
        """A token for ``tenant`` (a Tenant, or a tenant id) and ``resource`` (None: unscoped).

        ``request`` is the page's request when there is one; CLIs and background jobs leave it out,
        and the claims hook then gets ``None`` for it (a hook that reads the request must allow for
        that). ``issue`` does not consult the allowlist: ask :meth:`allows` first where it matters.
        """
        if type(tenant) is str:
            try:
                tenant = Tenant(tenant)
            except (TypeError, ValueError) as error:
                raise TokenIssueError(f"not a usable tenant id: {error}") from None
        elif not isinstance(tenant, Tenant):
            raise TokenIssueError(
                f"tenant must be a Tenant or a tenant id (str), not {type(tenant).__name__}"
            )
        key = self._key if self._key is not None else self._key_for(tenant)
        reused = False
        if self.reuse is None and self._static is not None and not tenant.locked_claims:
            # The path every quick-start page takes: the payload's unchanging head comes encoded.
            now = int(self._clock())
            jti = new_jti()
            segment = self._static.segment(tenant, resource, now, now + self.ttl, jti)
            issued = IssuedToken(key.sign_segment(segment), now, now + self.ttl, jti, key.kid)
        elif self.reuse is None:
            claims = self._final_claims(tenant, resource, request)  # type: ignore[arg-type]
            now = int(self._clock())
            if self._profile is None:  # _stamped, inline
                claims["iat"] = now
                claims["exp"] = now + self.ttl
                claims["jti"] = jti = new_jti()
            else:
                jti = self._stamped(claims, now)["jti"]
            issued = IssuedToken(
                key.encode(_COMPACT_JSON.encode(claims).encode()), now, now + self.ttl, jti, key.kid
            )
        else:
            claims = self._final_claims(tenant, resource, request)  # type: ignore[arg-type]
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
