"""Issuing for a fleet: per-tenant keys, rotation, the audit hook and the JWKS path, through both adapters."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import (
    ChartioProfile,
    ConfigurationError,
    GenericProfile,
    IssueEvent,
    KeySet,
    SigningKey,
    Tenant,
    TenantKeys,
    TokenIssuer,
    TokenRejected,
    Verifier,
)
from tests.support.parity import SERVERS, Case

ACME_KEY = SigningKey("a" * 48, kid="acme-1")
GLOBEX_KEY = SigningKey("g" * 48, kid="globex-1")
TOKEN = re.compile(rb"[\w-]+\.[\w-]+\.[\w-]+")


def request() -> Request:
    return Request(EnvironBuilder("/").get_environ())


@pytest.fixture(scope="module")
def es_key() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")


# -- per-tenant keys -----------------------------------------------------------------------------


def test_each_tenant_signs_with_its_own_key() -> None:
    keys = TenantKeys({"acme": ACME_KEY, "globex": GLOBEX_KEY})
    issuer = TokenIssuer(keys)
    acme = issuer.issue(Tenant("acme"), None, request())
    globex = issuer.issue(Tenant("globex"), None, request())
    assert jwt.decode(acme.token, "a" * 48, algorithms=["HS256"])["sub"] == "acme"
    assert jwt.decode(globex.token, "g" * 48, algorithms=["HS256"])["sub"] == "globex"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(acme.token, "g" * 48, algorithms=["HS256"])
    assert (acme.kid, globex.kid) == ("acme-1", "globex-1")
    assert issuer.algorithm == "per-tenant"


def test_a_tenant_without_a_key_gets_no_token() -> None:
    issuer = TokenIssuer(TenantKeys({"acme": ACME_KEY}))
    with pytest.raises(Exception, match="no signing key for tenant 'initech'"):
        issuer.issue(Tenant("initech"), None, request())


def test_tenant_claim_is_pinned_to_the_signing_tenant() -> None:
    keys = TenantKeys({"acme": ACME_KEY}, tenant_claim="org")
    token = TokenIssuer(keys).issue(Tenant("acme"), None, request()).token
    assert jwt.decode(token, "a" * 48, algorithms=["HS256"])["org"] == "acme"
    # A claims hook (or tenant claims) naming another tenant would let a verifier pick the wrong key.
    lying = TokenIssuer(keys, claims=lambda tenant, resource, req: {"org": "globex"})
    with pytest.raises(Exception, match="claim 'org' names 'globex'"):
        lying.issue(Tenant("acme"), None, request())


def test_revoking_one_tenant_by_rotation_leaves_the_others_alone() -> None:
    keys = TenantKeys({"acme": ACME_KEY, "globex": GLOBEX_KEY})
    issuer, verifier = TokenIssuer(keys), Verifier(keys)
    acme_old = issuer.issue(Tenant("acme"), None, request()).token
    globex_old = issuer.issue(Tenant("globex"), None, request()).token
    keys.rotate("acme", SigningKey("n" * 48, kid="acme-2"))
    with pytest.raises(TokenRejected) as raised:
        verifier.verify(acme_old)
    assert raised.value.reason == "invalid_signature", "per tenant, a stale kid reads as a bad signature"
    assert verifier.verify(globex_old).tenant_id == "globex"
    acme_new = issuer.issue(Tenant("acme"), None, request())
    assert acme_new.kid == "acme-2" and verifier.verify(acme_new.token).tenant_id == "acme"


def test_tenant_keys_from_a_lookup() -> None:
    seen: list[str] = []

    def lookup(tenant_id: str) -> SigningKey | None:
        seen.append(tenant_id)
        return ACME_KEY if tenant_id == "acme" else None

    keys = TenantKeys(lookup)
    token = TokenIssuer(keys).issue(Tenant("acme"), None, request()).token
    assert Verifier(keys).verify(token).tenant_id == "acme"
    assert seen == ["acme", "acme"]
    with pytest.raises(ConfigurationError, match="rotate"):
        keys.rotate("acme", GLOBEX_KEY)
    with pytest.raises(ConfigurationError, match="SigningKey or KeySet"):
        TenantKeys({"acme": "a" * 48})  # type: ignore[dict-item]


# -- rotation ----------------------------------------------------------------------------------


def test_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_kid() -> None:
    old, new = SigningKey("o" * 48, kid="2026-10"), SigningKey("n" * 48, kid="2026-11")
    before = TokenIssuer(KeySet(old)).issue(Tenant("acme"), None, request())
    after = TokenIssuer(KeySet(new, old)).issue(Tenant("acme"), None, request())
    verifier = Verifier(KeySet(new, old))
    assert verifier.verify(before.token).key.kid == "2026-10"
    assert verifier.verify(after.token).key.kid == "2026-11"
    assert jwt.get_unverified_header(after.token)["kid"] == "2026-11"


# -- the audit hook ------------------------------------------------------------------------------


def test_on_issue_hears_every_token_but_never_the_token(caplog: pytest.LogCaptureFixture) -> None:
    audit = logging.getLogger("test.audit")
    events: list[IssueEvent] = []

    def on_issue(event: IssueEvent) -> None:
        events.append(event)
        audit.info(
            "embed issued tenant=%s resource=%s kid=%s jti=%s",
            event.tenant.id,
            event.resource,
            event.kid,
            event.jti,
        )

    issuer = TokenIssuer(KeySet(ACME_KEY), on_issue=on_issue, clock=lambda: 1_700_000_000.5)
    with caplog.at_level(logging.INFO, logger="test.audit"):
        issued = issuer.issue(Tenant("acme"), "sales", request())
    (event,) = events
    assert (event.tenant.id, event.resource, event.kid, event.jti) == ("acme", "sales", "acme-1", issued.jti)
    assert (event.algorithm, event.issued_at, event.expires_at) == ("HS256", 1_700_000_000, 1_700_000_600)
    assert issued.token not in repr(event) and issued.token not in caplog.text
    assert f"jti={issued.jti}" in caplog.text


def test_a_failing_audit_hook_means_no_token_is_delivered() -> None:
    def broken(event: IssueEvent) -> None:
        raise RuntimeError("audit log unavailable")

    issuer = TokenIssuer(KeySet(ACME_KEY), on_issue=broken, resources=["sales"], allow_unscoped=True)
    case = Case("audit-fails", options={"issuer": issuer})
    for serve in SERVERS.values():
        result = serve(case)
        assert result.status == 500
        assert not TOKEN.search(result.body)


def test_on_issue_counts_embeds_per_tenant_and_resource_through_both_adapters() -> None:
    counts: dict[tuple[str, str | None], int] = {}

    def count(event: IssueEvent) -> None:
        counts[(event.tenant.id, event.resource)] = counts.get((event.tenant.id, event.resource), 0) + 1

    issuer = TokenIssuer(KeySet(ACME_KEY), on_issue=count, resources=["sales", "ops"])
    case = Case(
        "count",
        chunks=(b"<JWT_TOKEN:sales> <JWT_TOKEN:sales> <JWT_TOKEN:ops>",),
        options={"issuer": issuer},
        # Users' copies of the same placeholders (no nonce) mint nothing, so they count for nothing.
        user_text=b" <JWT_TOKEN:sales> <JWT_TOKEN:ops> <JWT_TOKEN:traffic>",
    )
    for serve in SERVERS.values():
        assert serve(case).status == 200
    # One token per resource per page (the second sales placeholder reuses the first token).
    assert counts == {("acme", "sales"): 2, ("acme", "ops"): 2}


# -- JWKS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", sorted(SERVERS))
def test_jwks_path_serves_the_public_keys(adapter: str, es_key: SigningKey) -> None:
    old = SigningKey(ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    issuer = TokenIssuer(KeySet(es_key, old), resources=["sales"])
    case = Case(
        "jwks",
        path="/.well-known/jwks.json",
        options={"issuer": issuer, "jwks_path": "/.well-known/jwks.json"},
    )
    result = SERVERS[adapter](case)
    assert result.status == 200
    assert result.header("content-type") == "application/jwk-set+json"
    assert result.header("cache-control") == "public, max-age=300"
    document: dict[str, Any] = json.loads(result.body)
    assert [key["kid"] for key in document["keys"]] == [es_key.kid, old.kid]
    token = issuer.issue(Tenant("acme"), None, request()).token
    assert Verifier(KeySet.from_jwks(document)).verify(token).tenant_id == "acme"
    head = SERVERS[adapter](Case("jwks-head", method="HEAD", path=case.path, options=case.options))
    assert head.status == 200 and head.body == b""


def test_jwks_path_refuses_a_shared_secret_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="shared secret"):
        SERVERS["wsgi"](Case("x", options={"issuer": TokenIssuer(KeySet(ACME_KEY)), "jwks_path": "/jwks"}))
    with pytest.raises(ConfigurationError, match="path starting with '/'"):
        SERVERS["asgi"](Case("x", options={"jwks_path": "jwks"}))


# -- profiles through the issuer ---------------------------------------------------------------------


def test_profile_ttl_cap_is_checked_at_start_up() -> None:
    class ShortLived(GenericProfile):
        max_ttl = 300

    with pytest.raises(ConfigurationError, match="longer than generic allows"):
        TokenIssuer(KeySet(ACME_KEY), ttl=600, claims=ShortLived())


def test_generic_profile_gets_nbf_equal_to_iat_from_the_issuer() -> None:
    issuer = TokenIssuer(KeySet(ACME_KEY), claims=GenericProfile(issuer="host", audience="charts"))
    token = issuer.issue(Tenant("acme"), "sales", request()).token
    claims = jwt.decode(token, "a" * 48, algorithms=["HS256"], audience="charts")
    assert claims["nbf"] == claims["iat"] and claims["iss"] == "host" and claims["sub"] == "acme"


def test_a_profile_limit_broken_by_tenant_claims_means_no_token() -> None:
    profile = ChartioProfile(16417, dashboards={"sales": 7})
    # The tenant's locked claims win over the profile's, and here they break Chartio's id type.
    tenant = Tenant("acme", locked_claims={"dashboard": "seven"})
    with pytest.raises(ValueError, match="dashboard"):
        TokenIssuer(KeySet(ACME_KEY), claims=profile).issue(tenant, "sales", request())
    case = Case(
        "chartio-limit",
        chunks=(b"<JWT_TOKEN:sales>",),
        tenant=tenant,
        options={"issuer": TokenIssuer(KeySet(ACME_KEY), claims=profile)},
    )
    for serve in SERVERS.values():
        result = serve(case)
        assert result.status == 500 and not TOKEN.search(result.body)


def test_url_budget_warns_once_per_tenant_and_resource(caplog: pytest.LogCaptureFixture) -> None:
    profile = ChartioProfile(16417, dashboards={"sales": 7}, url_budget=100)
    issuer = TokenIssuer(KeySet(ACME_KEY), claims=profile)
    with caplog.at_level(logging.WARNING, logger="embed_middleware"):
        tokens = [issuer.issue(Tenant("acme"), "sales", request()).token for _ in range(3)]
        issuer.issue(Tenant("globex"), "sales", request())
    warnings = [r.getMessage() for r in caplog.records if "budget" in r.getMessage()]
    assert len(warnings) == 2, warnings
    assert "chartio embed URL for tenant 'acme', resource 'sales'" in warnings[0]
    assert f"is {profile.url_length(tokens[0])} characters, over the 100 budget" in warnings[0]
    assert not any(token in caplog.text for token in tokens)
