"""Verifier edges a review found: mounted apps, lookups and stores that fail, ASGI header case."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import (
    SigningKey,
    Tenant,
    TenantKeys,
    TokenIssuer,
    TokenRejected,
    Verifier,
    resource_from_path,
)
from embed_middleware.verify import VerifyingASGIMiddleware
from tests.support.parity import call_asgi, http_scope

KEY = SigningKey("e" * 48)
EMBED = resource_from_path("/embed/")


async def secret_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"SECRET DATA"})


def test_a_root_path_does_not_hide_a_protected_path_under_asgi() -> None:
    app = VerifyingASGIMiddleware(secret_app, verifier=Verifier(KEY), resource=EMBED, protect=("/embed/",))
    scope = http_scope("/charts/embed/top")
    scope["root_path"] = "/charts"
    messages = asyncio.run(call_asgi(app, scope))
    assert messages[0]["status"] == 401
    assert b"SECRET" not in b"".join(m.get("body", b"") for m in messages[1:])


def test_asgi_rejections_use_lowercase_header_names() -> None:
    app = VerifyingASGIMiddleware(secret_app, verifier=Verifier(KEY), resource=EMBED)
    messages = asyncio.run(call_asgi(app, http_scope("/embed/top")))
    names = [name for name, _ in messages[0]["headers"]]
    assert names and all(name == name.lower() for name in names), names
    assert b"www-authenticate" in names


def test_a_key_lookup_that_raises_refuses_the_token() -> None:
    def lookup(tenant_id: str) -> SigningKey:
        raise LookupError(f"no such tenant {tenant_id}")

    token = TokenIssuer(TenantKeys({"acme": KEY})).issue(
        Tenant("acme"), None, Request(EnvironBuilder().get_environ())
    )
    with pytest.raises(TokenRejected) as raised:
        Verifier(TenantKeys(lookup)).verify(token.token)
    assert (raised.value.reason, raised.value.status) == ("invalid_signature", 401), "as an unknown tenant"


def test_a_store_of_the_apps_own_that_raises_fails_closed() -> None:
    class BrokenStore:
        blocking = False

        def revoke(self, tenant_id: str, before: float | None = None) -> float:
            raise NotImplementedError

        def cutoff(self, tenant_id: str) -> float | None:
            raise ValueError("database schema changed")

        def is_revoked(self, tenant_id: str, issued_at: float) -> bool:
            raise NotImplementedError

    token = TokenIssuer(KEY).issue(Tenant("acme"), None, Request(EnvironBuilder().get_environ())).token
    with pytest.raises(TokenRejected) as raised:
        Verifier(KEY, revocations=BrokenStore()).verify(token)
    assert (raised.value.reason, raised.value.status) == ("revocation_unavailable", 503)
