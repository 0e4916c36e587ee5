"""Token reuse (issue 15): the cross-tenant attacks on the cache first, then windows, revocation,
rotation, fleets and the shared cache. A fake clock in the recent past drives the windows, so the
tokens still verify with PyJWT's real clock."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import (
    ChartioProfile,
    ConfigurationError,
    IssueEvent,
    MemoryRevocations,
    SigningKey,
    Tenant,
    TenantKeys,
    TokenIssuer,
    TokenRejected,
    TokenReuse,
    Verifier,
)
from embed_middleware import reuse as reuse_module
from tests.support.tokens import decode_token

SECRET = "s" * 48
TTL = 3600
WINDOW = 60
#: A window start ten windows ago: every instant the tests use is in the past, every token unexpired.
START = (int(time.time()) // WINDOW - 10) * WINDOW


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now


def request(path: str = "/") -> Request:
    return Request(EnvironBuilder(path).get_environ())


def shared_claims(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
    """The same claims for every tenant: only what the issuer adds tells tenants apart."""
    return {"resource": resource, "env": dict(request.args)}


def issuer(key: Any = SECRET, *, clock: Clock, **options: Any) -> TokenIssuer:
    options.setdefault("reuse", TokenReuse(window=WINDOW))
    options.setdefault("claims", shared_claims)
    return TokenIssuer(key, ttl=TTL, clock=clock, resources=["sales", "ops"], **options)


def claims_of(token: str, key: Any = SECRET, algorithm: str = "HS256") -> dict[str, Any]:
    return decode_token(token, key, algorithm)


# -- attacks: the cache must never hand one tenant's token to another ----------------------------


def leaks(issuer: TokenIssuer, tenants: list[Tenant], resources: list[str], paths: list[str]) -> list[str]:
    """Every (tenant, resource, request) whose token names another tenant, resource or filter."""
    found = []
    for _ in range(2):  # the second round is served from the cache
        for tenant in tenants:
            for resource in resources:
                for path in paths:
                    wanted = request(path)
                    claims = claims_of(issuer.issue(tenant, resource, wanted).token)
                    expected = {"tid": tenant.id, "resource": resource, "env": dict(wanted.args)}
                    if any(claims.get(name) != value for name, value in expected.items()):
                        found.append(f"{tenant.id}/{resource}{path} got {claims}")
                    if tenant.locked_claims and claims.get("org") != tenant.locked_claims["org"]:
                        found.append(f"{tenant.id} got org {claims.get('org')}")
    return found


ATTACK_TENANTS = [
    Tenant("acme", locked_claims={"org": "acme-org"}),
    Tenant("globex", locked_claims={"org": "globex-org"}),
    Tenant("a|b"),  # ids and names built to collide in a key joined by a separator
    Tenant("a"),
]
ATTACK_PATHS = ["/", "/?env=prod", "/?env=staging", "/?env=prod|x"]


def test_tenants_with_identical_hook_claims_never_share_a_token() -> None:
    """The hook returns the same claims for everyone; the cache must key on the final claims."""
    clock = Clock(START + 5)
    assert leaks(issuer(clock=clock), ATTACK_TENANTS, ["sales", "ops"], ATTACK_PATHS) == []


def test_the_attack_catches_a_cache_keyed_on_less_than_the_final_claims(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The attack has teeth: a cache keyed on the resource alone (claims ignored) leaks at once."""
    naive = issuer(clock=Clock(START + 5))
    assert naive.reuse is not None
    honest_slot = naive.reuse.slot

    def keyed_on_resource_only(
        key: SigningKey, tenant_id: str, resource: str | None, claims: Any, now: float
    ) -> Any:
        return honest_slot(key, "anyone", resource, {}, now)

    monkeypatch.setattr(naive.reuse, "slot", keyed_on_resource_only)
    assert leaks(naive, ATTACK_TENANTS, ["sales"], ["/"])


def test_a_changed_claim_is_a_different_token() -> None:
    issuing = issuer(clock=Clock(START + 5))
    tenant = Tenant("acme")
    prod = issuing.issue(tenant, "sales", request("/?env=prod"))
    staging = issuing.issue(tenant, "sales", request("/?env=staging"))
    assert prod.token != staging.token and prod.jti != staging.jti
    assert issuing.issue(tenant, "sales", request("/?env=prod")).token == prod.token


def test_tenants_with_their_own_keys_never_share_a_token() -> None:
    keys = TenantKeys({"acme": SigningKey("a" * 48), "globex": SigningKey("g" * 48)})
    issuing = issuer(keys, clock=Clock(START + 5))
    acme = issuing.issue(Tenant("acme"), "sales", request())
    globex = issuing.issue(Tenant("globex"), "sales", request())
    assert claims_of(acme.token, "a" * 48)["tid"] == "acme"
    assert claims_of(globex.token, "g" * 48)["tid"] == "globex"


