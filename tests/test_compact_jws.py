"""Our compact serialisation (keys.SigningKey.encode) against PyJWT: every token decodes with plain
``jwt.decode``, for every algorithm and every issuer option, and matches what ``jwt.encode`` writes."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from embed_middleware import ConfigurationError, KeySet, SigningKey, Tenant, TenantKeys, TokenIssuer

SECRET = "compact-jws-test-secret-" + "c" * 40  # 64 bytes: enough for HS512
ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA")


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    private: dict[str, Any] = {
        "RS256": rsa.generate_private_key(65537, 2048),
        "PS256": rsa.generate_private_key(65537, 2048),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }
    made = {name: SigningKey(SECRET, algorithm=name) for name in ("HS256", "HS384", "HS512")}
    made.update({name: SigningKey(key, algorithm=name) for name, key in private.items()})
    return made


def plain_decode(token: str, key: SigningKey, **options: Any) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, key.verifying_key, algorithms=[key.algorithm], **options)
    return decoded


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_decodes_with_plain_pyjwt(keys: dict[str, SigningKey], algorithm: str) -> None:
    key = keys[algorithm]
    issued = TokenIssuer(key).issue("acme", "top")
    claims = plain_decode(issued.token, key)
    assert (claims["sub"], claims["tid"], claims["resource"]) == ("acme", "acme", "top")
    header = jwt.get_unverified_header(issued.token)
    assert header == {"alg": algorithm, "typ": "JWT", **({"kid": key.kid} if key.kid else {})}


@pytest.mark.parametrize("algorithm", ["HS256", "HS512", "RS256", "EdDSA"])
def test_the_token_is_byte_for_byte_what_pyjwt_writes(keys: dict[str, SigningKey], algorithm: str) -> None:
    """Deterministic signatures (HMAC, PKCS#1 v1.5, Ed25519) make the whole token comparable."""
    key = keys[algorithm]
    payload = {"sub": "acme", "n": [1, 2], "s": "é"}
    ours = key.encode(json.dumps(payload, separators=(",", ":")).encode())
    signing = SECRET if key.symmetric else key._signing  # the private key object
    headers = {"kid": key.kid} if key.kid else None
    assert ours == jwt.encode(payload, signing, algorithm=algorithm, headers=headers)


def test_kid_rotation_and_per_tenant_keys_decode_with_plain_pyjwt(keys: dict[str, SigningKey]) -> None:
    new, old = SigningKey(SECRET, kid="2026-11"), SigningKey("o" * 48, kid="2026-10")
    token = TokenIssuer(KeySet(new, old)).issue("acme").token
    assert jwt.get_unverified_header(token)["kid"] == "2026-11"
    assert plain_decode(token, new)["sub"] == "acme"
    per_tenant = TenantKeys({"acme": keys["ES256"], "globex": keys["EdDSA"]})
    issuer = TokenIssuer(per_tenant)
    assert plain_decode(issuer.issue("acme").token, keys["ES256"])["tid"] == "acme"
    assert plain_decode(issuer.issue(Tenant("globex")).token, keys["EdDSA"])["tid"] == "globex"


@pytest.mark.parametrize("algorithm", ["HS256", "ES256", "EdDSA"])
def test_a_reused_token_decodes_with_plain_pyjwt(keys: dict[str, SigningKey], algorithm: str) -> None:
    issuer = TokenIssuer(keys[algorithm], ttl=600, reuse=300)
    first = issuer.issue("acme", "top")
    assert issuer.issue("acme", "top") is first
    claims = plain_decode(first.token, keys[algorithm])
    assert claims["jti"] == first.jti and claims["exp"] - claims["iat"] == 600


def test_a_public_key_cannot_encode(keys: dict[str, SigningKey]) -> None:
    public = SigningKey(keys["ES256"].verifying_key, algorithm="ES256")
    with pytest.raises(ConfigurationError, match="public key"):
        public.encode(b"{}")


@settings(max_examples=200, deadline=None)
@given(
    tenant_id=st.text(min_size=1, max_size=40),
    resource=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)),
    now=st.integers(min_value=0, max_value=4_000_000_000),
    per_tenant_keys=st.booleans(),
)
def test_cached_payload_heads_give_the_bytes_pyjwt_writes(
    tenant_id: str, resource: str | None, now: int, per_tenant_keys: bool
) -> None:
    """The static path (default claims: the payload's head encoded once per tenant and resource) must
    write exactly what ``jwt.encode`` writes for the same claims, whatever the id's characters
    (quotes, backslashes, non-ASCII) and whatever the head's length modulo 3."""
    try:
        tenant = Tenant(tenant_id)
    except (TypeError, ValueError):
        assume(False)
        raise
    key = SigningKey(SECRET)
    keys = TenantKeys({tenant_id: key}) if per_tenant_keys else key
    issuer = TokenIssuer(keys, clock=lambda: now, allow_unscoped=True)
    for _ in range(2):  # the miss, then the hit
        issued = issuer.issue(tenant, resource)
        claims = plain_decode(issued.token, key, options={"verify_exp": False, "verify_iat": False})
        assert claims["sub"] == tenant_id and claims.get("resource") == resource
        assert (claims["iat"], claims["exp"], claims["jti"]) == (now, now + issuer.ttl, issued.jti)
        assert issued.token == jwt.encode(claims, SECRET, algorithm="HS256")


def test_the_cached_head_is_per_tenant_and_resource() -> None:
    """Two tenants, two resources, interleaved: no token ever carries another pair's head."""
    key = SigningKey(SECRET)
    issuer = TokenIssuer(key)
    for _ in range(3):
        for tenant in ("acme", "globex", "acme-corp"):
            for resource in ("top", "sales", "top_airlines"):
                claims = plain_decode(issuer.issue(tenant, resource).token, key)
                assert (claims["sub"], claims["tid"], claims["resource"]) == (tenant, tenant, resource)


def test_locked_claims_and_hooks_still_encode_the_whole_payload() -> None:
    key = SigningKey(SECRET)
    locked = Tenant("acme", locked_claims={"org": 7})
    plain = TokenIssuer(key).issue(locked, "top").token
    assert plain_decode(plain, key)["org"] == 7
    hooked = TokenIssuer(key, claims=lambda t, r, q: {"sub": t.id, "seat": 3}).issue("acme", "top").token
    assert plain_decode(hooked, key)["seat"] == 3
