"""Tokens from ``TokenIssuer`` + ``SupersetProfile`` against a real Superset 6.1 (``make interop``).

Superset's own guest-token API is never called: every token here is minted by this library and
verified by Superset. Each test asserts on the rows Superset returns, not only the status, and each
refusal on the reason Superset logs (its answer is the same 401 whatever went wrong).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from superset_interop import Stack
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import SupersetProfile, Tenant, TokenIssuer
from examples.superset_provision import SALES

pytestmark = pytest.mark.interop

FIGURES = Path(__file__).resolve().parents[3] / "build" / "superset-interop.json"
SEEN: dict[str, Any] = {"rows": {}, "refusals": {}}
RLS = "tenant = {tenant}"
#: Tenant ids written as attacks on an RLS clause: each must match no row (no tenant has that id).
HOSTILE = [
    "x' OR '1'='1",
    "x' OR 1=1 --",
    "x'; DROP TABLE sales; --",
    "x' /* */ OR /* */ '1'='1",
    "' UNION SELECT tenant, region, amount FROM sales --",
    "x\u2019 OR 1=1 --",  # a typographic apostrophe is no quote to SQL
]


def request() -> Request:
    return Request(EnvironBuilder(path="/").get_environ())


def profile(stack: Stack, *, audience: str | None = None) -> SupersetProfile:
    dashboards = stack.provisioned.embedded
    return SupersetProfile(dashboards=dashboards, audience=audience or stack.audience, rls=RLS)


def mint(stack: Stack, tenant: Tenant, resource: str = "sales", **options: Any) -> str:
    claims = options.pop("claims", None) or profile(stack)
    key = options.pop("key", stack.key)
    return (
        TokenIssuer(key, ttl=options.pop("ttl", 60), claims=claims, **options)
        .issue(tenant, resource, request())
        .token
    )


def chart_data(stack: Stack, token: str) -> tuple[int, Any]:
    """The sales chart's data request, as the embedded dashboard sends it."""
    body = json.dumps(stack.provisioned.query).encode()
    headers = {"Content-Type": "application/json", "X-GuestToken": token}
    call = urllib.request.Request(f"{stack.superset.url}/api/v1/chart/data", body, headers, method="POST")
    try:
        with urllib.request.urlopen(call, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def rows(stack: Stack, token: str) -> list[tuple[str, str, int]]:
    status, body = chart_data(stack, token)
    assert status == 200, body
    return sorted((r["tenant"], r["region"], r["amount"]) for r in body["result"][0]["data"])


def expected(tenant: str) -> list[tuple[str, str, int]]:
    return sorted((tenant, region, amount) for region, amount in SALES[tenant])


@pytest.mark.parametrize("tenant", sorted(SALES))
def test_each_tenant_reads_only_its_rows(stack: Stack, tenant: str) -> None:
    seen = rows(stack, mint(stack, Tenant(tenant)))
    SEEN["rows"][tenant] = seen
    assert seen == expected(tenant)


def test_unknown_claims_are_ignored(stack: Stack) -> None:
    """A reserved ``tid`` claim (and the issuer's ``jti``) does not upset Superset."""
    assert rows(stack, mint(stack, Tenant("acme", locked_claims={"tid": "acme"}))) == expected("acme")


def test_naive_concatenation_leaks_every_tenant(stack: Stack) -> None:
    """The attack, first: a clause pasted together from the tenant id reads every tenant's rows."""

    def naive(tenant: Tenant, resource: str | None, req: Request) -> dict[str, Any]:
        claims = profile(stack)(tenant, resource, req)
        claims["rls_rules"] = [{"clause": f"tenant = '{tenant.id}'"}]
        return claims

    leaked = rows(stack, mint(stack, Tenant("x' OR '1'='1"), claims=naive))
    SEEN["naive_concatenation_rows"] = len(leaked)
    assert leaked == sorted(row for tenant in SALES for row in expected(tenant))


@pytest.mark.parametrize("tenant", HOSTILE)
def test_hostile_tenant_ids_read_nothing(stack: Stack, tenant: str) -> None:
    assert rows(stack, mint(stack, Tenant(tenant))) == []
    assert rows(stack, mint(stack, Tenant("acme"))) == expected("acme")  # and the table is still there
    SEEN["rows"][tenant] = []


def test_backslash_tenant_gets_no_token(stack: Stack) -> None:
    """``\\'`` is an escaped quote to MySQL: such an id never reaches a clause."""
    with pytest.raises(ValueError, match="backslash"):
        mint(stack, Tenant("x\\' OR 1=1 --"))


def _shape(stack: Stack, change: str) -> Any:
    """A claims hook for the profile's shape with one thing wrong: a claim left out, or the type."""

    def hook(tenant: Tenant, resource: str | None, req: Request) -> dict[str, Any]:
        claims = profile(stack)(tenant, resource, req)
        if change == "type":
            claims["type"] = "user"
        else:
            del claims[change]
        return claims

    return hook


ACME = Tenant("acme")
#: refusal -> (how to mint the token, what Superset logs about it)
REFUSALS = {
    "wrong key": (lambda s: mint(s, ACME, key="k" * 64), "Signature verification failed"),
    "expired": (lambda s: mint(s, ACME, ttl=10, clock=lambda: time.time() - 30), "Signature has expired"),
    "wrong aud": (
        lambda s: mint(s, ACME, claims=profile(s, audience="someone-else")),
        "Audience doesn't match",
    ),
    "wrong algorithm": (lambda s: mint(s, ACME, algorithm="HS512"), "The specified alg value is not allowed"),
    "no rls_rules": (
        lambda s: mint(s, ACME, claims=_shape(s, "rls_rules")),
        "does not contain an rls_rules claim",
    ),
    "no user": (lambda s: mint(s, ACME, claims=_shape(s, "user")), "does not contain a user claim"),
    "not a guest token": (lambda s: mint(s, ACME, claims=_shape(s, "type")), "This is not a guest token"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_are_401_and_logged_with_their_reason(stack: Stack, case: str) -> None:
    make, reason = REFUSALS[case]
    mark = stack.superset.log_size()
    status, body = chart_data(stack, make(stack))
    assert status == 401, body
    assert body == b'{"msg":"Missing Authorization Header"}\n'  # the same answer for every refusal
    time.sleep(0.2)  # the log line follows the answer
    logged = stack.superset.log_since(mark)
    assert "Invalid guest token" in logged and reason in logged, logged[-2000:]
    SEEN["refusals"][case] = {"status": status, "logged": _last_exception(logged)}


def test_token_for_another_dashboard_reads_nothing(stack: Stack) -> None:
    """A valid token for the "other" dashboard: Superset knows the guest, but not on this dashboard."""
    token = mint(stack, Tenant("acme"), resource="other")
    status, body = chart_data(stack, token)
    assert status == 403, body
    assert b"DATASOURCE_SECURITY_ACCESS_ERROR" in body and b"amount" not in body
    dashboard = stack.provisioned.dashboards["sales"]
    call = urllib.request.Request(
        f"{stack.superset.url}/api/v1/dashboard/{dashboard}", headers={"X-GuestToken": token}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(call, timeout=30)
    refused.value.close()
    SEEN["refusals"]["other dashboard"] = {"status": status, "dashboard_api": refused.value.code}
    assert refused.value.code in (403, 404)


def _last_exception(logged: str) -> str:
    found = re.findall(r"^(\w[\w.]*(?:Error|Exception)\w*: .*)$", logged, re.MULTILINE)
    return found[-1] if found else ""


def teardown_module() -> None:
    if SEEN["rows"] or SEEN["refusals"]:
        FIGURES.parent.mkdir(exist_ok=True)
        FIGURES.write_text(json.dumps(SEEN, indent=1))
