"""Provider profiles: the exact claims each builds, each documented limit, and bad settings.

The issuer's side (merging locked claims, setting iat/exp/jti/nbf) is composed by hand here, so these
tests pin the profiles alone; ``final_claims`` mirrors what the issuer does before calling ``validate``.
"""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware.errors import ConfigurationError
from embed_middleware.profiles import (
    CHARTIO_MAX_TTL,
    PROFILES,
    ChartioProfile,
    GenericProfile,
    MetabaseProfile,
    Profile,
    TinybirdProfile,
)
from embed_middleware.profiles.superset import SupersetProfile
from embed_middleware.tenants import Tenant
from tests.support.tokens import signing_secret

KEY = signing_secret("profiles-test", 48)
NOW = int(time.time())  # real time, so decoding checks exp, nbf and iat for real
ACME = Tenant("acme")
WORKSPACE = "2d3e4f5a-0000-4000-8000-123456789abc"


def make_request(path: str = "/dashboard?region=eu&acct_id=evil") -> Request:
    return Request(EnvironBuilder(path).get_environ())


def merge(derived: Mapping[str, Any], locked: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(derived)
    for name, value in locked.items():
        below = merged.get(name)
        merged[name] = (
            merge(below, value) if isinstance(value, Mapping) and isinstance(below, Mapping) else value
        )
    return merged


def final_claims(
    profile: Profile, tenant: Tenant, resource: str | None, ttl: int = 600, request: Request | None = None
) -> dict[str, Any]:
    """What the issuer signs: profile claims, tenant claims over them, then iat/exp/jti (and nbf)."""
    claims = merge(profile(tenant, resource, request or make_request()), tenant.locked_claims)
    claims.update(iat=NOW, exp=NOW + ttl, jti=secrets.token_urlsafe(16))
    if profile.nbf_from_iat:
        claims["nbf"] = claims["iat"]
    return claims


def roundtrip(claims: Mapping[str, Any], **options: Any) -> dict[str, Any]:
    token = jwt.encode(dict(claims), KEY, "HS256")
    decoded: dict[str, Any] = jwt.decode(token, KEY, algorithms=["HS256"], **options)
    return decoded


def test_profiles_registry_names_each_class() -> None:
    expected = {
        "tinybird": TinybirdProfile,
        "chartio": ChartioProfile,
        "metabase": MetabaseProfile,
        "generic": GenericProfile,
        "superset": SupersetProfile,
    }
    assert expected == PROFILES
    assert all(issubclass(cls, Profile) for cls in PROFILES.values())


def test_profile_is_abstract() -> None:
    with pytest.raises(TypeError):
        Profile()  # type: ignore[abstract]


# -- Tinybird ------------------------------------------------------------------------------------


def org_params(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
    return {"org_id": tenant.id}


def test_tinybird_named_resource_exact_shape() -> None:
    profile = TinybirdProfile(WORKSPACE, fixed_params=org_params)
    assert profile(ACME, "top_airlines", make_request()) == {
        "workspace_id": WORKSPACE,
        "name": "embed-acme",
        "scopes": [{"type": "PIPES:READ", "resource": "top_airlines", "fixed_params": {"org_id": "acme"}}],
    }
    assert (profile.name, profile.max_ttl, profile.url_budget, profile.nbf_from_iat) == (
        "tinybird",
        None,
        None,
        False,
    )


def test_tinybird_without_fixed_params_or_with_empty_ones_leaves_the_key_out() -> None:
    bare = TinybirdProfile(WORKSPACE)(ACME, "top", make_request())
    empty = TinybirdProfile(WORKSPACE, fixed_params=lambda t, r, q: {})(ACME, "top", make_request())
    assert bare["scopes"] == empty["scopes"] == [{"type": "PIPES:READ", "resource": "top"}]
    assert "limits" not in bare


def test_tinybird_name_string_callable_and_rps_limit() -> None:
    fixed = TinybirdProfile(WORKSPACE, name="frontend_jwt", rps=10)(ACME, "top", make_request())
    assert fixed["name"] == "frontend_jwt"
    assert fixed["limits"] == {"rps": 10}
    named = TinybirdProfile(WORKSPACE, name=lambda tenant: f"t_{tenant.id}_jwt")(ACME, "top", make_request())
    assert named["name"] == "t_acme_jwt"


def test_tinybird_fixed_params_may_use_request_and_pipe() -> None:
    def params(tenant: Tenant, pipe: str | None, request: Request) -> dict[str, Any]:
        return {"org_id": tenant.id, "region": request.args["region"], "pipe": pipe}

    claims = TinybirdProfile(WORKSPACE, fixed_params=params)(ACME, "top", make_request())
    assert claims["scopes"][0]["fixed_params"] == {"org_id": "acme", "region": "eu", "pipe": "top"}


def test_tinybird_bare_placeholder_scopes_every_listed_resource_in_order() -> None:
    tenant = Tenant("acme", resources=frozenset({"top_routes", "top_airlines"}))
    claims = TinybirdProfile(WORKSPACE, fixed_params=org_params)(tenant, None, make_request())
    assert claims["scopes"] == [
        {"type": "PIPES:READ", "resource": "top_airlines", "fixed_params": {"org_id": "acme"}},
        {"type": "PIPES:READ", "resource": "top_routes", "fixed_params": {"org_id": "acme"}},
    ]


@pytest.mark.parametrize("resources", [None, frozenset()])
def test_tinybird_bare_placeholder_without_listed_resources_raises(resources: frozenset[str] | None) -> None:
    with pytest.raises(ValueError, match="needs a pipe scope"):
        TinybirdProfile(WORKSPACE)(Tenant("acme", resources=resources), None, make_request())


def test_tinybird_fixed_params_hook_must_return_a_mapping() -> None:
    profile = TinybirdProfile(WORKSPACE, fixed_params=lambda t, r, q: ["org", t.id])  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="fixed_params must return a dict"):
        profile(ACME, "top", make_request())


def test_tinybird_final_claims_validate_and_roundtrip() -> None:
    profile = TinybirdProfile(WORKSPACE, fixed_params=org_params, rps=5)
    claims = final_claims(profile, ACME, "top_airlines")
    profile.validate(claims)
    assert roundtrip(claims) == claims


def test_tinybird_locked_claims_replace_scopes_and_are_validated() -> None:
    locked = {"scopes": [{"type": "DATASOURCES:READ", "resource": "events", "filter": "org_id = 'acme'"}]}
    profile = TinybirdProfile(WORKSPACE)
    claims = final_claims(profile, Tenant("acme", locked_claims=locked), "top")
    assert claims["scopes"] == locked["scopes"]
    profile.validate(claims)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"workspace_id": ""}, "workspace_id is required"),
        ({"name": 42}, "name is required"),
        ({"scopes": []}, "scopes must be a non-empty list"),
        ({"scopes": {"type": "PIPES:READ"}}, "scopes must be a non-empty list"),
        ({"scopes": ["PIPES:READ"]}, r"scopes\[0\] must be an object"),
        (
            {"scopes": [{"type": "PIPES:READ", "resource": "p", "fixed_param": {}}]},
            "unknown keys .'fixed_param'.",
        ),
        ({"scopes": [{"type": "ADMIN", "resource": "p"}]}, r"scopes\[0\]\.type must be one of"),
        ({"scopes": [{"type": "DATASOURCES:APPEND", "resource": "p"}]}, r"\.type must be one of"),
        ({"scopes": [{"type": "PIPES:READ"}]}, r"scopes\[0\]\.resource must be"),
        (
            {"scopes": [{"type": "PIPES:READ", "resource": "p", "fixed_params": []}]},
            r"fixed_params must be an object",
        ),
        (
            {"scopes": [{"type": "PIPES:READ", "resource": "p", "fixed_params": {"o": {"n": 1}}}]},
            r"\['o'\] must be",
        ),
        (
            {"scopes": [{"type": "PIPES:READ", "resource": "p", "fixed_params": {"x": float("nan")}}]},
            r"\['x'\]",
        ),
        (
            {"scopes": [{"type": "DATASOURCES:READ", "resource": "d", "filter": 1}]},
            r"\.filter must be an SQL",
        ),
        ({"limits": {"rps": 0}}, "limits must be"),
        ({"limits": {"rps": True}}, "limits must be"),
        ({"limits": {"rps": 5, "burst": 9}}, "limits must be"),
        ({"exp": "soon"}, "'exp' must be an integer"),
    ],
)
def test_tinybird_validate_names_the_broken_limit(change: dict[str, Any], message: str) -> None:
    profile = TinybirdProfile(WORKSPACE, fixed_params=org_params, rps=5)
    claims = {**final_claims(profile, ACME, "top"), **change}
    with pytest.raises(ValueError, match=message):
        profile.validate(claims)


