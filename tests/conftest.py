"""Shared fixtures: WSGI adapter tests run under both arrangements of the PEP 3333 checkers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import wsgi_helpers


@pytest.fixture(params=sorted(wsgi_helpers.CHECKERS))
def wsgi_checkers(request: pytest.FixtureRequest) -> Iterator[str]:
    wsgi_helpers.checker_arrangement[0] = request.param
    yield request.param
