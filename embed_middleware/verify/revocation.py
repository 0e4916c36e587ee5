"""Revoking a tenant's tokens: a cut-off per tenant, and every token issued (``iat``) before it is refused.

A JWT cannot be recalled once handed out, so a leaked iframe URL or an offboarded customer is handled
by the verifier: ``revoke(tenant_id)`` stores "now" as the tenant's cut-off, and a token whose ``iat`` is
strictly earlier is rejected with reason ``revoked``. A cut-off rather than a list of token ids: tokens
are minted per page view, far too many to list, and tokens issued afterwards just work again.

``MemoryRevocations`` serves one process; ``RedisRevocations`` a fleet sharing one Redis.
"""

from __future__ import annotations

import math
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import ConfigurationError, RevocationStoreError
from ..lifetime import MAX_TTL

if TYPE_CHECKING:
    import redis

#: The longest token lifetime (lifetime.MAX_TTL, 24 h) plus an hour of leeway: an older cut-off can
#: no longer reject anything.
DEFAULT_RETENTION = MAX_TTL + 3600
DEFAULT_KEY = "embed:revoked"
#: A healthy Redis answers in milliseconds; past this the verifier fails closed instead of hanging.
DEFAULT_TIMEOUT = 1.0


@runtime_checkable
class RevocationStore(Protocol):
    """Where cut-offs live. Subclass it (or match it structurally) to back revocation elsewhere."""

    #: True when calls do blocking I/O (the ASGI verifier then runs them off the event loop via asgiref).
    blocking: bool

    def revoke(self, tenant_id: str, before: float | None = None) -> float:
        """Reject this tenant's tokens issued before ``before`` (default: now); returns the cut-off stored.

        A later cut-off is never lowered by an earlier one (the maximum is kept), so two operators
        revoking at once, or a replayed old request, can never re-enable tokens.
        """
        ...

    def cutoff(self, tenant_id: str) -> float | None:
        """The tenant's current cut-off, or None when its tokens were never revoked."""
        ...

    def is_revoked(self, tenant_id: str, issued_at: float) -> bool:
        """True when a token issued at ``issued_at`` predates the tenant's cut-off.

        Strictly earlier only: a token minted in the same instant as the cut-off is the first good one.
        ``iat`` is whole seconds (floored), so a token minted later in the very second of a revoke is
        refused too: at most a second of over-revocation, never a pre-revoke token let through.
        """
        return token_revoked(issued_at, self.cutoff(tenant_id))


def token_revoked(issued_at: float, cutoff: float | None) -> bool:
    """The one revocation rule: a token issued strictly before its tenant's cut-off is revoked.

    The verifier, :meth:`RevocationStore.is_revoked` and token reuse (which must never hand out a
    window's token dated before a cut-off) all ask this function, so they cannot disagree.
    """
    return cutoff is not None and issued_at < cutoff


def _settings(retention: float, clock: Callable[[], float]) -> tuple[float, Callable[[], float]]:
    if isinstance(retention, bool) or not isinstance(retention, int | float) or not 0 < retention < math.inf:
        raise ConfigurationError(
            f"retention must be a positive number of seconds (longer than the longest token lifetime "
            f"plus leeway; default {DEFAULT_RETENTION}), not {retention!r}"
        )
    if not callable(clock):
        raise ConfigurationError(f"clock must be a callable returning seconds, like time.time, not {clock!r}")
    return float(retention), clock


def _new_cutoff(tenant_id: str, before: float | None, clock: Callable[[], float]) -> float:
    """Validate the arguments both stores take; a NaN cut-off would compare false and revoke nothing."""
    if not isinstance(tenant_id, str):
        raise ConfigurationError(f"tenant_id must be a str, not {type(tenant_id).__name__}")
    value = clock() if before is None else before
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"before must be a finite timestamp in seconds, not {value!r}")
    return float(value)


class MemoryRevocations(RevocationStore):
    """Cut-offs in a dict, for one process (each worker of a fleet would keep its own: use Redis there).

    Thread-safe: the read-compare-write that keeps the maximum runs under a lock. Cut-offs older than
    ``retention`` are dropped on each revoke, as in Redis, so a long-lived process does not grow.
    """

    blocking = False

    def __init__(
        self, *, retention: float = DEFAULT_RETENTION, clock: Callable[[], float] = time.time
    ) -> None:
        self._retention, self._clock = _settings(retention, clock)
        self._cutoffs: dict[str, float] = {}
        self._lock = threading.Lock()

    def revoke(self, tenant_id: str, before: float | None = None) -> float:
        value = _new_cutoff(tenant_id, before, self._clock)
        with self._lock:
            oldest = self._clock() - self._retention
            self._cutoffs = {t: c for t, c in self._cutoffs.items() if c >= oldest}
            stored = self._cutoffs[tenant_id] = max(value, self._cutoffs.get(tenant_id, -math.inf))
        return stored

    def cutoff(self, tenant_id: str) -> float | None:
        with self._lock:
            return self._cutoffs.get(tenant_id)


