"""The verifier: every rejection reason with its status, every algorithm, rotation, tenants, JWKS, params."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import (
    ChartioProfile,
    ConfigurationError,
    GenericProfile,
    KeySet,
    MemoryRevocations,
    MetabaseProfile,
    RevocationStore,
    RevocationStoreError,
    SigningKey,
    Tenant,
    TenantKeys,
    TinybirdProfile,
    TokenIssuer,
    TokenRejected,
    Verifier,
    verify,
)
from embed_middleware.tokens import ClaimsHook
from embed_middleware.verify import REASONS, default_locked_params, default_scopes

SECRET = "verifier-test-secret-" + "v" * 43  # 64 bytes: long enough for HS512
OTHER_SECRET = "another-verifier-secret-" + "o" * 40
THIRD_SECRET = "a-third-verifier-secret-" + "t" * 40
#: Written out rather than read from REASONS, so a changed status fails here.
UNAUTHORIZED = ["missing_token", "malformed", "unknown_key", "algorithm_not_allowed"]
UNAUTHORIZED += ["invalid_signature", "expired", "not_yet_valid", "missing_claim", "invalid_audience"]
STATUS = dict.fromkeys([*UNAUTHORIZED, "invalid_issuer", "revoked"], 401)
STATUS |= {"out_of_scope": 403, "revocation_unavailable": 503}
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
PRIVATE: dict[str, Any] = {"RS256": RSA_KEY, "PS256": RSA_KEY, "ES256": EC_KEY, "EdDSA": ED_KEY}
ALL_ALGORITHMS = ["HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA"]
PEM = serialization.Encoding.PEM


def private_pem(key: Any) -> bytes:
    return bytes(key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def public_pem(key: Any) -> bytes:
    return bytes(key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def signing_key(algorithm: str, kid: str | None = None, *, public: bool = False) -> SigningKey:
    if algorithm.startswith("HS"):
        return SigningKey(SECRET, algorithm=algorithm, kid=kid)
    material = public_pem if public else private_pem
    return SigningKey(material(PRIVATE[algorithm]), algorithm=algorithm, kid=kid)


def mint(
    keys: SigningKey | KeySet | TenantKeys,
    tenant: str | Tenant = "acme",
    resource: str | None = "top",
    **options: Any,
) -> str:
    """A token from the real issuer (``options`` go to TokenIssuer: clock, ttl, claims)."""
    who = tenant if isinstance(tenant, Tenant) else Tenant(tenant)
    request = Request(EnvironBuilder("/page").get_environ())
    return TokenIssuer(keys, **options).issue(who, resource, request).token


def at(offset: float) -> Callable[[], float]:
    moment = time.time() + offset
    return lambda: moment


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: Mapping[str, Any], claims: Mapping[str, Any], secret: bytes | None = None) -> str:
    """A compact JWT built by hand: HMAC-SHA256 over it with ``secret``, or no signature at all."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b"" if secret is None else hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def fresh_claims(**extra: Any) -> dict[str, Any]:
    """Claims a token for acme's "top" carries; an ``extra`` of None drops that claim."""
    now = int(time.time())
    claims = {"sub": "acme", "tid": "acme", "resource": "top", "iat": now, "exp": now + 600, **extra}
    return {name: value for name, value in claims.items() if value is not None}


def rejection(verifier: Verifier, token: str | None, resource: str | None = "top") -> TokenRejected:
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(token, resource)
    return caught.value


def refused(verifier: Verifier, token: str | None, resource: str | None = "top") -> tuple[str, int]:
    """(reason, status) of the rejection; fails the test when the token is accepted."""
    error = rejection(verifier, token, resource)
    return error.reason, error.status


class BrokenStore(RevocationStore):
    """A revocation store that cannot be reached."""

    blocking = False

    def revoke(self, tenant_id: str, before: float | None = None) -> float:
        raise RevocationStoreError("store down")

    def cutoff(self, tenant_id: str) -> float | None:
        raise RevocationStoreError("store down")


