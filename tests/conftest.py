"""Shared fixtures: WSGI adapter tests run under both arrangements of the PEP 3333 checkers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import wsgi_helpers
from redis_server import REDIS_SERVER, SKIP_REASON, RedisServer


@pytest.fixture(params=sorted(wsgi_helpers.CHECKERS))
def wsgi_checkers(request: pytest.FixtureRequest) -> Iterator[str]:
    wsgi_helpers.checker_arrangement[0] = request.param
    yield request.param


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server on loopback for the whole run (tests use keys of their own)."""
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    with RedisServer() as server:
        yield server