class RedisRevocations(RevocationStore):
    """Cut-offs shared by every process of a fleet, in one Redis sorted set: member tenant, score cut-off.

    ``revoke`` is one MULTI/EXEC round trip: ``ZREMRANGEBYSCORE`` drops cut-offs older than now -
    ``retention``, ``ZADD GT`` (Redis 6.2+) keeps the larger score atomically however many processes
    revoke at once, ``ZSCORE`` returns what is stored. Pruning is safe, and keeps the set to recently
    revoked tenants, because a cut-off older than the longest token lifetime (24 h) plus leeway can no
    longer matter: every token issued before it has expired anyway.

    Pass a ready ``client`` (a synchronous ``redis.Redis``; it stays yours to close) or a ``url``
    (the store owns that client: ``close()`` it). Any Redis failure raises ``RevocationStoreError``,
    which verifiers treat as a rejection; its message names the store, never the password.
    """

    blocking = True

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        url: str | None = None,
        key: str = DEFAULT_KEY,
        retention: float = DEFAULT_RETENTION,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            import redis
            from redis.asyncio import Redis as AsyncRedis
        except ImportError:
            raise ConfigurationError(
                "RedisRevocations needs the redis package: pip install 'embed_middleware[redis]'"
            ) from None
        if isinstance(client, str):
            raise ConfigurationError("pass a Redis URL as url=..., not as the client")
        if (client is None) == (url is None):
            raise ConfigurationError("RedisRevocations needs exactly one of client= (a redis.Redis) or url=")
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"key must be a non-empty str naming the sorted set, not {key!r}")
        self._retention, self._clock = _settings(retention, clock)
        self._key = key
        self._secrets: tuple[str, ...] = ()
        if client is None:
            if not isinstance(url, str):
                raise ConfigurationError(f"url must be a str like redis://host:6379/0, not {url!r}")
            password = urllib.parse.urlsplit(url).password
            self._secrets = (password, urllib.parse.unquote(password)) if password else ()
            try:
                # URL query options (?socket_timeout=5) override these defaults.
                client = redis.Redis.from_url(
                    url, socket_timeout=DEFAULT_TIMEOUT, socket_connect_timeout=DEFAULT_TIMEOUT
                )
            except ValueError as exc:
                raise ConfigurationError(
                    f"url {self._scrub(url)!r} is not a usable Redis URL: {self._scrub(f'{exc}')}"
                ) from None
        elif isinstance(client, AsyncRedis):
            raise ConfigurationError("client must be a synchronous redis.Redis; verifiers run it in a thread")
        else:
            password = _client_kwargs(client).get("password")
            self._secrets = (password,) if isinstance(password, str) and password else ()
        self._client: redis.Redis = client
        self._owns_client = url is not None
        self._name = f"RedisRevocations({_describe(client)}, key={key!r})"

    def __repr__(self) -> str:
        return self._name

    def revoke(self, tenant_id: str, before: float | None = None) -> float:
        value = _new_cutoff(tenant_id, before, self._clock)
        pipe = self._client.pipeline(transaction=True)
        pipe.zremrangebyscore(self._key, "-inf", f"({self._clock() - self._retention!r}")
        pipe.zadd(self._key, {_member(tenant_id): value}, gt=True)
        pipe.zscore(self._key, _member(tenant_id))
        return float(self._call(pipe.execute)[-1])

    def cutoff(self, tenant_id: str) -> float | None:
        score = self._call(lambda: self._client.zscore(self._key, _member(tenant_id)))
        return None if score is None else float(score)

    def close(self) -> None:
        """Close the client made from ``url`` (a client passed in is left to its owner)."""
        if self._owns_client:
            self._client.close()

    def _call(self, operation: Callable[[], Any]) -> Any:
        import redis

        try:
            return operation()
        except redis.RedisError as exc:
            raise RevocationStoreError(
                f"{self._name} failed: {self._scrub(f'{type(exc).__name__}: {exc}')}"
            ) from None  # the raw redis error could carry what _scrub removed

    def _scrub(self, text: str) -> str:
        """Messages never carry the password, even where Redis or the URL parser echo it."""
        for secret in self._secrets:  # as written in the URL, and percent-decoded as sent to Redis
            text = text.replace(secret, "***")
        return text


def _member(tenant_id: str) -> bytes:
    """Encoded here, not by the client, so any str (lone surrogates too) maps to one stable member."""
    return tenant_id.encode("utf-8", "surrogatepass")


def _client_kwargs(client: Any) -> dict[str, Any]:
    pool = getattr(client, "connection_pool", None)
    return dict(getattr(pool, "connection_kwargs", {}))


def _describe(client: Any) -> str:
    """Where the client connects, from its settings rather than a URL, so no password can slip in."""
    kwargs = _client_kwargs(client)
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    if "host" in kwargs:
        return f"redis://{kwargs['host']}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
    return type(client).__name__
