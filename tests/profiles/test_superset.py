"""SupersetProfile alone: the guest-token shape, RLS clauses built from SQL literals, and bad settings.

``tests/system/interop`` proves the same tokens against a real Superset; these pin the shape and the
refusals without one, so they run everywhere.
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import ConfigurationError, SupersetProfile, Tenant, TokenIssuer
from embed_middleware.profiles import PROFILES
from embed_middleware.profiles.superset import sql_literal

KEY = "superset-profile-test-key-" + "k" * 38
SALES = "5e2ff9db-9213-4f72-8b58-ed4a0bcf25bc"
OTHER = "091cff2b-e2dc-4c58-8f15-df508d95b358"
AUD = "superset"


def request() -> Request:
    return Request(EnvironBuilder(path="/").get_environ())


def profile(**options: Any) -> SupersetProfile:
    settings: dict[str, Any] = {
        "dashboards": {"sales": SALES},
        "audience": AUD,
        "rls": "tenant_id = {tenant}",
    }
    return SupersetProfile(**{**settings, **options})


def issue(tenant: Tenant, resource: str = "sales", ttl: int = 60, **options: Any) -> dict[str, Any]:
    token = TokenIssuer(KEY, ttl=ttl, claims=profile(**options)).issue(tenant, resource, request()).token
    claims: dict[str, Any] = jwt.decode(token, KEY, algorithms=["HS256"], audience=AUD)
    return claims


def test_registered_and_exported() -> None:
    assert PROFILES["superset"] is SupersetProfile


def test_guest_token_shape() -> None:
    claims = issue(Tenant("acme"))
    assert claims["exp"] - claims["iat"] == 60
    # iat, exp, jti and the tenant claim are the issuer's; the rest is the profile's.
    assert {k: v for k, v in claims.items() if k not in {"iat", "exp", "jti", "tid"}} == {
        "user": {"username": "guest-acme", "first_name": "Guest", "last_name": "User"},
        "resources": [{"type": "dashboard", "id": SALES}],
        "rls_rules": [{"clause": "tenant_id = 'acme'"}],
        "aud": AUD,
        "type": "guest",
    }


def test_dashboards_are_the_allowlist_and_uuids_are_normalised() -> None:
    prof = profile(dashboards={"sales": SALES.upper(), "other": "{" + OTHER + "}"})
    assert prof.resources == {"sales", "other"}
    assert prof.dashboard_id("sales") == SALES and prof.dashboard_id("other") == OTHER
    assert TokenIssuer(KEY, ttl=60, claims=prof).resources == {"sales", "other"}
    for resource in (None, "nope"):
        with pytest.raises(ValueError, match="no dashboard"):
            prof(Tenant("acme"), resource, request())


@pytest.mark.parametrize(
    ("tenant", "literal"),
    [
        ("o'hare", "'o''hare'"),
        ("x' OR '1'='1", "'x'' OR ''1''=''1'"),
        ("x'; DROP TABLE sales; --", "'x''; DROP TABLE sales; --'"),
        ("*/ OR 1=1 /*", "'*/ OR 1=1 /*'"),
        ('say "hi"', "'say \"hi\"'"),
    ],
)
def test_hostile_tenant_ids_become_one_literal(tenant: str, literal: str) -> None:
    assert issue(Tenant(tenant))["rls_rules"] == [{"clause": f"tenant_id = {literal}"}]


@pytest.mark.parametrize("tenant", ["x\\' OR 1=1 --", "a\\b"])
def test_backslashes_are_refused(tenant: str) -> None:
    with pytest.raises(ValueError, match="backslash or a control character") as refused:
        profile()(Tenant(tenant), "sales", request())
    assert tenant not in str(refused.value)  # the value is never in the message


def test_control_characters_from_rls_values_are_refused() -> None:
    prof = profile(rls="tenant_id = {tenant} AND r = {r}", rls_values=lambda t, res, req: {"r": "a\nb"})
    with pytest.raises(ValueError, match="control character"):
        prof(Tenant("acme"), "sales", request())


def test_sql_literals() -> None:
    assert sql_literal(7, "v") == "7"
    assert sql_literal(["a", "b'c", 3], "v") == "('a', 'b''c', 3)"
    for bad in (True, None, 1.5, [], [["a"]], "x" * 257, {"a": 1}):
        with pytest.raises(ValueError):
            sql_literal(bad, "v")


def test_rls_values_and_per_dataset_rules() -> None:
    def values(tenant: Tenant, resource: str | None, req: Request) -> dict[str, object]:
        return {"regions": ["North", "o'South"], "tenant": "someone-else"}

    rules = issue(
        Tenant("acme"),
        rls={3: "tenant_id = {tenant} AND region IN {regions}", 4: "org = {tenant}"},
        rls_values=values,
    )["rls_rules"]
    assert rules == [
        {"clause": "tenant_id = 'acme' AND region IN ('North', 'o''South')", "dataset": 3},
        {"clause": "org = 'acme'", "dataset": 4},
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rls": "tenant_id = '{tenant}'"}, "without quotes"),
        ({"rls": 'tenant_id = "{tenant}"'}, "without quotes"),
        ({"rls": "1 = 1"}, "names no field"),
        ({"rls": "tenant_id = {tenant!r}"}, "without format or conversion"),
        ({"rls": "tenant_id = {tenant:>10}"}, "without format or conversion"),
        ({"rls": "tenant_id = {tenant"}, "literal brace"),
        ({"rls": "region = {region}"}, "pass rls_values"),
        ({"rls": {"3": "t = {tenant}"}}, "dataset's integer id"),
        ({"rls": {}}, "clause template"),
        ({"rls": ""}, "SQL condition"),
        ({"dashboards": {"sales": 12}}, "uuid"),
        ({"dashboards": {"sales": "not-a-uuid"}}, "uuid"),
        ({"dashboards": {}}, "embedded dashboard uuids"),
        ({"audience": ""}, "GUEST_TOKEN_JWT_AUDIENCE"),
        ({"max_ttl": 5}, "at least 10"),
        ({"rls_values": "nope"}, "callable"),
    ],
)
def test_bad_settings_fail_at_start_up(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        profile(**options)


def test_ttl_is_capped_at_start_up_and_floored_per_token() -> None:
    with pytest.raises(ConfigurationError, match="longer than superset allows"):
        TokenIssuer(KEY, ttl=301, claims=profile())
    TokenIssuer(KEY, ttl=600, claims=profile(max_ttl=600))
    with pytest.raises(ValueError, match="at least 10 s"):
        issue(Tenant("acme"), ttl=9)


def test_no_rule_means_no_token_unless_rls_is_none() -> None:
    """An empty ``rls_rules`` reads every row in Superset: a tenant's locked claims cannot empty it."""
    with pytest.raises(ValueError, match="non-empty when the profile has rls"):
        issue(Tenant("acme", locked_claims={"rls_rules": []}))
    assert issue(Tenant("acme"), rls=None)["rls_rules"] == []


@pytest.mark.parametrize(
    "locked",
    [
        {"resources": [{"type": "dashboard", "id": OTHER}]},
        {"aud": "someone-else"},
        {"type": "user"},
        {"user": {"username": "x", "email": "x@example.com"}},
        {"rls_rules": [{"clause": "1 = 1", "dataset": "three"}]},
        {"rls_rules": [{"clause": ""}]},
    ],
)
def test_locked_claims_cannot_break_the_shape(locked: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="superset:"):
        issue(Tenant("acme", locked_claims=locked))


def test_extra_claims_pass_through() -> None:
    assert issue(Tenant("acme", locked_claims={"tid": "acme"}))["tid"] == "acme"