# -- every reason, with its status ---------------------------------------------------------------

HS = SigningKey(SECRET)
K1, K2 = SigningKey(SECRET, kid="k1"), SigningKey(OTHER_SECRET, kid="k2")
Case = Callable[[], tuple[Verifier, str | None]]


def signed(**extra: Any) -> str:
    """``fresh_claims(**extra)`` signed by plain PyJWT with the shared secret."""
    return jwt.encode(fresh_claims(**extra), SECRET, "HS256")


def _tampered() -> str:
    header, _, signature = mint(HS).split(".")
    return f"{header}.{b64(json.dumps(fresh_claims(tid='globex')).encode())}.{signature}"


def _alg_confusion() -> tuple[Verifier, str]:
    """HS256 "signed" with the RSA public key's PEM as the HMAC secret: the classic confusion attack."""
    verifier = Verifier(signing_key("RS256", kid="rsa", public=True))
    return verifier, forge({"alg": "HS256", "typ": "JWT", "kid": "rsa"}, fresh_claims(), public_pem(RSA_KEY))


def _revoked() -> tuple[Verifier, str]:
    store = MemoryRevocations()
    token = mint(HS, clock=at(-60))
    store.revoke("acme", before=time.time() - 30)
    return Verifier(HS, revocations=store), token


#: (reason, case id, () -> (verifier, token)); every token is checked for the resource "top".
CASES: list[tuple[str, str, Case]] = [
    ("missing_token", "none", lambda: (Verifier(HS), None)),
    ("missing_token", "empty", lambda: (Verifier(HS), "")),
    ("malformed", "garbage", lambda: (Verifier(HS), "not a token at all")),
    ("malformed", "two-segments", lambda: (Verifier(HS), "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0")),
    ("malformed", "bad-base64", lambda: (Verifier(HS), "eyJ!!!.e30.sig")),
    ("malformed", "bad-payload-base64", lambda: (Verifier(HS), f"{mint(HS).split('.')[0]}.%%%.abc")),
    ("unknown_key", "kid-not-in-set", lambda: (Verifier(K1), mint(SigningKey(SECRET, kid="k3")))),
    ("unknown_key", "no-kid-multi-key-set", lambda: (Verifier(KeySet(K1, K2)), mint(HS))),
    # An unknown tenant reads exactly as a bad signature: no answer tells which tenants exist.
    ("invalid_signature", "unknown-tenant", lambda: (Verifier(TenantKeys({"acme": HS})), mint(HS, "globex"))),
    ("algorithm_not_allowed", "hs256-with-rsa-public-pem", _alg_confusion),
    ("algorithm_not_allowed", "allow-list", lambda: (Verifier(HS, algorithms=["RS256", "ES256"]), mint(HS))),
    ("algorithm_not_allowed", "alg-none", lambda: (Verifier(HS), forge({"alg": "none"}, fresh_claims()))),
    ("invalid_signature", "tampered-payload", lambda: (Verifier(HS), _tampered())),
    (
        "invalid_signature",
        "right-kid-wrong-secret",
        lambda: (Verifier(K1), mint(SigningKey(OTHER_SECRET, kid="k1"))),
    ),
    ("expired", "issuer-clock-in-past", lambda: (Verifier(HS), mint(HS, clock=at(-700), ttl=600))),
    ("not_yet_valid", "future-nbf", lambda: (Verifier(HS), signed(nbf=int(time.time()) + 120))),
    ("not_yet_valid", "future-iat", lambda: (Verifier(HS), mint(HS, clock=at(120)))),
    ("missing_claim", "no-iat-no-exp", lambda: (Verifier(HS), signed(iat=None, exp=None))),
    (
        "missing_claim",
        "no-tenant-to-revoke",
        lambda: (Verifier(HS, revocations=MemoryRevocations()), signed(tid=None)),
    ),
    (
        "invalid_audience",
        "other",
        lambda: (Verifier(HS, audience="x"), mint(HS, claims=GenericProfile(audience="y"))),
    ),
    (
        "invalid_issuer",
        "other",
        lambda: (Verifier(HS, expected_issuer="x"), mint(HS, claims=GenericProfile(issuer="y"))),
    ),
    ("out_of_scope", "resource-claim", lambda: (Verifier(HS), mint(HS, resource="other"))),
    (
        "out_of_scope",
        "tinybird-scopes",
        lambda: (Verifier(HS), mint(HS, "acme", "pipe", claims=TinybirdProfile("w"))),
    ),
    ("out_of_scope", "scope-string", lambda: (Verifier(HS), signed(resource=None, scope="a b"))),
    ("out_of_scope", "unscoped-by-default", lambda: (Verifier(HS), mint(HS, resource=None))),
    ("revoked", "issued-before-cutoff", _revoked),
    ("revocation_unavailable", "store-down", lambda: (Verifier(HS, revocations=BrokenStore()), mint(HS))),
]