def test_a_poisoned_shared_cache_cannot_hand_over_another_tenants_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Someone who can write the shared store puts globex's token under acme's name: acme still gets
    acme's own token, and the log says so without the token."""

    class Store(dict[str, str]):
        def add(self, name: str, token: str, ttl: int) -> str:
            return self.setdefault(name, token)

    store = Store()
    clock = Clock(START + 5)
    settings = TokenReuse(window=WINDOW, shared=store)
    stolen = issuer(clock=clock, reuse=settings).issue(Tenant("globex"), "sales", request()).token
    issuer(clock=clock, reuse=settings).issue(Tenant("acme"), "sales", request())
    for name in store:
        store[name] = stolen
    victim = issuer(clock=clock, reuse=settings)
    with caplog.at_level(logging.WARNING, logger="embed_middleware"):
        got = victim.issue(Tenant("acme"), "sales", request()).token
    assert claims_of(got)["tid"] == "acme"
    assert "did not sign for these claims" in caplog.text and stolen not in caplog.text


# -- windows -------------------------------------------------------------------------------------


def test_off_by_default_every_response_gets_a_fresh_token() -> None:
    fresh = TokenIssuer(SECRET, ttl=TTL, clock=Clock(START), resources=["sales"])
    assert fresh.reuse is None
    tokens = {fresh.issue(Tenant("acme"), "sales", request()).token for _ in range(3)}
    assert len(tokens) == 3


def test_tokens_repeat_within_a_window_and_change_across_windows() -> None:
    clock = Clock(START)
    issuing = issuer(clock=clock)
    first = issuing.issue(Tenant("acme"), "sales", request())
    clock.now = START + WINDOW - 0.001
    assert issuing.issue(Tenant("acme"), "sales", request()) == first
    clock.now = START + WINDOW
    second = issuing.issue(Tenant("acme"), "sales", request())
    assert second.token != first.token and second.jti != first.jti
    assert (first.issued_at, first.expires_at) == (START, START + TTL)
    assert (second.issued_at, second.expires_at) == (START + WINDOW, START + WINDOW + TTL)
    claims = claims_of(first.token)
    assert (claims["iat"], claims["exp"], claims["jti"]) == (START, START + TTL, first.jti)
    assert len(first.jti) == 22


def test_a_token_served_late_in_its_window_still_has_half_its_life() -> None:
    clock = Clock(START + WINDOW - 1)
    issued = issuer(clock=clock).issue(Tenant("acme"), "sales", request())
    assert issued.expires_at - clock.now >= TTL - WINDOW >= TTL / 2


def test_a_window_longer_than_half_the_ttl_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="half the ttl"):
        TokenIssuer(SECRET, ttl=600, reuse=301, resources=["sales"])
    assert TokenIssuer(SECRET, ttl=600, reuse=300, resources=["sales"]).reuse is not None
    for bad in (0, -1, True, 1.5, "300"):
        with pytest.raises(ConfigurationError):
            TokenIssuer(SECRET, ttl=600, reuse=bad, resources=["sales"])


def test_the_cache_is_bounded() -> None:
    issuing = issuer(clock=Clock(START), reuse=TokenReuse(window=WINDOW, max_entries=3))
    for index in range(10):
        issuing.issue(Tenant(f"t{index}"), "sales", request())
    assert len(issuing.reuse) == 3  # type: ignore[arg-type]


def test_on_issue_tells_a_reused_token_from_a_minted_one() -> None:
    events: list[IssueEvent] = []
    issuing = issuer(clock=Clock(START), on_issue=events.append)
    for _ in range(3):
        issuing.issue(Tenant("acme"), "sales", request())
    assert [event.reused for event in events] == [False, True, True]
    assert len({event.jti for event in events}) == 1


def test_a_profile_can_turn_reuse_on() -> None:
    profile = ChartioProfile(organization=1, dashboards={"sales": 7})
    profile.reuse = TokenReuse(window=WINDOW)
    issuing = TokenIssuer(SECRET, ttl=TTL, claims=profile, clock=Clock(START + 3))
    first = issuing.issue(Tenant("acme"), "sales", request())
    assert issuing.issue(Tenant("acme"), "sales", request()).token == first.token
    assert TokenIssuer(SECRET, ttl=TTL, claims=profile, reuse=None).reuse is not None
    assert first.issued_at == START


# -- revocation and rotation ---------------------------------------------------------------------


def test_a_revocation_inside_the_window_starts_a_new_one() -> None:
    clock = Clock(START + 5)
    store = MemoryRevocations(clock=clock)
    verifier = Verifier(SECRET, revocations=store)
    issuing = issuer(clock=clock, reuse=TokenReuse(window=WINDOW, revocations=store))
    before = issuing.issue(Tenant("acme"), "sales", request())
    other = issuing.issue(Tenant("globex"), "sales", request())
    clock.now = START + 10.5
    store.revoke("acme")
    with pytest.raises(TokenRejected, match="revoked"):
        verifier.verify(before.token, "sales")
    # In the cut-off's own second no token can be dated after it (nor in the future): refused, as fresh.
    same_second = issuing.issue(Tenant("acme"), "sales", request())
    assert same_second.token != before.token
    clock.now = START + 11.2
    after = issuing.issue(Tenant("acme"), "sales", request())
    assert after.token not in (before.token, same_second.token)
    assert after.issued_at == math.ceil(START + 10.5)
    verifier.verify(after.token, "sales")
    clock.now = START + WINDOW - 1
    assert issuing.issue(Tenant("acme"), "sales", request()).token == after.token
    assert issuing.issue(Tenant("globex"), "sales", request()).token == other.token  # others untouched