def test_tinybird_validate_requires_exp() -> None:
    profile = TinybirdProfile(WORKSPACE)
    claims = final_claims(profile, ACME, "top")
    del claims["exp"]
    with pytest.raises(ValueError, match="'exp' is required"):
        profile.validate(claims)


def test_tinybird_fixed_params_accept_scalars_and_lists() -> None:
    values = {"s": "x", "i": 3, "f": 1.5, "b": True, "n": None, "l": ["a", 1, False]}
    profile = TinybirdProfile(WORKSPACE, fixed_params=lambda t, r, q: values)
    profile.validate(final_claims(profile, ACME, "top"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workspace_id": ""}, "workspace_id"),
        ({"workspace_id": None}, "workspace_id"),
        ({"name": ""}, "name must be"),
        ({"name": 7}, "name must be"),
        ({"fixed_params": {"org_id": "acme"}}, "fixed_params must be a callable"),
        ({"rps": 0}, "rps must be a positive integer"),
        ({"rps": 2.5}, "rps must be a positive integer"),
        ({"url_budget": -1}, "url_budget must be a positive integer"),
    ],
)
def test_tinybird_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"workspace_id": WORKSPACE, **kwargs}
    with pytest.raises(ConfigurationError, match=message):
        TinybirdProfile(**settings)