def test_reasons_and_statuses_are_the_documented_ones() -> None:
    assert dict(REASONS) == STATUS
    assert {reason for reason, _, _ in CASES} == set(REASONS), "every reason has a case below"


@pytest.mark.parametrize(("reason", "build"), [pytest.param(r, b, id=f"{r}-{i}") for r, i, b in CASES])
def test_each_rejection_has_its_reason_and_status(reason: str, build: Case) -> None:
    verifier, token = build()
    error = rejection(verifier, token)
    assert (error.reason, error.status) == (reason, STATUS[reason])
    assert not token or token not in str(error), "a rejection never carries the token"


@pytest.mark.parametrize("header", [{"alg": "HS256", "kid": 7}, {"alg": "HS256", "crit": ["exp"]}])
def test_a_header_pyjwt_refuses_is_malformed_not_a_crash(header: dict[str, Any]) -> None:
    assert refused(Verifier(HS), forge(header, fresh_claims(), SECRET.encode())) == ("malformed", 401)


def test_the_same_tokens_pass_when_nothing_is_wrong() -> None:
    verified = Verifier(HS).verify(mint(HS), "top")
    assert (verified.tenant_id, verified.resource, verified.claims["sub"]) == ("acme", "top", "acme")
    assert Verifier(HS).verify(mint(HS, resource=None)).resource is None, (
        "no scope, no resource: nothing to check"
    )
    assert refused(Verifier(HS), mint(HS), None) == ("out_of_scope", 403), "scoped, and no resource named"
    assert Verifier(HS, unsafe_skip_scope_check=True).verify(mint(HS)).resource is None
    assert verify(mint(HS), HS, resource="top").tenant_id == "acme"
    token = jwt.encode(fresh_claims(resource=None, scope="a b"), SECRET, "HS256")
    assert Verifier(HS).verify(token, "b").claims["scope"] == "a b"
    tinybird = mint(HS, resource="pipe_a", claims=TinybirdProfile("ws"))
    assert Verifier(HS).verify(tinybird, "pipe_a").resource == "pipe_a"
    assert Verifier(HS, allow_unscoped=True).verify(mint(HS, resource=None), "top").tenant_id == "acme"
    profile = GenericProfile(issuer="https://host.example", audience="charts")
    Verifier(HS, audience="charts", expected_issuer="https://host.example").verify(
        mint(HS, claims=profile), "top"
    )


def test_leeway_stretches_a_just_expired_token() -> None:
    token = mint(HS, clock=at(-610), ttl=600)  # expired ten seconds ago
    assert Verifier(HS, leeway=30).verify(token, "top").tenant_id == "acme"
    assert refused(Verifier(HS, leeway=0), token) == ("expired", 401)


@pytest.mark.parametrize(
    "options", [{"leeway": 301}, {"leeway": -1}, {"algorithms": "HS256"}, {"algorithms": ["none"]}]
)
def test_bad_settings_fail_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Verifier(HS, **options)


# -- revocation ----------------------------------------------------------------------------------


