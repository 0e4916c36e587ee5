"""Revocation stores: one behaviour suite run against memory and a real Redis, then Redis's own cases."""

from __future__ import annotations

import math
import random
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio

from embed_middleware.errors import ConfigurationError, RevocationStoreError
from embed_middleware.lifetime import MAX_TTL
from embed_middleware.verify.revocation import (
    DEFAULT_RETENTION,
    MemoryRevocations,
    RedisRevocations,
    RevocationStore,
    token_revoked,
)
from tests.support.redis_server import REDIS_SERVER, SKIP_REASON, RedisServer

NOW = 1_700_000_000.123456  # a realistic time.time(), with the microseconds a float carries
RETENTION = 100.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    yield client
    client.close()


@pytest.fixture
def key() -> str:
    """A sorted set of its own for each test, so tests sharing the server cannot see each other."""
    return f"test:revoked:{uuid.uuid4().hex}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, clock: Clock, key: str) -> RevocationStore:
    if request.param == "memory":
        return MemoryRevocations(retention=RETENTION, clock=clock)
    client: redis.Redis = request.getfixturevalue("redis_client")
    return RedisRevocations(client, key=key, retention=RETENTION, clock=clock)


# -- the behaviour both stores share ---------------------------------------------------------------


def test_nothing_revoked_at_first(store: RevocationStore) -> None:
    assert store.cutoff("acme") is None
    assert not store.is_revoked("acme", 0)
    assert not store.is_revoked("acme", NOW)


def test_revoke_stores_the_cutoff_exactly(store: RevocationStore) -> None:
    assert store.revoke("acme", NOW - 10) == NOW - 10
    assert store.cutoff("acme") == NOW - 10  # bit for bit: Redis keeps a double, as Python does


def test_default_before_is_the_clock_now(store: RevocationStore, clock: Clock) -> None:
    clock.now = NOW + 5.5
    assert store.revoke("acme") == NOW + 5.5
    assert store.cutoff("acme") == NOW + 5.5


def test_a_later_cutoff_is_never_lowered(store: RevocationStore) -> None:
    assert store.revoke("acme", NOW) == NOW
    assert store.revoke("acme", NOW - 30) == NOW  # an earlier revoke arriving late changes nothing
    assert store.cutoff("acme") == NOW
    assert store.revoke("acme", NOW + 30) == NOW + 30
    assert store.cutoff("acme") == NOW + 30


def test_tenants_are_independent(store: RevocationStore) -> None:
    store.revoke("acme", NOW)
    store.revoke("globex", NOW - 50)
    assert store.cutoff("acme") == NOW
    assert store.cutoff("globex") == NOW - 50
    assert store.cutoff("initech") is None
    assert store.is_revoked("acme", NOW - 1)
    assert not store.is_revoked("initech", NOW - 1)


ODD_IDS = [
    'acme "quoted"',
    "o'brien & co",
    "with  spaces ",
    "Ünïcödé 株式会社",
    "emoji 🎉",
    "back\\slash",
    "*",
    "-inf",
    "(1",
    "e\u0301",  # NFD: must stay distinct from the NFC "é" below
    "é",
    "\ud800",  # a lone surrogate: not valid UTF-8, still a Python str
]


def test_arbitrary_tenant_ids_round_trip(store: RevocationStore) -> None:
    for i, tenant in enumerate(ODD_IDS):
        assert store.revoke(tenant, NOW + i) == NOW + i
    for i, tenant in enumerate(ODD_IDS):
        assert store.cutoff(tenant) == NOW + i, tenant
    assert store.cutoff("acme") is None


@pytest.mark.parametrize(
    ("issued_at", "revoked"),
    [(NOW - 1, True), (NOW - 1e-6, True), (math.floor(NOW), True), (NOW, False), (NOW + 1, False)],
)
def test_only_tokens_issued_strictly_before_the_cutoff_are_revoked(
    store: RevocationStore, issued_at: float, revoked: bool
) -> None:
    store.revoke("acme", NOW)
    assert store.is_revoked("acme", issued_at) is revoked


def test_cutoffs_older_than_retention_are_pruned_on_revoke(store: RevocationStore, clock: Clock) -> None:
    store.revoke("old", NOW)
    store.revoke("edge", NOW + 1)
    clock.now = NOW + 1 + RETENTION  # "old" is now older than retention, "edge" exactly as old
    store.revoke("new")
    assert store.cutoff("old") is None
    assert store.cutoff("edge") == NOW + 1
    assert store.cutoff("new") == clock.now