# -- Chartio -------------------------------------------------------------------------------------


def chartio(**kwargs: Any) -> ChartioProfile:
    return ChartioProfile(16417, dashboards={"sales": 231, "ops": 4410}, **kwargs)


def test_chartio_named_resource_exact_shape() -> None:
    assert chartio()(ACME, "sales", make_request()) == {"organization": 16417, "dashboard": 231, "env": {}}
    profile = chartio()
    assert (profile.name, profile.max_ttl, profile.url_budget) == ("chartio", CHARTIO_MAX_TTL, 1700)
    assert CHARTIO_MAX_TTL == 86400


def test_chartio_env_from_request_loses_to_tenant_locked_env() -> None:
    profile = chartio(env=lambda tenant, resource, request: {k.upper(): v for k, v in request.args.items()})
    tenant = Tenant("acme", locked_claims={"env": {"ACCT_ID": "acme-1"}})
    claims = final_claims(profile, tenant, "ops")
    assert claims["env"] == {"REGION": "eu", "ACCT_ID": "acme-1"}
    assert claims["dashboard"] == 4410
    profile.validate(claims)
    assert roundtrip(claims) == claims


@pytest.mark.parametrize("resource", [None, "unknown"])
def test_chartio_bare_or_unknown_resource_raises(resource: str | None) -> None:
    with pytest.raises(ValueError, match="no dashboard for"):
        chartio()(ACME, resource, make_request())


def test_chartio_lifetime_cap_is_24_hours_after_iat() -> None:
    profile = chartio()
    profile.validate(final_claims(profile, ACME, "sales", ttl=86400))
    with pytest.raises(ValueError, match="exp - iat is 86401 s; it must be 1 to 86400 s"):
        profile.validate(final_claims(profile, ACME, "sales", ttl=86401))
    with pytest.raises(ValueError, match="exp - iat is 0 s"):
        profile.validate(final_claims(profile, ACME, "sales", ttl=0))