def test_revoking_a_tenant_spares_later_tokens_and_other_tenants() -> None:
    store = MemoryRevocations()
    verifier = Verifier(HS, revocations=store)
    before = mint(HS, clock=at(-60))
    other = mint(HS, "globex", clock=at(-60))
    assert verifier.verify(before, "top").tenant_id == "acme", "nothing revoked yet"
    store.revoke("acme", before=time.time() - 30)
    assert refused(verifier, before) == ("revoked", 401)
    assert verifier.verify(mint(HS), "top").tenant_id == "acme", "issued after the cut-off"
    assert verifier.verify(other, "top").tenant_id == "globex"
    assert Verifier(HS).verify(before, "top").tenant_id == "acme", "no store: no revocation check"


def test_revocation_with_a_token_without_iat_is_refused_cleanly() -> None:
    store = MemoryRevocations()
    store.revoke("acme")
    token = signed(iat=None)
    assert refused(Verifier(HS, require=("exp",), revocations=store), token) in {
        ("missing_claim", 401),
        ("revoked", 401),
    }


# -- algorithms, rotation, tenants, JWKS ---------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALL_ALGORITHMS)
def test_every_algorithm_round_trips_and_decodes_with_plain_pyjwt(algorithm: str) -> None:
    key = signing_key(algorithm)
    token = mint(key)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == algorithm and header.get("kid") == key.kid
    verifier_key = signing_key(algorithm, public=True) if not key.symmetric else key
    assert verifier_key.kid == key.kid, "a public key's thumbprint kid matches its private key's"
    verified = Verifier(verifier_key).verify(token, "top")
    assert (verified.tenant_id, verified.key.algorithm) == ("acme", algorithm)
    plain_key = SECRET if key.symmetric else public_pem(PRIVATE[algorithm])
    assert jwt.decode(token, plain_key, algorithms=[algorithm])["sub"] == "acme"
    others = [a for a in ALL_ALGORITHMS if a != algorithm]
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, plain_key, algorithms=others)


def test_rotation_keeps_old_tokens_until_the_verifier_drops_the_old_key() -> None:
    old, new = SigningKey(SECRET, kid="2025-old"), SigningKey(OTHER_SECRET, kid="2026-new")
    t1 = mint(KeySet(old))
    t1_stale = mint(KeySet(old), clock=at(-700), ttl=600)
    rotated = KeySet(new, old)
    t2 = mint(rotated)
    assert jwt.get_unverified_header(t1)["kid"] == "2025-old"
    assert jwt.get_unverified_header(t2)["kid"] == "2026-new"
    both = Verifier(KeySet(new, old))
    assert both.verify(t1, "top").key.kid == "2025-old"
    assert both.verify(t2, "top").key.kid == "2026-new"
    assert refused(both, t1_stale) == ("expired", 401), "accepted only until expiry"
    only_new = Verifier(KeySet(new))
    assert only_new.verify(t2, "top").tenant_id == "acme"
    assert refused(only_new, t1) == ("unknown_key", 401)


def test_per_tenant_keys_isolate_tenants_and_rotate_one() -> None:
    ka, kb = SigningKey(SECRET), SigningKey(OTHER_SECRET)
    keys = TenantKeys({"a": ka, "b": kb})
    verifier = Verifier(keys)
    token_a, token_b = mint(keys, "a"), mint(keys, "b")
    assert verifier.verify(token_a, "top").tenant_id == "a"
    assert verifier.verify(token_b, "top").tenant_id == "b"
    forged = ka.encode(json.dumps(fresh_claims(tid="b")).encode())
    assert refused(verifier, forged) == ("invalid_signature", 401), "a's key never verifies for b"
    assert refused(verifier, signed(tid=None)) == ("missing_claim", 401)
    keys.rotate("a", SigningKey(THIRD_SECRET))
    assert refused(verifier, token_a) == ("invalid_signature", 401)
    assert verifier.verify(token_b, "top").tenant_id == "b"
    assert verifier.verify(mint(keys, "a"), "top").tenant_id == "a"


