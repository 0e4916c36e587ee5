"""Pages that carry a token state a referrer policy, unless the app chose its own."""

from __future__ import annotations

import pytest

from tests.support.parity import SERVERS, Case


@pytest.mark.parametrize("adapter", sorted(SERVERS))
def test_token_pages_get_strict_origin_when_cross_origin(adapter: str) -> None:
    result = SERVERS[adapter](Case("referrer"))
    assert result.header("referrer-policy") == "strict-origin-when-cross-origin"


@pytest.mark.parametrize("adapter", sorted(SERVERS))
def test_the_apps_own_policy_is_kept(adapter: str) -> None:
    result = SERVERS[adapter](Case("own-referrer", headers=(("Referrer-Policy", "no-referrer"),)))
    assert result.header("referrer-policy") == "no-referrer"


@pytest.mark.parametrize("adapter", sorted(SERVERS))
def test_pages_without_a_token_are_left_alone(adapter: str) -> None:
    result = SERVERS[adapter](Case("no-token", chunks=(b"<p>no placeholder</p>",)))
    assert result.header("referrer-policy") is None