@pytest.mark.parametrize("missing", ["iat", "exp"])
def test_chartio_needs_iat_and_exp(missing: str) -> None:
    profile = chartio()
    claims = final_claims(profile, ACME, "sales")
    del claims[missing]
    with pytest.raises(ValueError, match=f"'{missing}' is required"):
        profile.validate(claims)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"organization": "16417"}, "'organization' must be an integer"),
        ({"dashboard": 0}, "dashboard must be a positive integer id"),
        ({"dashboard": True}, "'dashboard' must be an integer"),
        ({"env": ["ACCT_ID"]}, "env must be an object"),
        ({"env": {"ACCT": {"id": 1}}}, r"env\['ACCT'\] must be a string, number"),
    ],
)
def test_chartio_validate_types(change: dict[str, Any], message: str) -> None:
    profile = chartio()
    with pytest.raises(ValueError, match=message):
        profile.validate({**final_claims(profile, ACME, "sales"), **change})


def test_chartio_url_length_and_budget() -> None:
    profile = chartio()
    # https://embed.chartio.com/d/ (28) + the longest dashboard id (4410: 4) + "/" (1)
    assert profile.url_overhead == 33
    assert profile.url_length("t" * 10) == len(profile.embed_url("t" * 10, "ops")) == 43
    assert profile.embed_url("abc.def.ghi", "sales") == "https://embed.chartio.com/d/231/abc.def.ghi"
    assert profile.url_length("t" * 1600) <= profile.url_budget  # type: ignore[operator]
    assert profile.url_length("t" * 1701) > 1700


def test_chartio_real_token_with_a_large_env_goes_over_the_budget() -> None:
    profile = chartio(env=lambda tenant, resource, request: {f"VAR_{i}": "x" * 20 for i in range(40)})
    claims = final_claims(profile, ACME, "sales")
    profile.validate(claims)
    token = jwt.encode(claims, KEY, "HS256")
    assert len(token) > 1700
    assert profile.url_length(token) > profile.url_budget  # type: ignore[operator]
    small = jwt.encode(final_claims(chartio(), ACME, "sales"), KEY, "HS256")
    assert chartio().url_length(small) <= 1700


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0,), {"dashboards": {"sales": 1}}, "organization must be a positive integer"),
        (("16417",), {"dashboards": {"sales": 1}}, "organization must be a positive integer"),
        ((1,), {"dashboards": {}}, "dashboards must map"),
        ((1,), {"dashboards": [("sales", 1)]}, "dashboards must be a mapping"),
        ((1,), {"dashboards": {"sales": "231"}}, "'sales' must be a resource name mapped to a positive id"),
        ((1,), {"dashboards": {"": 231}}, "must be a resource name"),
        ((1,), {"dashboards": {"sales": 1}, "env": {"A": 1}}, "env must be a callable"),
        ((1,), {"dashboards": {"sales": 1}, "url_budget": 0}, "url_budget must be a positive integer"),
        ((1,), {"dashboards": {"sales": 1}, "url_budget": None}, "url_budget must be a positive integer"),
    ],
)
def test_chartio_bad_settings(args: tuple[Any, ...], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ChartioProfile(*args, **kwargs)


# -- Metabase ------------------------------------------------------------------------------------


def metabase(**kwargs: Any) -> MetabaseProfile:
    return MetabaseProfile(dashboards={"overview": 1}, questions={"orders": 42}, **kwargs)


def test_metabase_exact_shapes_params_always_present() -> None:
    profile = metabase()
    assert profile(ACME, "overview", make_request()) == {"resource": {"dashboard": 1}, "params": {}}
    assert profile(ACME, "orders", make_request()) == {"resource": {"question": 42}, "params": {}}
    assert (profile.name, profile.max_ttl, profile.url_budget) == ("metabase", None, None)


def test_metabase_params_hook_and_locked_params() -> None:
    profile = metabase(params=lambda tenant, resource, request: {"region": request.args.getlist("region")})
    tenant = Tenant("acme", locked_claims={"params": {"account_id": 7}})
    claims = final_claims(profile, tenant, "overview")
    assert claims["params"] == {"region": ["eu"], "account_id": 7}
    profile.validate(claims)
    assert roundtrip(claims) == claims


@pytest.mark.parametrize("resource", [None, "missing"])
def test_metabase_bare_or_unknown_resource_raises(resource: str | None) -> None:
    with pytest.raises(ValueError, match="no id for"):
        metabase()(ACME, resource, make_request())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"resource": {"dashboard": 1, "question": 42}}, "exactly one of"),
        ({"resource": {}}, "exactly one of"),
        ({"resource": {"card": 1}}, "exactly one of"),
        ({"resource": 1}, "exactly one of"),
        ({"resource": {"dashboard": "1"}}, "resource.dashboard must be a positive integer id"),
        ({"resource": {"question": True}}, "resource.question must be a positive integer id"),
        ({"params": None}, "params must be an object"),
        ({"params": {"when": {"from": 1}}}, r"params\['when'\] must be"),
    ],
)
def test_metabase_validate(change: dict[str, Any], message: str) -> None:
    profile = metabase()
    with pytest.raises(ValueError, match=message):
        profile.validate({**final_claims(profile, ACME, "overview"), **change})


