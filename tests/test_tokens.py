"""The token issuer: what a token carries, who wins a claim, and what a bad setting says."""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import jwt
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import (
    ConfigurationError,
    EmbedError,
    IssuedToken,
    Tenant,
    TokenIssuer,
    Verifier,
    lifetime,
)
from embed_middleware.tokens import DEFAULT_TTL, MAX_TTL
from tests.support.tokens import decode_token, signing_secret

KEY = signing_secret("unit-test", 48)
OTHER_KEY = signing_secret("another", 48)
ACME = Tenant("acme")
FIXED_NOW = 1_700_000_000.75
ENV = "EMBED_SIGNING_KEY"


def make_request(path: str = "/dashboard?date=2024-01-01") -> Request:
    return Request(EnvironBuilder(path).get_environ())


def decode(token: str, key: str | bytes = KEY, algorithm: str = "HS256", **options: bool) -> dict[str, Any]:
    return decode_token(token, key, algorithm, **options)


def without_registered(claims: Mapping[str, Any]) -> dict[str, Any]:
    """The claims a hook shaped: without iat, exp, jti and the tenant id the issuer always writes."""
    return {k: v for k, v in claims.items() if k not in {"iat", "exp", "jti", "tid"}}


# -- what a token carries ------------------------------------------------------------------------


def test_issued_token_decodes_with_plain_pyjwt() -> None:
    issued = TokenIssuer(KEY).issue(ACME, "top_airlines", make_request())
    claims = jwt.decode(issued.token, KEY, algorithms=["HS256"])
    assert without_registered(claims) == {"sub": "acme", "resource": "top_airlines"}
    assert jwt.get_unverified_header(issued.token) == {"alg": "HS256", "typ": "JWT"}
    assert (issued.issued_at, issued.expires_at, issued.jti) == (claims["iat"], claims["exp"], claims["jti"])
    assert isinstance(issued, IssuedToken)


def test_bare_placeholder_token_has_no_resource_claim() -> None:
    claims = decode(TokenIssuer(KEY).issue(ACME, None, make_request()).token)
    assert set(claims) == {"sub", "tid", "iat", "exp", "jti"}
    assert claims["sub"] == claims["tid"] == "acme"


def test_token_is_signed_with_the_key() -> None:
    token = TokenIssuer(KEY).issue(ACME, None, make_request()).token
    with pytest.raises(jwt.InvalidSignatureError):
        decode(token, OTHER_KEY)
    with pytest.raises(jwt.InvalidAlgorithmError):
        decode(token, KEY, "HS512")


@pytest.mark.parametrize("ttl", [1, 300, DEFAULT_TTL, MAX_TTL])
def test_iat_comes_from_the_clock_and_exp_is_iat_plus_ttl(ttl: int) -> None:
    issuer = TokenIssuer(KEY, ttl=ttl, clock=lambda: FIXED_NOW)
    issued = issuer.issue(ACME, "r", make_request())
    claims = decode(issued.token, verify_exp=False, verify_iat=False)
    assert claims["iat"] == 1_700_000_000
    assert claims["exp"] == 1_700_000_000 + ttl
    assert (issued.issued_at, issued.expires_at) == (claims["iat"], claims["exp"])
    assert issuer.ttl == ttl


def test_default_ttl_is_ten_minutes() -> None:
    issued = TokenIssuer(KEY, clock=lambda: FIXED_NOW).issue(ACME, None, make_request())
    assert issued.expires_at - issued.issued_at == 600


def test_expired_token_is_refused_by_pyjwt() -> None:
    issuer = TokenIssuer(KEY, ttl=60, clock=lambda: time.time() - 3600)
    with pytest.raises(jwt.ExpiredSignatureError):
        decode(issuer.issue(ACME, None, make_request()).token)


def test_fresh_token_verifies_against_the_real_clock() -> None:
    before = int(time.time())
    claims = decode(TokenIssuer(KEY, ttl=120).issue(ACME, None, make_request()).token)
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 120