def test_concurrent_revokes_keep_the_maximum(store: RevocationStore) -> None:
    """Threads revoke the same tenants at once; the read-compare-write must never let a smaller value win.

    A lost update is a matter of timing, so each round revokes a fresh tenant: every round is a chance
    for the race to show, and threads switch as often as the interpreter allows.
    """
    threads_count, rounds = 16, 500
    rng = random.Random(7)
    values = [[NOW + v for v in rng.sample(range(threads_count), threads_count)] for _ in range(rounds)]
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait()
            for round_, row in enumerate(values):
                store.revoke(f"round-{round_}", row[index])
        except BaseException as exc:
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=worker, args=(index,)) for index in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    lost = [r for r in range(rounds) if store.cutoff(f"round-{r}") != max(values[r])]
    assert lost == [], f"the maximum was lost in rounds {lost}"


def test_stores_satisfy_the_protocol(store: RevocationStore) -> None:
    assert isinstance(store, RevocationStore)
    assert store.blocking is isinstance(store, RedisRevocations)


@pytest.mark.parametrize("before", [math.nan, math.inf, -math.inf, True, "1700000000"])
def test_a_bad_before_is_refused(store: RevocationStore, before: Any) -> None:
    with pytest.raises(ValueError, match="before must be a finite timestamp"):
        store.revoke("acme", before)
    assert store.cutoff("acme") is None