def test_metabase_params_are_required() -> None:
    profile = metabase()
    claims = final_claims(profile, ACME, "overview")
    del claims["params"]
    with pytest.raises(ValueError, match="params is required"):
        profile.validate(claims)


def test_metabase_embed_url_and_url_length() -> None:
    profile = metabase(site_url="https://mb.example.com/")
    token = jwt.encode(final_claims(profile, ACME, "overview"), KEY, "HS256")
    url = profile.embed_url(token, "overview")
    assert url == f"https://mb.example.com/embed/dashboard/{token}#bordered=true&titled=true"
    assert profile.url_length(token) == len(url)
    assert (
        profile.embed_url("tok", "orders")
        == "https://mb.example.com/embed/question/tok#bordered=true&titled=true"
    )
    assert jwt.decode(url.split("/embed/dashboard/")[1].split("#")[0], KEY, algorithms=["HS256"])[
        "resource"
    ] == {"dashboard": 1}


def test_metabase_embed_url_needs_a_site_url() -> None:
    with pytest.raises(ConfigurationError, match="site_url"):
        metabase().embed_url("tok", "overview")
    assert metabase().url_length("t") == len("/embed/dashboard/t#bordered=true&titled=true")


def test_metabase_url_budget_is_optional_and_checked() -> None:
    assert metabase(url_budget=2000).url_budget == 2000
    with pytest.raises(ConfigurationError, match="url_budget"):
        metabase(url_budget=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "pass dashboards="),
        ({"dashboards": {"x": 1}, "questions": {"x": 2}}, r"\['x'\] name both a dashboard and a question"),
        ({"dashboards": {"x": 0}}, "'x' must be a resource name mapped to a positive id"),
        ({"questions": {"x": 1.0}}, "positive id"),
        ({"dashboards": {"x": 1}, "params": {"a": 1}}, "params must be a callable"),
        ({"dashboards": {"x": 1}, "site_url": "mb.example.com"}, "site_url must be"),
        ({"dashboards": {"x": 1}, "site_url": 7}, "site_url must be"),
    ],
)
def test_metabase_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        MetabaseProfile(**kwargs)


# -- Generic -------------------------------------------------------------------------------------


def test_generic_exact_shapes() -> None:
    profile = GenericProfile(issuer="https://app.example.com", audience="charts")
    assert profile(ACME, "top", make_request()) == {
        "iss": "https://app.example.com",
        "aud": "charts",
        "sub": "acme",
        "resource": "top",
    }
    assert profile(ACME, None, make_request()) == {
        "iss": "https://app.example.com",
        "aud": "charts",
        "sub": "acme",
    }
    assert GenericProfile()(ACME, None, make_request()) == {"sub": "acme"}


def test_generic_options() -> None:
    profile = GenericProfile(
        audience=("charts", "api"), subject=lambda tenant: f"org:{tenant.id}", resource_claim="chart"
    )
    assert profile(ACME, "top", make_request()) == {
        "aud": ["charts", "api"],
        "sub": "org:acme",
        "chart": "top",
    }