def test_jwks_verifies_issuer_tokens_and_public_keys_cannot_sign() -> None:
    issuer_keys = KeySet(
        signing_key("ES256", kid="es"),
        signing_key("RS256", kid="rs"),
        signing_key("PS256", kid="ps"),
        signing_key("EdDSA", kid="ed"),
        SigningKey(SECRET, kid="hs"),
    )
    document = issuer_keys.jwks()
    assert [jwk["kid"] for jwk in document["keys"]] == ["es", "rs", "ps", "ed"], "no shared secret"
    assert not any("d" in jwk for jwk in document["keys"]), "no private part"
    for source in (document, json.dumps(document)):
        verifier = Verifier(KeySet.from_jwks(source))
        for key in list(issuer_keys)[:4]:
            assert verifier.verify(mint(key), "top").key.kid == key.kid
        assert refused(verifier, mint(SigningKey(SECRET, kid="hs"))) == ("unknown_key", 401)
    with pytest.raises(ConfigurationError):
        TokenIssuer(KeySet.from_jwks(document))
    with pytest.raises(ConfigurationError):
        TokenIssuer(signing_key("ES256", public=True))
    with pytest.raises(ConfigurationError):
        TokenIssuer(public_pem(RSA_KEY), algorithm="RS256")


# -- scopes and locked parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"resource": "a"}, {"a"}),
        ({"scopes": [{"type": "PIPES:READ", "resource": "p"}, {"resource": "q"}]}, {"p", "q"}),
        ({"scopes": ["x", "y"]}, {"x", "y"}),
        ({"scope": "r1 r2"}, {"r1", "r2"}),
        ({"resource": {"dashboard": 3}}, set()),
        ({"sub": "acme"}, None),
    ],
)
def test_default_scopes(claims: dict[str, Any], expected: set[str] | None) -> None:
    assert default_scopes(claims) == (None if expected is None else frozenset(expected))


def _locked(claims: ClaimsHook, resource: str, tenant: Tenant | None = None) -> dict[str, Any]:
    """What a token minted with ``claims`` pins, read from plain claims and through the verifier."""
    token = mint(HS, tenant or "acme", resource, claims=claims)
    from_claims = default_locked_params(jwt.decode(token, SECRET, algorithms=["HS256"]), resource)
    granted = default_scopes(jwt.decode(token, SECRET, algorithms=["HS256"]))
    if granted is None or resource in granted:
        assert dict(Verifier(HS).verify(token, None if granted is None else resource).locked) == from_claims
    assert dict(Verifier(HS, unsafe_skip_scope_check=True).verify(token).locked) == from_claims
    return from_claims


def test_locked_params_from_each_profile() -> None:
    tinybird = TinybirdProfile("ws", fixed_params=lambda t, pipe, r: {"tenant": t.id, "region": ["eu", "us"]})
    assert _locked(tinybird, "pipe_a") == {"tenant": "acme", "region": ["eu", "us"]}
    token = mint(HS, resource="pipe_a", claims=tinybird)
    pinned = {"tenant": "acme", "region": ["eu", "us"]}
    assert default_locked_params(jwt.decode(token, SECRET, algorithms=["HS256"]), "pipe_b") == pinned, (
        "pinned whatever pipe is asked for"
    )
    chartio = ChartioProfile(7, dashboards={"sales": 11}, env=lambda t, r, q: {"REGION": "eu"})
    locked_tenant = Tenant("acme", locked_claims={"env": {"ACCT_ID": "acme"}})
    assert _locked(chartio, "sales", locked_tenant) == {"REGION": "eu", "ACCT_ID": "acme"}
    metabase = MetabaseProfile(dashboards={"sales": 3}, params=lambda t, r, q: {"tenant": t.id})
    assert _locked(metabase, "sales") == {"tenant": "acme"}
    assert _locked(GenericProfile(), "sales") == {}


