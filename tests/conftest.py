"""Shared fixtures and the suite's lanes.

WSGI adapter tests run under both arrangements of the PEP 3333 checkers; a real redis-server is shared by
the run; the suites' issuer is a fixture (keys come from ``tests.support.tokens.signing_secret``).
Everything under ``tests/system`` (real servers, processes, browsers) is marked ``system`` here, so that
`make check` can leave it out by marker alone.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from embed_middleware import TokenIssuer
from tests.support import wsgi_helpers
from tests.support.redis_server import REDIS_SERVER, SKIP_REASON, RedisServer

#: `make test` prints the reliability figures of the load and soak suites (benchmarks/reliability_report.py).
pytest_plugins = ["benchmarks.reliability_report"]

if importlib.util.find_spec("hypothesis") is not None:  # .venv-compat (`make compat`) goes without it
    from tests.support import hypothesis_profiles

    hypothesis_profiles.load_from_environment()

SYSTEM = Path(__file__).resolve().parent / "system"

#: Suites with set-ups of their own, which CI runs after `make test`: the compatibility matrix needs a
#: virtualenv of frameworks and servers (`make compat`), the Superset interop suite a Superset set up
#: from its own lock, minutes cold (`make interop`). Left out of the main run rather than shown as skips.
collect_ignore = [
    *([] if os.environ.get("EMBED_COMPAT") else ["system/compat"]),
    *([] if os.environ.get("EMBED_INTEROP") == "1" else ["system/interop"]),
]


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``system`` on everything under tests/system; ``redis`` on every test that starts redis-server."""
    for item in items:
        if SYSTEM in item.path.parents:
            item.add_marker(pytest.mark.system)
        if "redis_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.redis)


@pytest.fixture
def issuer() -> TokenIssuer:
    """The suites' issuer (``wsgi_helpers.test_issuer``): HS256 with their key, unscoped tokens allowed."""
    return wsgi_helpers.test_issuer()