def test_a_tenant_id_must_be_a_str(store: RevocationStore) -> None:
    with pytest.raises(ConfigurationError, match="tenant_id must be a str"):
        store.revoke(42, NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("retention", [0, -1, math.nan, math.inf, True, "3600", None])
@pytest.mark.parametrize("factory", [MemoryRevocations, RedisRevocations])
def test_retention_must_be_positive(factory: Callable[..., RevocationStore], retention: Any) -> None:
    extra = {} if factory is MemoryRevocations else {"url": "redis://127.0.0.1:1/0"}
    with pytest.raises(ConfigurationError, match="retention must be a positive number of seconds"):
        factory(retention=retention, **extra)


def test_clock_must_be_callable() -> None:
    with pytest.raises(ConfigurationError, match="clock must be a callable"):
        MemoryRevocations(clock=NOW)  # type: ignore[arg-type]


def test_default_retention_outlives_every_token() -> None:
    assert DEFAULT_RETENTION >= MAX_TTL + 3600


class DictStore(RevocationStore):
    """A third-party store: implements revoke and cutoff, inherits is_revoked from the protocol."""

    blocking = False

    def __init__(self) -> None:
        self.cutoffs: dict[str, float] = {}

    def revoke(self, tenant_id: str, before: float | None = None) -> float:
        self.cutoffs[tenant_id] = max(before or NOW, self.cutoffs.get(tenant_id, -math.inf))
        return self.cutoffs[tenant_id]

    def cutoff(self, tenant_id: str) -> float | None:
        return self.cutoffs.get(tenant_id)


def test_a_custom_store_inherits_is_revoked() -> None:
    custom = DictStore()
    custom.revoke("acme", NOW)
    assert isinstance(custom, RevocationStore)
    assert custom.is_revoked("acme", NOW - 1)
    assert not custom.is_revoked("acme", NOW)


# -- Redis: a fleet of processes, and failures -----------------------------------------------------


def test_two_clients_see_each_others_revocations(redis_server: RedisServer, key: str, clock: Clock) -> None:
    """Two clients with their own connection pools stand for two processes of a fleet."""
    first = RedisRevocations(url=redis_server.url, key=key, clock=clock)
    second = RedisRevocations(url=redis_server.url, key=key, clock=clock)
    try:
        first.revoke("acme", NOW)
        assert second.cutoff("acme") == NOW
        assert second.is_revoked("acme", NOW - 1)
        assert second.revoke("acme", NOW - 60) == NOW  # the other process's later cut-off is kept
        second.revoke("globex", NOW + 1)
        assert first.cutoff("globex") == NOW + 1
    finally:
        first.close()
        second.close()


def test_pruning_really_shrinks_the_set(redis_client: redis.Redis, key: str, clock: Clock) -> None:
    store = RedisRevocations(redis_client, key=key, retention=RETENTION, clock=clock)
    for i in range(20):
        store.revoke(f"tenant-{i}", NOW)
    assert redis_client.zcard(key) == 20
    clock.now = NOW + RETENTION + 1
    store.revoke("latest")
    assert redis_client.zrange(key, 0, -1) == [b"latest"]


def test_members_are_the_utf8_tenant_ids(redis_client: redis.Redis, key: str) -> None:
    """Other tools (redis-cli, another language) read and write the same set."""
    store = RedisRevocations(redis_client, key=key)
    store.revoke('株式会社 "x"', NOW)
    assert redis_client.zscore(key, '株式会社 "x"'.encode()) == NOW
    redis_client.zadd(key, {"written-elsewhere": NOW + 9})
    assert store.cutoff("written-elsewhere") == NOW + 9


@pytest.mark.redis
def test_a_server_that_went_away_raises_store_error_without_the_password() -> None:
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    with RedisServer(password="secret") as server:
        url = server.url
        assert ":secret@" in url
        store = RedisRevocations(url=url)
        store.revoke("acme", NOW)  # authenticated and working while the server is up
    try:
        calls: list[Callable[[], object]] = [
            lambda: store.revoke("acme"),
            lambda: store.cutoff("acme"),
            lambda: store.is_revoked("acme", 0),  # fails closed: never a quiet False
        ]
        for call in calls:
            with pytest.raises(RevocationStoreError) as caught:
                call()
            message = str(caught.value)
            assert f"RedisRevocations(redis://127.0.0.1:{server.port}/0" in message
            assert "ConnectionError" in message
            assert "secret" not in message
        assert "secret" not in repr(store)
    finally:
        store.close()


@pytest.mark.redis
def test_a_wrong_password_raises_store_error_without_it() -> None:
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    with RedisServer(password="secret") as server:
        store = RedisRevocations(url=f"redis://:hunter2-wrong@127.0.0.1:{server.port}/0")
        try:
            with pytest.raises(RevocationStoreError) as caught:
                store.cutoff("acme")
        finally:
            store.close()
    assert "hunter2-wrong" not in str(caught.value)
    assert "secret" not in str(caught.value)


def test_a_key_of_the_wrong_type_raises_store_error(redis_client: redis.Redis, key: str) -> None:
    redis_client.set(key, "not a sorted set")
    store = RedisRevocations(redis_client, key=key)
    calls: list[Callable[[], object]] = [lambda: store.revoke("acme", NOW), lambda: store.cutoff("acme")]
    for call in calls:
        with pytest.raises(RevocationStoreError, match=r"ResponseError: .*WRONGTYPE") as caught:
            call()
        # The redis error is named in the (scrubbed) message, not chained: its own text is unscrubbed.
        assert caught.value.__cause__ is None


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (the backlog) but never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        store = RedisRevocations(url=f"redis://127.0.0.1:{port}/0?socket_timeout=0.2")
        try:
            with pytest.raises(RevocationStoreError, match="TimeoutError"):
                store.cutoff("acme")
        finally:
            store.close()


def test_close_leaves_a_passed_client_open(redis_client: redis.Redis, key: str) -> None:
    store = RedisRevocations(redis_client, key=key)
    store.revoke("acme", NOW)
    store.close()
    assert redis_client.zscore(key, "acme") == NOW


# -- Redis: configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of client= .* or url="),
        ({"client": redis.Redis(), "url": "redis://127.0.0.1/0"}, "exactly one of client="),
        ({"client": "redis://127.0.0.1/0"}, r"pass a Redis URL as url=\.\.\., not as the client"),
        ({"client": redis.asyncio.Redis()}, "must be a synchronous redis.Redis"),
        ({"url": b"redis://127.0.0.1/0"}, "url must be a str"),
        ({"url": "redis://127.0.0.1/0", "key": ""}, "key must be a non-empty str"),
    ],
)
def test_bad_settings_say_what_to_fix(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RedisRevocations(**kwargs)


def test_a_bad_url_is_refused_with_the_password_redacted() -> None:
    with pytest.raises(ConfigurationError, match="not a usable Redis URL") as caught:
        RedisRevocations(url="http://admin:s3cr3t@cache.internal:6379/0")
    assert "s3cr3t" not in str(caught.value)
    assert "http://admin:***@cache.internal:6379/0" in str(caught.value)
    with pytest.raises(ConfigurationError, match="not a usable Redis URL") as caught:
        RedisRevocations(url="redis://admin:p%40ss@cache.internal:notaport/0")
    assert "p%40ss" not in str(caught.value)
    assert "p@ss" not in str(caught.value)


def test_the_description_never_shows_a_password(redis_server: RedisServer) -> None:
    store = RedisRevocations(url=f"redis://user:pa55word@127.0.0.1:{redis_server.port}/3", key="k")
    try:
        assert repr(store) == f"RedisRevocations(redis://127.0.0.1:{redis_server.port}/3, key='k')"
    finally:
        store.close()


def test_without_the_redis_package_the_message_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` raise ImportError
    with pytest.raises(ConfigurationError, match=r"pip install 'embed_middleware\[redis\]'"):
        RedisRevocations(url="redis://127.0.0.1/0")
    MemoryRevocations().revoke("acme")  # the default store needs nothing


def test_one_function_decides_revocation_and_every_caller_asks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from embed_middleware import reuse
    from embed_middleware.verify import revocation, verifier

    assert token_revoked(99, 100) and not token_revoked(100, 100) and not token_revoked(0, None)
    assert reuse.token_revoked is verifier.token_revoked is revocation.token_revoked
    calls: list[tuple[float, float | None]] = []

    def spy(issued_at: float, cutoff: float | None) -> bool:
        calls.append((issued_at, cutoff))
        return False

    monkeypatch.setattr(revocation, "token_revoked", spy)
    store = MemoryRevocations()
    store.revoke("acme", before=NOW)
    assert store.is_revoked("acme", NOW - 10) is False  # the spy said so: the store asked it
    assert calls == [(NOW - 10, NOW)]
