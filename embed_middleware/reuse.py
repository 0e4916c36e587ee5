"""Token reuse: one token per tenant, resource, claims and key per time window, so vendor caches work.

Chartio runs a dashboard's queries only when an iframe URL arrives with a *brand-new* JWT, caches the
results until that JWT expires, and counts each new JWT as an "embed". A token per page view is a
query per page view. With reuse on, every page view in a window gets the same token::

    issuer = TokenIssuer(key, ttl=600, claims=..., resources=[...], reuse=TokenReuse(window=300))

**What makes two requests share a token.** The cache key is the signing key (a secret-derived
fingerprint, its algorithm and kid), the tenant id, the resource, the window and the *canonical JSON of
every final claim* (after the claims hook, the tenant's locked claims and the reserved ``tid``): equal
keys mean byte-equal payloads, so handing out the cached token is exactly what minting would have
produced. Two tenants, or one changed ``env`` filter, can never share an entry.

**Time.** ``iat`` is the start of the window (``floor(now / window) * window``, aligned to the epoch so
hosts agree without talking), ``exp = iat + ttl`` and ``window <= ttl / 2``: a token served in the
last second of its window still has at least ``ttl - window`` seconds (half its lifetime) to load the
page. ``jti`` is an HMAC, under a secret derived from the signing key, of the key id, tenant, resource,
``iat``, ttl and claims: stable within the window, unique across them, and not reversible to claims.

**Revocation and rotation.** A rotated key has another fingerprint: the next token is signed with the
new key at once. A revocation cut-off after the window's start would leave the window's token refused
until the window ends, so pass the verifiers' store as ``revocations=``: a cut-off inside the window
starts a new one at the cut-off (``iat = ceil(cut-off)``, the same on every host).

**Fleets.** HS256/384/512, RS256 (PKCS#1 v1.5) and EdDSA sign deterministically: every process with
the same key mints byte-identical tokens for a window without talking to each other. ES256 and PS256
draw randomness per signature; ``shared=RedisTokenCache(...)`` makes the first token of a window the
fleet's (see reuse_redis.py).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import ConfigurationError
from .verify.revocation import token_revoked

if TYPE_CHECKING:
    from .keys import SigningKey
    from .verify.revocation import RevocationStore

__all__ = ["DETERMINISTIC_ALGORITHMS", "SharedTokenCache", "TokenCache", "TokenReuse"]

log = logging.getLogger("embed_middleware")

#: Algorithms whose signature is a function of key and message: fleet-identical without a shared cache.
DETERMINISTIC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512", "RS256", "EdDSA"})
#: Enough for every (tenant, resource, claims) of a large app in one window; ~1 KB each at most.
DEFAULT_MAX_ENTRIES = 10_000
_JTI_LABEL = b"reuse-jti"
_NAME_LABEL = b"reuse-cache-name"
_FINGERPRINT_LABEL = b"reuse-fingerprint"


@runtime_checkable
class SharedTokenCache(Protocol):
    """Where a fleet keeps each window's first token (RedisTokenCache, or your own).

    Whatever it returns is checked before it is served (see ``TokenCache``): a store that is writable
    by someone else can break embeds, never hand out a token this process would not have minted.
    """

    def get(self, name: str) -> str | None:
        """The token stored under ``name``, or None."""
        ...

    def add(self, name: str, token: str, ttl: int) -> str:
        """Stores ``token`` unless ``name`` is taken; returns what is stored now (the winner)."""
        ...


@dataclass(frozen=True)
class TokenReuse:
    """Reuse settings: how long a window lasts, how many tokens a process keeps, what is shared."""

    #: Seconds per window; at most half the issuer's ttl, so a reused token always has half its life left.
    window: int
    #: Tokens kept per process (least recently used dropped first).
    max_entries: int = DEFAULT_MAX_ENTRIES
    #: A fleet-wide store for the first token of each window (needed for ES256/PS256 only).
    shared: SharedTokenCache | None = None
    #: The verifiers' revocation store: a cut-off inside a window starts a new window at the cut-off.
    revocations: RevocationStore | None = None

    def __post_init__(self) -> None:
        if not _whole(self.window):
            raise ConfigurationError(f"reuse window must be whole seconds >= 1, not {self.window!r}")
        if not _whole(self.max_entries):
            raise ConfigurationError(f"max_entries must be a whole number >= 1, not {self.max_entries!r}")
        if self.shared is not None and not isinstance(self.shared, SharedTokenCache):
            raise ConfigurationError("shared needs get(name) and add(name, token, ttl): e.g. RedisTokenCache")
        if self.revocations is not None and not callable(getattr(self.revocations, "cutoff", None)):
            raise ConfigurationError("revocations must be a store like MemoryRevocations or RedisRevocations")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def reuse_setting(value: TokenReuse | int | None) -> TokenReuse | None:
    """``reuse=300`` is ``TokenReuse(window=300)``."""
    if value is None or isinstance(value, TokenReuse):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return TokenReuse(window=value)
    raise ConfigurationError(f"reuse must be a window in seconds or a TokenReuse(...), not {value!r}")


def canonical(claims: Mapping[str, Any]) -> str:
    """The one JSON text of a claims dict: sorted keys, no spaces. Equal texts sign to equal payloads."""
    return json.dumps(claims, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Slot:
    """One (key, tenant, resource, claims, window): what is cached, and what its token must carry."""

    key: SigningKey
    cache_key: tuple[Any, ...]
    material: bytes
    iat: int
    window_end: int

    def jti(self) -> str:
        return _b64url(hmac.digest(self.key.derive(_JTI_LABEL), self.material, "sha256")[:16])

    def shared_name(self) -> str:
        """The shared store's name for this slot: reveals nothing, and differs for every key."""
        return hmac.new(self.key.derive(_NAME_LABEL), self.material, "sha256").hexdigest()


