"""Keys: every algorithm parsed once, every bad key refused at start-up with a message that says why."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import ConfigurationError, KeySet, SigningKey, Tenant, TokenIssuer
from embed_middleware.keys import ALGORITHMS

SECRET = "k" * 48
ASYMMETRIC = ("RS256", "PS256", "ES256", "EdDSA")
#: RFC 7638 section 3.1: this JWK's thumbprint is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
RFC7638_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJE"
        "CPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Q"
        "vzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6"
        "WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
}


def private_pem(key: Any, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))


def public_pem(key: Any) -> bytes:
    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@pytest.fixture(scope="module")
def private_keys() -> dict[str, Any]:
    return {
        "RS256": rsa.generate_private_key(65537, 2048),
        "PS256": rsa.generate_private_key(65537, 2048),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }


def request() -> Request:
    return Request(EnvironBuilder("/").get_environ())


# -- every algorithm -------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_asymmetric_tokens_verify_with_plain_pyjwt_and_the_public_key(
    algorithm: str, private_keys: dict[str, Any]
) -> None:
    key = SigningKey(private_pem(private_keys[algorithm]), algorithm=algorithm)
    issued = TokenIssuer(key).issue(Tenant("acme"), "sales", request())
    header = jwt.get_unverified_header(issued.token)
    assert header == {"alg": algorithm, "kid": key.kid, "typ": "JWT"}
    claims = jwt.decode(issued.token, public_pem(private_keys[algorithm]), algorithms=[algorithm])
    assert (claims["sub"], claims["resource"]) == ("acme", "sales")
    assert issued.kid == key.kid


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_hmac_tokens_verify_with_plain_pyjwt(algorithm: str) -> None:
    secret = "s" * 64
    issued = TokenIssuer(secret, algorithm=algorithm).issue(Tenant("acme"), None, request())
    assert jwt.decode(issued.token, secret, algorithms=[algorithm])["sub"] == "acme"
    assert "kid" not in jwt.get_unverified_header(issued.token)


def test_every_supported_algorithm_is_tested() -> None:
    assert set(ALGORITHMS) == {"HS256", "HS384", "HS512", *ASYMMETRIC}


def test_ed448_is_accepted_for_eddsa() -> None:
    key = SigningKey(private_pem(ed448.Ed448PrivateKey.generate()), algorithm="EdDSA")
    token = TokenIssuer(key).issue(Tenant("acme"), None, request()).token
    assert jwt.decode(token, key.verifying_key, algorithms=["EdDSA"])["sub"] == "acme"


# -- where a key comes from ------------------------------------------------------------------------


def test_key_from_str_bytes_file_env_and_jwk_sign_the_same(
    private_keys: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem = private_pem(private_keys["ES256"])
    path = tmp_path / "embed.pem"
    path.write_bytes(pem)
    monkeypatch.setenv("EMBED_TEST_PEM", pem.decode())
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(private_keys["ES256"], as_dict=True)
    keys = [
        SigningKey(pem.decode(), algorithm="ES256"),
        SigningKey(pem, algorithm="ES256"),
        SigningKey(path, algorithm="ES256"),
        SigningKey.from_file(str(path), algorithm="ES256"),
        SigningKey.from_env("EMBED_TEST_PEM", algorithm="ES256"),
        SigningKey(jwk, algorithm="ES256"),
        SigningKey(private_keys["ES256"], algorithm="ES256"),
    ]
    assert len({key.kid for key in keys}) == 1
    for key in keys:
        token = key.encode(b'{"sub":"acme"}')
        assert jwt.decode(token, public_pem(private_keys["ES256"]), algorithms=["ES256"]) == {"sub": "acme"}


def test_issuer_takes_a_path_and_an_algorithm(private_keys: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "rsa.pem"
    path.write_bytes(private_pem(private_keys["RS256"]))
    issuer = TokenIssuer(path, algorithm="RS256", kid="2026-11")
    token = issuer.issue(Tenant("acme"), None, request()).token
    assert jwt.get_unverified_header(token)["kid"] == "2026-11"
    assert issuer.algorithm == "RS256"


def test_secret_file_loses_its_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    token = SigningKey.from_file(path).encode(b"{}")
    assert jwt.decode(token, SECRET, algorithms=["HS256"]) == {}


def test_encrypted_pem_needs_its_password(private_keys: dict[str, Any]) -> None:
    pem = private_pem(private_keys["RS256"], password=b"hunter2-long")
    key = SigningKey(pem, algorithm="RS256", password=b"hunter2-long")
    assert key.can_sign
    with pytest.raises(ConfigurationError, match="cannot load the RS256 key") as raised:
        SigningKey(pem, algorithm="RS256")
    assert "hunter2" not in str(raised.value)


def test_rfc7638_thumbprint_is_the_default_kid() -> None:
    key = SigningKey(RFC7638_JWK, algorithm="RS256")
    assert key.kid == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    assert not key.can_sign
    assert SigningKey({**RFC7638_JWK, "kid": "2011-04-29"}, algorithm="RS256").kid == "2011-04-29"


# -- bad keys say what to fix ----------------------------------------------------------------------


def test_malformed_and_mismatched_keys_are_refused(private_keys: dict[str, Any], tmp_path: Path) -> None:
    rsa_pem = private_pem(private_keys["RS256"])
    cases: list[tuple[Any, str, str]] = [
        (rsa_pem[:200], "RS256", "malformed or truncated PEM"),
        (rsa_pem, "ES256", "ES256 needs an EC key on curve P-256; this key is an RSA key"),
        (
            private_pem(private_keys["ES256"]),
            "RS256",
            "RS256 needs an RSA key of at least 2048 bits; this key is an EC",
        ),
        (private_pem(private_keys["EdDSA"]), "ES256", "this key is an Ed25519 key"),
        (private_pem(ec.generate_private_key(ec.SECP384R1())), "ES256", "secp384r1; ES256 needs P-256"),
        (private_pem(rsa.generate_private_key(65537, 1024)), "RS256", "1024 bits; RS256 needs at least 2048"),
        (SECRET, "RS256", "looks like a shared secret: use algorithm='HS256'"),
        (rsa_pem, "HS256", "looks like a PEM/SSH/DER key"),
        ("short", "HS256", "signing key is 5 bytes; HS256 needs at least 32"),
        ("k" * 40, "HS384", "HS384 needs at least 48"),
        (tmp_path / "absent.pem", "RS256", "cannot read key file"),
        ({"kty": "EC", "crv": "P-256"}, "ES256", "not a usable ES256 JWK"),
        (SECRET, "none", "algorithm 'none' produces unsigned tokens"),
        (SECRET, "RS512", "unsupported algorithm 'RS512'"),
    ]
    for material, algorithm, message in cases:
        with pytest.raises(ConfigurationError) as raised:
            SigningKey(material, algorithm=algorithm)
        assert message in str(raised.value), (algorithm, str(raised.value))
        assert SECRET not in str(raised.value)


def test_issuer_refuses_a_public_key(private_keys: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="public key; the issuer needs the private key"):
        TokenIssuer(public_pem(private_keys["ES256"]), algorithm="ES256")
    public = SigningKey(public_pem(private_keys["ES256"]), algorithm="ES256")
    with pytest.raises(ConfigurationError, match="needs the private key"):
        TokenIssuer(public)
    with pytest.raises(ConfigurationError, match="describe raw key material"):
        TokenIssuer(SigningKey(SECRET), algorithm="HS256")


def test_missing_environment_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMBED_SIGNING_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="EMBED_SIGNING_KEY environment variable to a PEM"):
        TokenIssuer(algorithm="ES256")


def test_reprs_never_show_key_material(private_keys: dict[str, Any]) -> None:
    secret_key = SigningKey(SECRET, kid="s1")
    pem_key = SigningKey(private_pem(private_keys["EdDSA"]), algorithm="EdDSA")
    text = repr(KeySet(secret_key)) + repr(pem_key) + repr(TokenIssuer(secret_key))
    assert SECRET not in text and "PRIVATE" not in text
    assert "secret" in repr(secret_key) and "private" in repr(pem_key)


# -- key sets and JWKS ------------------------------------------------------------------------------


def test_key_set_rules() -> None:
    with pytest.raises(ConfigurationError, match="needs a kid"):
        KeySet(SigningKey(SECRET), SigningKey("o" * 48, kid="old"))
    with pytest.raises(ConfigurationError, match="duplicate kid"):
        KeySet(SigningKey(SECRET, kid="a"), SigningKey("o" * 48, kid="a"))
    new, old = SigningKey(SECRET, kid="new"), SigningKey("o" * 48, kid="old")
    keys = KeySet(new, old)
    assert keys.active is new and keys.find("old") is old
    assert keys.find(None) is None and keys.find("gone") is None
    assert KeySet(new).find(None) is new


def test_jwks_publishes_public_halves_only(private_keys: dict[str, Any]) -> None:
    es = SigningKey(private_pem(private_keys["ES256"]), algorithm="ES256")
    ed = SigningKey(private_pem(private_keys["EdDSA"]), algorithm="EdDSA")
    hs = SigningKey(SECRET, kid="shared")
    document = KeySet(es, ed, hs).jwks()
    assert [jwk["kid"] for jwk in document["keys"]] == [es.kid, ed.kid]
    assert all("d" not in jwk and jwk["use"] == "sig" for jwk in document["keys"])
    assert SECRET not in json.dumps(document)
    assert base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("=") not in json.dumps(document)
    verifier_keys = KeySet.from_jwks(json.dumps(document))
    token = es.encode(b'{"sub":"acme"}')
    key = verifier_keys.find(es.kid)
    assert key is not None and not key.can_sign
    assert jwt.decode(token, key.verifying_key, algorithms=["ES256"]) == {"sub": "acme"}


def test_from_jwks_refuses_documents_without_usable_keys() -> None:
    for document in ('{"keys": []}', "not json", {"keys": [{"kty": "oct", "k": "abc", "alg": "HS256"}]}):
        with pytest.raises(ConfigurationError):
            KeySet.from_jwks(document)


def test_ec_jwk_coordinates_keep_their_full_size() -> None:
    """A P-256 key whose x or y starts with a zero byte (about 1 in 128 each): PyJWT 2.8 wrote it short,
    and its own from_jwk then refused the published key. Found by the version matrix."""
    from cryptography.hazmat.primitives.asymmetric import ec as _ec

    for _ in range(5000):
        private = _ec.generate_private_key(_ec.SECP256R1())
        numbers = private.public_key().public_numbers()
        if numbers.x < 1 << 248 or numbers.y < 1 << 248:
            break
    else:  # pragma: no cover - odds of 5000 misses are about e-78
        raise AssertionError("no key with a short coordinate found")
    key = SigningKey(private, algorithm="ES256")
    jwk = key.public_jwk()
    assert jwk is not None
    for member in ("x", "y"):
        assert len(base64.urlsafe_b64decode(jwk[member] + "==")) == 32
    (back,) = KeySet.from_jwks({"keys": [jwk]}).keys
    assert back.kid == key.kid == key.thumbprint()