def test_jti_is_unique_across_issues() -> None:
    issuer = TokenIssuer(KEY, clock=lambda: FIXED_NOW)
    request = make_request()
    issued = [issuer.issue(ACME, "same", request) for _ in range(500)]
    jtis = [i.jti for i in issued]
    assert len(set(jtis)) == len(jtis)
    assert all(isinstance(j, str) and len(j) >= 16 for j in jtis)
    assert len({i.token for i in issued}) == len(issued), "same second, same claims, still distinct tokens"


LONG_KEY = "long-unit-test-signing-key-" + "L" * 37  # 64 bytes: enough for every HMAC hash


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_every_supported_algorithm_signs_verifiably(algorithm: str) -> None:
    issuer = TokenIssuer(LONG_KEY, algorithm=algorithm)
    token = issuer.issue(ACME, "r", make_request()).token
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    assert decode(token, LONG_KEY, algorithm)["resource"] == "r"
    assert issuer.algorithm == algorithm


@pytest.mark.parametrize(("algorithm", "length"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_a_key_as_long_as_the_hash_output_is_enough(algorithm: str, length: int) -> None:
    key = "k" * length
    token = (
        TokenIssuer(key, algorithm=algorithm).issue(ACME, None, make_request()).token
    )  # warnings are errors
    assert decode(token, key, algorithm)["sub"] == "acme"


@pytest.mark.parametrize(
    ("algorithm", "length"), [("HS384", 32), ("HS384", 47), ("HS512", 32), ("HS512", 63)]
)
def test_key_shorter_than_the_hash_output_is_refused_at_construction(algorithm: str, length: int) -> None:
    """RFC 7518 section 3.2, as tokens.py itself cites it: the key must be at least as long as the hash
    output, so 48 bytes for HS384 and 64 for HS512. A weak key must stop the app at start-up rather
    than be accepted and then make PyJWT warn (InsecureKeyLengthWarning) on every token issued."""
    with pytest.raises(ConfigurationError, match="bytes"):
        TokenIssuer("k" * length, algorithm=algorithm)


def test_bytes_key_and_str_key_are_the_same_secret() -> None:
    token = TokenIssuer(KEY.encode()).issue(ACME, None, make_request()).token
    assert decode(token, KEY)["sub"] == "acme"


# -- claims hooks --------------------------------------------------------------------------------

WORKSPACE = "c6b1d3e4-workspace"


def tinybird_claims(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
    return {
        "workspace_id": WORKSPACE,
        "name": f"embed_{tenant.id}",
        "scopes": [
            {
                "type": "PIPES:READ",
                "resource": resource,
                "fixed_params": {"org_id": tenant.id, "date": request.args["date"]},
            }
        ],
    }


def test_tinybird_claims_come_out_exactly() -> None:
    issuer = TokenIssuer(KEY, claims=tinybird_claims)
    claims = decode(issuer.issue(ACME, "top_airlines", make_request()).token)
    assert without_registered(claims) == {
        "workspace_id": WORKSPACE,
        "name": "embed_acme",
        "scopes": [
            {
                "type": "PIPES:READ",
                "resource": "top_airlines",
                "fixed_params": {"org_id": "acme", "date": "2024-01-01"},
            }
        ],
    }
    assert set(claims) == {"workspace_id", "name", "scopes", "tid", "iat", "exp", "jti"}, (
        "a hook replaces sub"
    )
    assert claims["tid"] == "acme", "the tenant id is written whatever the hook did with sub"


def test_chartio_claims_come_out_exactly() -> None:
    def chartio(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
        return {"organization": 1234, "dashboard": int(resource or 0), "env": {"DATE": request.args["date"]}}

    tenant = Tenant("org-1", locked_claims={"env": {"ACCT_ID": "1"}})
    claims = decode(TokenIssuer(KEY, claims=chartio).issue(tenant, "567", make_request()).token)
    assert without_registered(claims) == {
        "organization": 1234,
        "dashboard": 567,
        "env": {"ACCT_ID": "1", "DATE": "2024-01-01"},
    }


def test_hook_receives_tenant_resource_and_the_request() -> None:
    seen: list[tuple[Tenant, str | None, Request]] = []

    def hook(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
        seen.append((tenant, resource, request))
        return {}

    request = make_request()
    issuer = TokenIssuer(KEY, claims=hook)
    issuer.issue(ACME, "a", request)
    issuer.issue(ACME, None, request)
    assert seen == [(ACME, "a", request), (ACME, None, request)]
    assert seen[0][2] is request


def test_tenant_claims_override_hook_claims_deeply() -> None:
    def hook(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
        return {
            "env": {"ACCT_ID": "evil", "DATE": "x"},
            "deep": {"a": {"b": "hook", "c": "hook"}, "keep": True},
            "scopes": [{"resource": "anything"}],
            "hook_only": 1,
            "replaced_by_scalar": {"x": 1},
        }

    tenant = Tenant(
        "acme",
        locked_claims={
            "env": {"ACCT_ID": "1"},
            "deep": {"a": {"b": "tenant"}},
            "scopes": [{"resource": "locked"}],
            "tenant_only": 2,
            "replaced_by_scalar": "scalar",
        },
    )
    issued = TokenIssuer(KEY, claims=hook).issue(tenant, "r", make_request())
    claims = without_registered(decode(issued.token))
    assert claims == {
        "env": {"ACCT_ID": "1", "DATE": "x"},
        "deep": {"a": {"b": "tenant", "c": "hook"}, "keep": True},
        "scopes": [{"resource": "locked"}],
        "hook_only": 1,
        "tenant_only": 2,
        "replaced_by_scalar": "scalar",
    }


def test_tenant_claims_override_default_claims() -> None:
    tenant = Tenant("acme", locked_claims={"sub": "locked-subject", "resource": "locked"})
    claims = decode(TokenIssuer(KEY).issue(tenant, "requested", make_request()).token)
    assert (claims["sub"], claims["resource"]) == ("locked-subject", "locked")


def test_neither_hook_nor_tenant_can_set_iat_exp_or_jti() -> None:
    def hook(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
        return {"iat": 1, "exp": 9_999_999_999, "jti": "fixed", "nbf": 5}

    tenants = [ACME, Tenant("t", locked_claims={"exp": 9_999_999_999, "iat": 2, "jti": "locked"})]
    for tenant in tenants:
        issuer = TokenIssuer(KEY, ttl=60, claims=hook, clock=lambda: FIXED_NOW)
        issued = issuer.issue(tenant, None, make_request())
        claims = decode(issued.token, verify_exp=False, verify_iat=False, verify_nbf=False)
        assert claims["iat"] == 1_700_000_000
        assert claims["exp"] == 1_700_000_060
        assert claims["jti"] not in {"fixed", "locked"}
        assert claims["nbf"] == 5, "other registered claims are the hook's business"


def test_issuing_mutates_neither_the_hook_result_nor_the_tenant_claims() -> None:
    shared = {"env": {"DATE": "x"}, "org": 1}

    def hook(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
        return shared

    tenant = Tenant("acme", locked_claims={"env": {"ACCT_ID": "1"}})
    issuer = TokenIssuer(KEY, claims=hook)
    first = decode(issuer.issue(tenant, None, make_request()).token)
    second = decode(issuer.issue(tenant, None, make_request()).token)
    assert shared == {"env": {"DATE": "x"}, "org": 1}
    assert dict(tenant.locked_claims) == {"env": {"ACCT_ID": "1"}}
    assert first["env"] == second["env"] == {"ACCT_ID": "1", "DATE": "x"}
    assert first["jti"] != second["jti"]


def test_hook_may_return_any_mapping() -> None:
    def hook(tenant: Tenant, resource: str | None, request: Request) -> Mapping[str, Any]:
        return MappingProxyType({"org": 7})

    assert decode(TokenIssuer(KEY, claims=hook).issue(ACME, None, make_request()).token)["org"] == 7


@pytest.mark.parametrize("returned", [None, ["sub", "acme"], "sub=acme", 42, (("sub", "acme"),)])
def test_hook_returning_a_non_mapping_raises_type_error_when_issuing(returned: object) -> None:
    def hook(tenant: Tenant, resource: str | None, request: Request) -> Any:
        return returned

    issuer = TokenIssuer(KEY, claims=hook)  # construction cannot know; issuing must refuse
    with pytest.raises(TypeError, match="claims hook must return a dict"):
        issuer.issue(ACME, None, make_request())


# -- construction errors -------------------------------------------------------------------------


def test_no_key_and_no_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(ConfigurationError, match="no signing key") as raised:
        TokenIssuer()
    assert "signing_key" in str(raised.value)
    assert ENV in str(raised.value)


def test_empty_environment_variable_is_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "")
    with pytest.raises(ConfigurationError, match=ENV):
        TokenIssuer()


def test_key_is_read_from_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)
    token = TokenIssuer().issue(ACME, None, make_request()).token
    assert decode(token, KEY)["sub"] == "acme"


def test_explicit_key_wins_over_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, OTHER_KEY)
    token = TokenIssuer(KEY).issue(ACME, None, make_request()).token
    assert decode(token, KEY)["sub"] == "acme"


def test_custom_key_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("MY_EMBED_KEY", KEY)
    token = TokenIssuer(key_env="MY_EMBED_KEY").issue(ACME, None, make_request()).token
    assert decode(token, KEY)["sub"] == "acme"
    monkeypatch.delenv("MY_EMBED_KEY")
    with pytest.raises(ConfigurationError, match="MY_EMBED_KEY"):
        TokenIssuer(key_env="MY_EMBED_KEY")


@pytest.mark.parametrize("key", ["k" * 31, b"k" * 31, "short", "é" * 15])
def test_short_key_is_refused(key: str | bytes) -> None:
    with pytest.raises(ConfigurationError, match="at least 32") as raised:
        TokenIssuer(key)
    assert "bytes" in str(raised.value)


def test_short_key_from_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "tooshort")
    with pytest.raises(ConfigurationError, match="at least 32"):
        TokenIssuer()


@pytest.mark.parametrize("key", ["k" * 32, b"\x00" * 32, "é" * 16])
def test_thirty_two_bytes_is_enough(key: str | bytes) -> None:
    token = TokenIssuer(key).issue(ACME, None, make_request()).token
    assert decode(token, key)["sub"] == "acme"


@pytest.mark.parametrize("key", [12345678901234567890123456789012345, ["k" * 40], object()])
def test_key_of_the_wrong_type_is_refused(key: object) -> None:
    with pytest.raises(ConfigurationError, match="str or bytes"):
        TokenIssuer(key)  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", ["none", "None", "NONE"])
def test_algorithm_none_is_refused(algorithm: str) -> None:
    with pytest.raises(ConfigurationError, match="'none'") as raised:
        TokenIssuer(KEY, algorithm=algorithm)
    message = str(raised.value)
    assert "forge" in message
    assert "HS256" in message


@pytest.mark.parametrize("algorithm", ["RS512", "ES384", "HS1", "hs256", "", "HS256 ", "eddsa"])
def test_unsupported_algorithm_is_refused(algorithm: str) -> None:
    with pytest.raises(ConfigurationError, match="unsupported algorithm") as raised:
        TokenIssuer(KEY, algorithm=algorithm)
    assert "HS256, HS384, HS512" in str(raised.value)


@pytest.mark.parametrize("ttl", [0, -1, -600, MAX_TTL + 1, 10**9, 600.0, 1.5, "600", None, True])
def test_bad_ttl_is_refused(ttl: object) -> None:
    with pytest.raises(ConfigurationError, match="ttl must be") as raised:
        TokenIssuer(KEY, ttl=ttl)  # type: ignore[arg-type]
    assert "86400" in str(raised.value)


def test_claims_hook_must_be_callable() -> None:
    with pytest.raises(ConfigurationError, match="claims must be a callable"):
        TokenIssuer(KEY, claims={"sub": "acme"})  # type: ignore[arg-type]


PEM_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\n"
    "q9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n"
    "-----END PUBLIC KEY-----\n"
)
SSH_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCmtrP6BxUQ2dQcQvGM0l8x5r2CJ3X user@host"


@pytest.mark.parametrize("key", [PEM_KEY, PEM_KEY.encode(), SSH_KEY])
def test_asymmetric_looking_key_is_refused(key: str | bytes) -> None:
    with pytest.raises(ConfigurationError, match="PEM") as raised:
        TokenIssuer(key)
    assert "random shared secret" in str(raised.value)


# -- secrets stay secret -------------------------------------------------------------------------


def everything_said_about(error: BaseException) -> str:
    """The message, the repr and the whole printed traceback, chained exceptions included."""
    return str(error) + repr(error) + "".join(traceback.format_exception(error))


def test_repr_of_issuer_and_issued_token_hide_key_and_token() -> None:
    issuer = TokenIssuer(KEY, algorithm="HS384", ttl=90, claims=tinybird_claims)
    issued = issuer.issue(ACME, "r", make_request())
    for text in (repr(issuer), str(issuer), repr(issued), str(issued), f"{issued!r} {issuer}"):
        assert KEY not in text
        assert issued.token not in text
    for part in issued.token.split("."):
        assert part not in repr(issued)
    assert repr(issuer) == "TokenIssuer(algorithm='HS384', ttl=90)"
    assert issued.jti in repr(issued)


@pytest.mark.parametrize(
    ("key", "options"),
    [
        ("s3cr3t-but-short", {}),
        (PEM_KEY, {}),
        (SSH_KEY, {}),
        (KEY, {"algorithm": "none"}),
        (KEY, {"algorithm": "RS256"}),
        (KEY, {"ttl": 0}),
        (KEY, {"ttl": "600"}),
        (KEY, {"claims": "not callable"}),
    ],
)
def test_configuration_errors_never_contain_the_key(key: str, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as raised:
        TokenIssuer(key, **options)
    said = everything_said_about(raised.value)
    assert key not in said
    assert key.strip() not in said
    for line in key.splitlines():
        if len(line) > 8:
            assert line not in said


def test_configuration_error_never_contains_an_environment_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "env-secret-short")
    with pytest.raises(ConfigurationError) as raised:
        TokenIssuer()
    assert "env-secret-short" not in everything_said_about(raised.value)


# -- outside a request (CLIs, background jobs) -----------------------------------------------------


def test_issue_without_a_request_passes_none_to_the_hook_and_takes_a_tenant_id() -> None:
    seen: list[object] = []

    def hook(tenant: Tenant, resource: str | None, request: Request | None) -> dict[str, Any]:
        seen.append(request)
        return {"org": tenant.id}

    issuer = TokenIssuer(KEY, claims=hook)  # type: ignore[arg-type]
    issued = issuer.issue("acme", "top")
    claims = jwt.decode(issued.token, KEY, algorithms=["HS256"])
    assert (claims["org"], claims["tid"], seen) == ("acme", "acme", [None])
    assert jwt.decode(issuer.issue(Tenant("acme")).token, KEY, algorithms=["HS256"])["org"] == "acme"


@pytest.mark.parametrize("tenant", [None, 5, b"acme", ""])
def test_issue_refuses_what_is_not_a_tenant(tenant: object) -> None:
    with pytest.raises(EmbedError):
        TokenIssuer(KEY).issue(tenant)  # type: ignore[arg-type]


def test_the_issuer_and_the_verifier_share_one_ttl_cap() -> None:
    assert MAX_TTL == lifetime.MAX_TTL == 24 * 60 * 60
    for ttl in (MAX_TTL + 1, 0):
        with pytest.raises(ConfigurationError, match="24 hours"):
            TokenIssuer(KEY, ttl=ttl)
        with pytest.raises(ConfigurationError, match="24 hours"):
            Verifier(KEY, max_ttl=ttl)
