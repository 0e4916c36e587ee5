"""Revocation end to end: an admin revokes a tenant in one process, every verifier refuses its tokens.

Two store objects stand for two processes (with Redis they share nothing but the server), and the
verifying middleware runs under both adapters.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import redis
from webtest import TestApp
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import (
    MemoryRevocations,
    RedisRevocations,
    RevocationStore,
    SigningKey,
    Tenant,
    TokenIssuer,
    Verifier,
    VerifyingASGIMiddleware,
    VerifyingWSGIMiddleware,
    resource_from_path,
)
from tests.support.parity import call_asgi, http_scope
from tests.support.redis_server import RedisServer

KEY = SigningKey("r" * 48)


def mint(tenant: str, issued_at: float) -> str:
    issuer = TokenIssuer(KEY, clock=lambda: issued_at)
    return issuer.issue(Tenant(tenant), "chart", Request(EnvironBuilder("/").get_environ())).token


#: /chart is resource "chart", which every token here grants.
CHART = resource_from_path("/")


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["embed.verified"].tenant_id.encode()]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": scope["embed.verified"].tenant_id.encode()})


def status_of(adapter: str, verifier: Verifier, token: str) -> tuple[int, bytes]:
    if adapter == "wsgi":
        app = TestApp(VerifyingWSGIMiddleware(wsgi_app, verifier=verifier, resource=CHART))
        response = app.get("/chart", {"token": token}, expect_errors=True)
        return response.status_int, response.body
    scope = http_scope(f"/chart?token={token}")
    messages = asyncio.run(
        call_asgi(VerifyingASGIMiddleware(asgi_app, verifier=verifier, resource=CHART), scope)
    )
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return messages[0]["status"], body


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def two_processes(request: pytest.FixtureRequest) -> tuple[RevocationStore, RevocationStore]:
    """(the admin's store, the verifier's store): the same list of cut-offs seen from two places."""
    if request.param == "memory":
        shared = MemoryRevocations()
        return shared, shared
    server: RedisServer = request.getfixturevalue("redis_server")
    key = f"test:flow:{uuid.uuid4().hex}"
    clients = [redis.Redis(host="127.0.0.1", port=server.port) for _ in range(2)]
    request.addfinalizer(lambda: [client.close() for client in clients])
    return RedisRevocations(clients[0], key=key), RedisRevocations(clients[1], key=key)


@pytest.mark.parametrize("adapter", ["wsgi", "asgi"])
def test_revoking_a_tenant_refuses_its_older_tokens_everywhere(
    adapter: str, two_processes: tuple[RevocationStore, RevocationStore]
) -> None:
    admin, seen_by_verifier = two_processes
    verifier = Verifier(KEY, revocations=seen_by_verifier)
    now = time.time()
    acme_old, globex_old = mint("acme", now - 120), mint("globex", now - 120)
    assert status_of(adapter, verifier, acme_old) == (200, b"acme")

    admin.revoke("acme", before=now - 60)

    assert status_of(adapter, verifier, acme_old) == (401, b'{"error": "revoked"}')
    assert status_of(adapter, verifier, globex_old) == (200, b"globex"), "another tenant is untouched"
    assert status_of(adapter, verifier, mint("acme", now - 30)) == (200, b"acme"), "issued after the cut-off"