def test_locked_params_are_the_union_of_every_source() -> None:
    claims = {
        "params": {"a": "params"},
        "env": {"b": "env"},
        "fixed_params": {"c": "fixed", "a": "params"},
        "scopes": [
            {"resource": "p", "fixed_params": {"d": "scope"}},
            {"resource": "q", "fixed_params": {"e": 1, "d": "scope"}},
        ],
    }
    union = {"a": "params", "b": "env", "c": "fixed", "d": "scope", "e": 1}
    assert default_locked_params(claims, "p") == default_locked_params(claims, None) == union
    assert default_locked_params({"scopes": "not a list"}, "p") == {}


@pytest.mark.parametrize(
    "claims",
    [
        {
            "scopes": [
                {"resource": "p", "fixed_params": {"org": "acme"}},
                {"resource": "q", "fixed_params": {"org": "x"}},
            ]
        },
        {"params": {"org": "acme"}, "env": {"org": "globex"}},
        {
            "fixed_params": {"tenant_id": "acme"},
            "scopes": [{"resource": "p", "fixed_params": {"Tenant_ID": "x"}}],
        },
        {"fixed_params": {"tenant_id": "acme", "TENANT_ID": "acme"}},
    ],
    ids=["two-scopes", "params-vs-env", "case-variant", "same-value-other-case"],
)
def test_conflicting_pins_make_the_token_unusable(claims: dict[str, Any]) -> None:
    with pytest.raises(TokenRejected) as raised:
        default_locked_params(claims, "p")
    assert (raised.value.reason, raised.value.status) == ("out_of_scope", 403)


def test_pins_that_are_not_an_object_are_malformed() -> None:
    with pytest.raises(TokenRejected) as raised:
        default_locked_params({"params": "not a mapping"}, "p")
    assert raised.value.reason == "malformed"


# -- one owner per rule ----------------------------------------------------------------------------


def test_a_token_claiming_to_live_longer_than_the_cap_is_refused() -> None:
    secret = "cap-test-secret-" + "z" * 40
    now = int(time.time())
    long_lived = jwt.encode({"tid": "acme", "iat": now, "exp": now + 86401}, secret, algorithm="HS256")
    with pytest.raises(TokenRejected) as refused:
        Verifier(secret, allow_unscoped=True).verify(long_lived)
    assert refused.value.reason == "expired"
    day = jwt.encode({"tid": "acme", "iat": now, "exp": now + 86400}, secret, algorithm="HS256")
    assert Verifier(secret, allow_unscoped=True).verify(day).tenant_id == "acme"
    with pytest.raises(TokenRejected):
        Verifier(secret, allow_unscoped=True, max_ttl=600).verify(day)  # a stricter cap of one's own


def test_issuer_is_a_deprecated_spelling_of_expected_issuer() -> None:
    token = mint(HS, claims=GenericProfile(issuer="https://host.example"))
    with pytest.warns(DeprecationWarning, match="expected_issuer"):
        old = Verifier(HS, issuer="https://host.example")
    assert old.expected_issuer == "https://host.example"
    assert old.verify(token, "top").tenant_id == "acme"
    with pytest.raises(TokenRejected, match="invalid_issuer"):
        Verifier(HS, expected_issuer="https://elsewhere").verify(token, "top")
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigurationError, match="expected_issuer"):
        Verifier(HS, issuer="a", expected_issuer="b")


def test_the_issuer_and_the_verifier_coerce_keys_with_one_function() -> None:
    from embed_middleware import key_sources, tokens
    from embed_middleware.verify import verifier

    assert tokens.coerce_keys is verifier.coerce_keys is key_sources.coerce_keys
    public = SigningKey(ec.generate_private_key(ec.SECP256R1()).public_key(), algorithm="ES256")
    assert key_sources.coerce_keys(public).active is public  # a verifier may hold a public key
    with pytest.raises(ConfigurationError, match="private key to sign"):
        key_sources.coerce_keys(public, signing=True)
    with pytest.raises(ConfigurationError, match="private key to sign"):
        TokenIssuer(public)
