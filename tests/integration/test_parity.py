"""One table of behaviour cases, run through both adapters, so WSGI and ASGI cannot drift."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from embed_middleware import ConfigurationError
from tests.support.parity import SERVERS, Case, Result
from tests.support.parity_cases import ALL_CASES, TOKEN, endpoint_options


@pytest.mark.parametrize("server", sorted(SERVERS))
@pytest.mark.parametrize(("case", "expect"), ALL_CASES, ids=[case.name for case, _ in ALL_CASES])
def test_parity(server: str, case: Case, expect: Callable[[Result], None]) -> None:
    expect(SERVERS[server](case))


def test_both_adapters_give_the_same_body_and_headers_for_every_case() -> None:
    """Beyond each expectation: tokens aside, the two adapters answer byte for byte alike."""
    for case, _ in ALL_CASES:
        wsgi, asgi = (SERVERS[name](case) for name in ("wsgi", "asgi"))
        assert wsgi.status == asgi.status, case.name
        bodies = [
            TOKEN.sub(b"T", r.body.replace(r.nonce.encode(), b"NONCE") if r.nonce else r.body)
            for r in (wsgi, asgi)
        ]
        assert bodies[0] == bodies[1], case.name
        ignore = {"content-length", "x-embed-token"}  # token lengths differ by jti; checked per case
        same = {k: v for k, v in wsgi.headers.items() if k not in ignore}
        assert same == {k: v for k, v in asgi.headers.items() if k not in ignore}, case.name


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_an_intercepting_endpoint_refuses_a_resolver_any_client_steers(server: str) -> None:
    options = endpoint_options()
    del options["token_endpoint_trusts_client_input"]
    with pytest.raises(ConfigurationError, match="token_endpoint_trusts_client_input=True"):
        SERVERS[server](Case("endpoint steered by X-Tenant", path="/embed/token", options=options))