class TokenCache:
    """The per-process LRU of one issuer, in front of the optional shared store. Thread-safe."""

    def __init__(self, settings: TokenReuse, ttl: int) -> None:
        if settings.window > ttl // 2:
            raise ConfigurationError(
                f"reuse window {settings.window} s is longer than half the ttl ({ttl} s): a token reused "
                f"late in its window would expire mid-page; use window <= {ttl // 2} or a longer ttl"
            )
        self.settings = settings
        self._ttl = ttl
        self._entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def slot(
        self, key: SigningKey, tenant_id: str, resource: str | None, claims: Mapping[str, Any], now: float
    ) -> Slot:
        """Where the token for these final claims (no iat/exp/jti yet) lives in the current window."""
        window = self.settings.window
        start = int(now // window) * window
        iat = start
        if self.settings.revocations is not None:
            cut = self.settings.revocations.cutoff(tenant_id)
            if cut is not None and token_revoked(start, cut):
                # A new window begins at the cut-off; within the cut-off's own second, iat <= now still
                # (a token is never dated in the future), and that token is refused like a fresh one.
                iat = min(math.ceil(cut), int(now))
        fingerprint = key.derive(_FINGERPRINT_LABEL)
        text = canonical(claims)
        material = json.dumps(
            [key.algorithm, key.kid, tenant_id, resource, iat, self._ttl, text], separators=(",", ":")
        ).encode()
        cache_key = (fingerprint, key.algorithm, key.kid, tenant_id, resource, iat, text)
        return Slot(key, cache_key, material, iat, start + window)

    def get(self, slot: Slot) -> Any:
        with self._lock:
            found = self._entries.get(slot.cache_key)
            if found is not None:
                self._entries.move_to_end(slot.cache_key)
            return found

    def put(self, slot: Slot, value: Any) -> Any:
        """Keeps the first value stored for a slot (threads racing on ES256 all serve one token)."""
        with self._lock:
            found = self._entries.setdefault(slot.cache_key, value)
            self._entries.move_to_end(slot.cache_key)
            while len(self._entries) > self.settings.max_entries:
                self._entries.popitem(last=False)
            return found

    def __len__(self) -> int:
        return len(self._entries)

    def shared_token(self, slot: Slot, payload: bytes, mint: Callable[[], str], now: float) -> str:
        """The fleet's token for ``slot`` from the shared store, minting and offering ours on a miss.

        A stored token is served only if its payload is byte-for-byte ``payload`` and its signature
        verifies with this key; anything else (a store someone else can write, a stale format) is
        logged without the token and replaced by a local mint. A failing store degrades to local
        mints: reuse saves load, it never decides who gets which token.
        """
        store = self.settings.shared
        assert store is not None
        name = slot.shared_name()
        try:
            stored = store.get(name)
            if stored is None:
                stored = store.add(name, mint(), max(1, math.ceil(slot.window_end - now)))
        except Exception as error:  # any store failure: mint here instead
            log.warning("shared token cache failed (%s); minting locally", type(error).__name__)
            return mint()
        if _is_ours(stored, slot.key, payload):
            return stored
        log.warning("shared token cache returned a token this key did not sign for these claims; ignored")
        return mint()


def _is_ours(token: object, key: SigningKey, payload: bytes) -> bool:
    if not isinstance(token, str) or token.count(".") != 2:
        return False
    header, body, signature = token.split(".")
    if body != _b64url(payload):
        return False
    try:
        fields = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except ValueError:
        return False
    if not isinstance(fields, dict) or fields.get("alg") != key.algorithm or fields.get("kid") != key.kid:
        return False
    return key.verify_signature(f"{header}.{body}".encode("ascii"), raw)
