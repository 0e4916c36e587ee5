"""A fleet-wide token cache in Redis, for algorithms that sign with randomness (ES256, PS256).

Two ES256 signatures of the same payload differ, so each process of a fleet would mint its own token
per window and the vendor would see N brand-new JWTs. With this cache the first process to mint in a
window stores its token and every other process serves that one::

    reuse = TokenReuse(window=300, shared=RedisTokenCache(url="redis://cache:6379/0"))

Names are ``prefix`` + an HMAC of the slot under a secret derived from the signing key (nothing about
the tenant or claims can be read from them); entries expire with their window (``SET NX EX``). Each
process asks Redis once per slot and window: its own LRU answers after that. Tokens are never
logged, and error messages carry the exception's type only (a Redis message can echo a URL).

Under ASGI the lookup is a blocking round trip on the event loop, once per slot per window per
process; keep Redis close, or use a deterministic algorithm and no shared cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError

if TYPE_CHECKING:
    import redis

DEFAULT_PREFIX = "embed:token:"
#: A cache miss costs a local signature; waiting longer than this for Redis is worse than that.
DEFAULT_TIMEOUT = 0.5


class RedisTokenCache:
    """``get`` and ``add`` over one Redis: pass a ``client`` (yours to close) or a ``url`` (ours)."""

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        url: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigurationError(
                "RedisTokenCache needs the redis package: pip install 'embed_middleware[redis]'"
            ) from None
        if (client is None) == (url is None):
            raise ConfigurationError("RedisTokenCache needs exactly one of client= (a redis.Redis) or url=")
        if not isinstance(prefix, str) or not prefix:
            raise ConfigurationError(f"prefix must be a non-empty str, not {prefix!r}")
        if client is None:
            try:
                client = redis.Redis.from_url(
                    str(url), socket_timeout=timeout, socket_connect_timeout=timeout
                )
            except ValueError:
                raise ConfigurationError("url is not a usable Redis URL (redis://host:6379/0)") from None
        self._client: Any = client
        self._owns_client = url is not None
        self._prefix = prefix

    def __repr__(self) -> str:
        return f"RedisTokenCache(prefix={self._prefix!r})"

    def get(self, name: str) -> str | None:
        """The token the fleet last stored under ``name``, or None (the issuer then mints one)."""
        value = self._client.get(self._prefix + name)
        return value.decode("ascii") if isinstance(value, bytes) else value

    def add(self, name: str, token: str, ttl: int) -> str:
        """``SET NX EX`` then ``GET`` in one transaction: whoever stored first, everyone serves theirs."""
        pipe = self._client.pipeline(transaction=True)
        pipe.set(self._prefix + name, token, nx=True, ex=ttl)
        pipe.get(self._prefix + name)
        stored = pipe.execute()[-1]
        if stored is None:  # expired between the two commands: serve ours
            return token
        return stored.decode("ascii") if isinstance(stored, bytes) else str(stored)

    def close(self) -> None:
        """Close the client made from ``url`` (a client passed in is left to its owner)."""
        if self._owns_client:
            self._client.close()
