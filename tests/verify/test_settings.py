"""Start-up checks of the verifying side: a bad or missing setting is a ConfigurationError naming the fix,
never a TypeError at the first request and never a check silently switched off (issue 12, items 1, 4, 7)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import (
    ConfigurationError,
    KeySet,
    SigningKey,
    Tenant,
    TenantKeys,
    TokenIssuer,
    Verifier,
    VerifyingASGIMiddleware,
    VerifyingWSGIMiddleware,
    resource_from_path,
    verify,
)
from tests.verify.test_middleware import KINDS, wsgi_app

SECRET = "settings-test-secret-" + "q" * 43
EMBED = resource_from_path("/embed/")
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ADAPTERS = {"wsgi": VerifyingWSGIMiddleware, "asgi": VerifyingASGIMiddleware}


def minted(keys: Any, **options: Any) -> str:
    request = Request(EnvironBuilder("/").get_environ())
    return TokenIssuer(keys, **options).issue(Tenant("acme"), "top", request).token


@pytest.mark.parametrize(
    "options",
    [
        {"require": "exp"},
        {"require": [1]},
        {"algorithms": "HS256"},
        {"algorithms": 7},
        {"audience": 5},
        {"audience": [b"x"]},
        {"expected_issuer": 5},
        {"max_ttl": 0},
        {"max_ttl": 86401},
        {"max_ttl": "600"},
        {"leeway": "5"},
        {"leeway": True},
        {"leeway": 301},
        {"max_token_length": 10},
        {"max_token_length": "8192"},
        {"tenant_claim": ""},
        {"allow_unscoped": "yes"},
        {"unsafe_skip_scope_check": 1},
        {"scopes_of": "resource"},
        {"locked_params_of": None},
        {"revocations": "redis://localhost"},
        {"algorithm": "none"},
    ],
    ids=repr,
)
def test_every_bad_verifier_setting_is_a_configuration_error(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Verifier(SECRET, **options)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "options",
    [
        {"protect": "/embed/"},
        {"protect": b"/embed/"},
        {"protect": []},
        {"protect": ["embed/"]},
        {"token_location": "token"},
        {"resource": "top"},
        {"lock_params": "no"},
        {"verifier": SigningKey(SECRET)},
    ],
    ids=repr,
)
def test_every_bad_middleware_setting_is_a_configuration_error(kind: str, options: dict[str, Any]) -> None:
    options = {"verifier": Verifier(SECRET), "resource": EMBED, **options}
    with pytest.raises(ConfigurationError):
        ADAPTERS[kind](wsgi_app([]), **options)


@pytest.mark.parametrize("kind", KINDS)
def test_resource_is_required_unless_the_scope_check_is_loudly_skipped(kind: str) -> None:
    for protect in (("/",), ("/embed/",)):
        with pytest.raises(ConfigurationError, match=r"resource= is required.*resource_from_path"):
            ADAPTERS[kind](wsgi_app([]), verifier=Verifier(SECRET), protect=protect)
    ADAPTERS[kind](wsgi_app([]), verifier=Verifier(SECRET, unsafe_skip_scope_check=True))


@pytest.mark.parametrize(
    ("prefix", "suffix"), [("embed/", None), ("/embed", None), ("/embed/", "x/y"), ("/e/", "")]
)
def test_resource_from_path_refuses_a_prefix_or_suffix_that_would_match_too_much(
    prefix: str, suffix: str | None
) -> None:
    with pytest.raises(ConfigurationError):
        resource_from_path(prefix, suffix=suffix)


# -- key material: what the issuer signs with, the verifier verifies with ------------------------


def test_verify_takes_a_secret_exactly_as_the_issuer_does(tmp_path: Path) -> None:
    token = minted(SECRET)
    assert verify(token, SECRET, resource="top").tenant_id == "acme"
    assert verify(token, SECRET.encode(), resource="top").tenant_id == "acme"
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    assert verify(token, secret_file, resource="top").tenant_id == "acme"
    oct_jwk = {"kty": "oct", "k": jwt.utils.base64url_encode(SECRET.encode()).decode(), "alg": "HS256"}
    assert verify(token, oct_jwk, resource="top").tenant_id == "acme"


def test_verify_takes_a_pem_a_path_a_jwk_and_a_key_object(tmp_path: Path) -> None:
    token = minted(EC_KEY, algorithm="ES256")
    public = EC_KEY.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem_file = tmp_path / "public.pem"
    pem_file.write_bytes(pem)
    jwk = SigningKey(public, algorithm="ES256").public_jwk()
    for material in (pem, pem.decode(), pem_file, public, EC_KEY):
        assert Verifier(material, algorithm="ES256").verify(token, "top").tenant_id == "acme"
    assert Verifier(jwk).verify(token, "top").tenant_id == "acme", "a JWK names its own alg"
    with pytest.raises(ConfigurationError, match="algorithm='RS256'"):
        Verifier(pem)  # a PEM read as an HS256 secret says what to pass


def test_algorithm_and_kid_describe_raw_material_only() -> None:
    with pytest.raises(ConfigurationError, match="raw key material"):
        Verifier(SigningKey(SECRET), algorithm="HS256")


def test_a_tenant_claim_at_odds_with_the_tenant_keys_is_refused() -> None:
    keys = TenantKeys({"acme": SigningKey(SECRET)}, tenant_claim="org")
    assert Verifier(keys).tenant_claim == "org"
    with pytest.raises(ConfigurationError, match="TenantKeys"):
        Verifier(keys, tenant_claim="sub")


# -- a per-tenant JWKS ---------------------------------------------------------------------------


def test_a_per_tenant_jwks_binds_each_key_and_can_hide_the_tenant_ids() -> None:
    acme, globex = (
        SigningKey(EC_KEY, algorithm="ES256"),
        SigningKey(ec.generate_private_key(ec.SECP256R1()), algorithm="ES256"),
    )
    plain = TenantKeys({"acme": acme, "globex": globex}).jwks()
    assert sorted(jwk["tid"] for jwk in plain["keys"]) == ["acme", "globex"], "plain bindings disclose ids"
    secret = "s" * 32
    opaque = TenantKeys({"acme": acme, "globex": globex}, tenant_secret=secret).jwks()
    assert not any("tid" in jwk for jwk in opaque["keys"])
    assert "acme" not in str(opaque) and "globex" not in str(opaque)
    token = minted(TenantKeys({"acme": acme}))
    for document, options in ((plain, {}), (opaque, {"tenant_secret": secret})):
        verifier = Verifier(KeySet.from_jwks(document, **options))
        assert verifier.verify(token, "top").tenant_id == "acme"
    with pytest.raises(ConfigurationError, match="tenant_secret"):
        KeySet.from_jwks(opaque)
    with pytest.raises(ConfigurationError, match="at least 32"):
        TenantKeys({"acme": acme}, tenant_secret="short")
    wrong = Verifier(KeySet.from_jwks(opaque, tenant_secret="t" * 32))
    with pytest.raises(Exception, match="invalid_signature"):
        wrong.verify(token, "top")


def test_issuer_writes_the_reserved_tenant_claim_and_revocation_keys_on_it() -> None:
    from embed_middleware import GenericProfile, MemoryRevocations, TokenIssueError

    token = minted(SECRET, claims=GenericProfile(subject=lambda tenant: "user-7"))
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["tid"]) == ("user-7", "acme")
    store = MemoryRevocations()
    verifier = Verifier(SECRET, revocations=store)
    assert verifier.verify(token, "top").tenant_id == "acme"
    store.revoke("acme", before=time.time() + 5)
    with pytest.raises(Exception, match="revoked"):
        verifier.verify(token, "top")
    with pytest.raises(TokenIssueError, match="'tid'"):
        minted(SECRET, claims=lambda tenant, resource, request: {"tid": "globex"})