def test_generic_nbf_comes_from_the_issuer() -> None:
    assert GenericProfile().nbf_from_iat is True
    assert GenericProfile(not_before=False).nbf_from_iat is False
    assert Profile.nbf_from_iat is False
    profile = GenericProfile(issuer="me", audience="charts")
    assert "nbf" not in profile(ACME, "top", make_request())
    claims = final_claims(profile, ACME, "top")
    assert claims["nbf"] == claims["iat"] == NOW
    profile.validate(claims)
    decoded = roundtrip(claims, audience="charts", issuer="me")
    assert decoded == claims


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sub": ""}, "sub must be a non-empty string"),
        ({"sub": 12}, "sub must be a non-empty string"),
        ({"iss": None}, "iss must be a non-empty string"),
        ({"aud": []}, "aud must be"),
        ({"aud": ["charts", 3]}, "aud must be"),
        ({"nbf": NOW + 601}, "nbf is after exp"),
        ({"nbf": "now"}, "'nbf' must be an integer"),
    ],
)
def test_generic_validate(change: dict[str, Any], message: str) -> None:
    profile = GenericProfile(issuer="me", audience="charts")
    with pytest.raises(ValueError, match=message):
        profile.validate({**final_claims(profile, ACME, "top"), **change})


def test_generic_has_no_lifetime_cap() -> None:
    profile = GenericProfile()
    profile.validate(final_claims(profile, ACME, "top", ttl=30 * 86400))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"issuer": ""}, "issuer must be"),
        ({"audience": []}, "audience must be"),
        ({"audience": ["ok", ""]}, "audience must be"),
        ({"subject": "acme"}, "subject must be a callable"),
        ({"not_before": 1}, "not_before must be True or False"),
        ({"resource_claim": "sub"}, "resource_claim must not be"),
        ({"resource_claim": ""}, "resource_claim must not be"),
        ({"url_budget": True}, "url_budget must be a positive integer"),
    ],
)
def test_generic_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        GenericProfile(**kwargs)


# -- shared guarantees ---------------------------------------------------------------------------


PROFILE_CASES = [
    (TinybirdProfile(WORKSPACE, fixed_params=org_params), "top"),
    (chartio(), "sales"),
    (metabase(), "orders"),
    (GenericProfile(issuer="me"), "top"),
]


@pytest.mark.parametrize(("profile", "resource"), PROFILE_CASES, ids=lambda v: getattr(v, "name", v))
def test_profiles_never_set_issuer_owned_claims(profile: Profile, resource: str) -> None:
    claims = profile(ACME, resource, make_request())
    assert not {"iat", "exp", "jti", "nbf"} & set(claims)


@pytest.mark.parametrize(("profile", "resource"), PROFILE_CASES, ids=lambda v: getattr(v, "name", v))
def test_profiles_return_fresh_dicts(profile: Profile, resource: str) -> None:
    first = profile(ACME, resource, make_request())
    snapshot = copy.deepcopy(first)
    first.clear()
    assert profile(ACME, resource, make_request()) == snapshot


@pytest.mark.parametrize(("profile", "resource"), PROFILE_CASES, ids=lambda v: getattr(v, "name", v))
def test_validate_messages_never_contain_the_token_or_key(profile: Profile, resource: str) -> None:
    claims = final_claims(profile, ACME, resource)
    token = jwt.encode(claims, KEY, "HS256")
    broken = {**claims, "exp": token}
    with pytest.raises(ValueError) as caught:
        profile.validate(broken)
    assert token not in str(caught.value) and KEY not in str(caught.value)


@pytest.mark.parametrize(("profile", "resource"), PROFILE_CASES, ids=lambda v: getattr(v, "name", v))
def test_end_to_end_encode_decode(profile: Profile, resource: str) -> None:
    claims = final_claims(profile, ACME, resource)
    profile.validate(claims)
    token = jwt.encode(claims, KEY, "HS256")
    decoded = jwt.decode(token, KEY, algorithms=["HS256"], options={"verify_aud": False})
    assert decoded == claims
    assert profile.url_length(token) == profile.url_overhead + len(token)