def test_without_the_store_a_revoked_token_is_still_refused_by_the_verifier() -> None:
    """Reuse without ``revocations=`` cannot defeat revocation: the verifier refuses the reused token
    (the tenant's embeds stay broken until the next window, which is why the store should be passed)."""
    clock = Clock(START + 5)
    store = MemoryRevocations(clock=clock)
    issuing = issuer(clock=clock)
    token = issuing.issue(Tenant("acme"), "sales", request()).token
    clock.now = START + 20
    store.revoke("acme")
    assert issuing.issue(Tenant("acme"), "sales", request()).token == token
    with pytest.raises(TokenRejected, match="revoked"):
        Verifier(SECRET, revocations=store).verify(token, "sales")


def test_a_rotation_signs_with_the_new_key_at_once_even_under_the_same_kid() -> None:
    keys = TenantKeys({"acme": SigningKey("a" * 48)})
    clock = Clock(START + 5)
    issuing = issuer(keys, clock=clock)
    old = issuing.issue(Tenant("acme"), "sales", request())
    keys.rotate("acme", SigningKey("n" * 48))  # no kid before, none after
    new = issuing.issue(Tenant("acme"), "sales", request())
    assert new.token != old.token and new.jti != old.jti
    assert claims_of(new.token, "n" * 48)["tid"] == "acme"
    with pytest.raises(jwt.InvalidSignatureError):
        claims_of(new.token, "a" * 48)


# -- fleets --------------------------------------------------------------------------------------


def _key(algorithm: str) -> SigningKey:
    material = {
        "HS256": SECRET,
        "RS256": rsa.generate_private_key(65537, 2048),
        "PS256": rsa.generate_private_key(65537, 2048),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
    }[algorithm]
    return SigningKey(material, algorithm=algorithm)


@pytest.mark.parametrize("algorithm", ["HS256", "RS256", "EdDSA"])
def test_deterministic_algorithms_give_two_issuers_byte_identical_tokens(algorithm: str) -> None:
    key = _key(algorithm)
    clock = Clock(START + 7)
    one, two = (issuer(key, clock=clock) for _ in range(2))
    assert (
        one.issue(Tenant("acme"), "sales", request()).token
        == two.issue(Tenant("acme"), "sales", request()).token
    )
    assert algorithm in reuse_module.DETERMINISTIC_ALGORITHMS


@pytest.mark.parametrize("algorithm", ["ES256", "PS256"])
def test_randomised_algorithms_agree_only_through_a_shared_cache(algorithm: str) -> None:
    class Shared(dict[str, str]):
        def add(self, name: str, token: str, ttl: int) -> str:
            assert 1 <= ttl <= WINDOW
            return self.setdefault(name, token)

    key = _key(algorithm)
    clock = Clock(START + 7)
    alone = [issuer(key, clock=clock).issue(Tenant("acme"), "sales", request()).token for _ in range(2)]
    assert alone[0] != alone[1]
    store = Shared()
    shared = [
        issuer(key, clock=clock, reuse=TokenReuse(window=WINDOW, shared=store))
        .issue(Tenant("acme"), "sales", request())
        .token
        for _ in range(2)
    ]
    assert shared[0] == shared[1] and len(store) == 1
    assert algorithm not in reuse_module.DETERMINISTIC_ALGORITHMS


def test_a_failing_shared_cache_degrades_to_local_mints(caplog: pytest.LogCaptureFixture) -> None:
    class Down:
        def get(self, name: str) -> str | None:
            raise ConnectionError("redis://:hunter2@cache down")

        def add(self, name: str, token: str, ttl: int) -> str:
            raise AssertionError("not reached")

    issuing = issuer(clock=Clock(START), reuse=TokenReuse(window=WINDOW, shared=Down()))
    with caplog.at_level(logging.WARNING, logger="embed_middleware"):
        token = issuing.issue(Tenant("acme"), "sales", request()).token
    assert claims_of(token)["tid"] == "acme"
    assert "ConnectionError" in caplog.text and "hunter2" not in caplog.text


def test_jti_is_not_the_claims_in_disguise() -> None:
    issued = issuer(clock=Clock(START)).issue(Tenant("acme"), "sales", request())
    assert "acme" not in issued.jti and "sales" not in issued.jti
    other_key = issuer("k" * 48, clock=Clock(START)).issue(Tenant("acme"), "sales", request())
    assert other_key.jti != issued.jti  # derived under the key: not computable without it
