"""Tenants and the built-in resolvers: who a request is for, failing closed on anything odd."""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import (
    ConfigurationError,
    Resolver,
    Tenant,
    first_of,
    from_cookie,
    from_environ,
    from_header,
    from_path_prefix,
    from_subdomain,
)
from embed_middleware.errors import TokenIssueError
from embed_middleware.tenants import ENVIRON_KEY, MAX_LOOKUP_VALUE, tenant_of, vary_of

ACME = Tenant("acme", locked_claims={"org": 1})
GLOBEX = Tenant("globex", locked_claims={"org": 2})
KNOWN: Mapping[str, Tenant] = {"acme": ACME, "globex": GLOBEX}


def make_request(
    path: str = "/",
    *,
    host: str = "app.example.com",
    headers: Mapping[str, str] | None = None,
    environ: Mapping[str, Any] | None = None,
) -> Request:
    """A werkzeug request; ``environ`` entries are set raw, bypassing werkzeug's header checks."""
    built = EnvironBuilder(path=path, base_url=f"http://{host}/", headers=dict(headers or {})).get_environ()
    built.update(environ or {})
    return Request(built)


class RecordingLookup:
    """A callable lookup that remembers every raw id it was asked about."""

    def __init__(self, tenants: Mapping[str, Tenant]) -> None:
        self.tenants = tenants
        self.asked: list[str] = []

    def __call__(self, raw: str) -> Tenant | None:
        self.asked.append(raw)
        return self.tenants.get(raw)


# -- the Tenant value ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tenant_id",
    [
        "acme",
        "a",
        "x" * 256,
        'quo"te',
        "it's",
        "<b>&amp;</b>",
        "café",
        "東京-支社",
        "emoji-🚀",
        "a b",
        "a=b;c",
    ],
)
def test_printable_tenant_ids_are_accepted(tenant_id: str) -> None:
    assert Tenant(tenant_id).id == tenant_id


@pytest.mark.parametrize(
    "tenant_id",
    ["", "x" * 257, "a\r\nb", "a\nb", "a\rb", "acme\x00", "\tacme", "a\x1b[31mb", "a\x7fb", "\x1f"],
)
def test_malformed_tenant_ids_are_refused(tenant_id: str) -> None:
    with pytest.raises(ConfigurationError, match="printable"):
        Tenant(tenant_id)


def test_c1_control_characters_are_refused() -> None:
    """U+0080..U+009F are control characters too (category Cc, not printable): NEL (U+0085) ends a line
    for str.splitlines and many log viewers, CSI (U+009B) starts a terminal escape sequence. The id
    "ends up in token claims, logs and audit trails" and must be "printable characters"."""
    accepted = []
    for control in map(chr, range(0x80, 0xA0)):
        assert unicodedata.category(control) == "Cc" and not control.isprintable()
        try:
            Tenant(f"acme{control}evil")
        except ConfigurationError:
            continue
        accepted.append(f"U+{ord(control):04X}")
    assert accepted == []
    assert from_header("X-T")(make_request(environ={"HTTP_X_T": "acme\x85evil"})) is None


@pytest.mark.parametrize("tenant_id", [None, 42, b"acme", ["acme"]])
def test_tenant_id_must_be_a_string(tenant_id: object) -> None:
    with pytest.raises(ConfigurationError, match="printable"):
        Tenant(tenant_id)  # type: ignore[arg-type]


def test_claims_are_read_only_and_copied() -> None:
    source = {"env": {"ACCT_ID": "1"}, "org": 7}
    tenant = Tenant("acme", locked_claims=source)
    source["org"] = 999
    source["added"] = True
    assert dict(tenant.locked_claims) == {"env": {"ACCT_ID": "1"}, "org": 7}
    with pytest.raises(TypeError):
        tenant.locked_claims["org"] = 8  # type: ignore[index]
    with pytest.raises(TypeError):
        del tenant.locked_claims["org"]  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        tenant.locked_claims = {}  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        tenant.id = "globex"  # type: ignore[misc]


def test_claims_default_to_empty_and_must_be_a_mapping() -> None:
    assert dict(Tenant("acme").locked_claims) == {}
    with pytest.raises(ConfigurationError, match="mapping"):
        Tenant("acme", locked_claims=[("org", 1)])  # type: ignore[arg-type]


def test_claims_is_the_deprecated_name_of_locked_claims() -> None:
    with pytest.warns(DeprecationWarning, match="locked_claims"):
        old = Tenant("acme", claims={"org": 1}, resources=["top"])
    new = Tenant("acme", locked_claims={"org": 1}, resources=["top"])
    assert old == new and repr(old) == repr(new)
    assert old == Tenant("acme", {"org": 1}, ["top"]), "the second positional argument is unchanged"
    with pytest.warns(DeprecationWarning, match="locked_claims"):
        assert dict(new.claims) == {"org": 1}
    with pytest.raises(dataclasses.FrozenInstanceError):
        new.claims = {}  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(Tenant)] == ["id", "locked_claims", "resources"]
    assert dataclasses.replace(new, id="globex") == Tenant("globex", {"org": 1}, ["top"])


def test_claims_and_locked_claims_together_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="locked_claims= only"):
        Tenant("acme", locked_claims={"org": 1}, claims={"org": 2})


def test_tenants_compare_by_value_and_stay_unhashable() -> None:
    """Equality is the dataclass's, over (id, locked_claims, resources); a mapping field keeps it
    unhashable, as it always was (a Tenant is no dict key: key on ``tenant.id``)."""
    assert Tenant("acme", {"org": 1}) == Tenant("acme", {"org": 1}) != Tenant("acme", {"org": 2})
    assert Tenant("acme") != Tenant("acme", resources=[])
    with pytest.raises(TypeError):
        hash(Tenant("acme"))


def test_resources_must_be_names_not_one_string() -> None:
    with pytest.raises(ConfigurationError, match="list of names"):
        Tenant("acme", resources="top")


# -- what a resolver answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (ACME, ACME),
        ("acme", Tenant("acme")),
        (None, None),
        ("", None),
        ("acme\r\nSet-Cookie: x=1", None),
        ("x" * 257, None),
    ],
    ids=["tenant", "id", "none", "empty", "control characters", "too long"],
)
def test_tenant_of_is_the_one_rule_for_what_a_resolver_answers(answer: object, expected: object) -> None:
    assert tenant_of(answer) == expected


@pytest.mark.parametrize("answer", [42, b"acme", ["acme"], {"id": "acme"}, object()])
def test_tenant_of_refuses_other_answers_as_a_resolver_bug(answer: object) -> None:
    with pytest.raises(TokenIssueError, match="not Tenant, str or None"):
        tenant_of(answer)


def test_may_embed_any_resource_without_a_resource_list() -> None:
    tenant = Tenant("acme")
    assert tenant.resources is None
    assert tenant.may_embed("anything")
    assert tenant.may_embed(None)


def test_may_embed_only_listed_resources() -> None:
    tenant = Tenant("acme", resources=["top_airlines", "by_day"])  # type: ignore[arg-type]
    assert tenant.resources == frozenset({"top_airlines", "by_day"})
    assert isinstance(tenant.resources, frozenset)
    assert tenant.may_embed("top_airlines")
    assert tenant.may_embed("by_day")
    assert not tenant.may_embed("salaries")
    assert not tenant.may_embed("TOP_AIRLINES")
    assert not tenant.may_embed("")
    assert not tenant.may_embed(None), "a token with no resource could read as one for every resource"


def test_empty_resource_list_allows_nothing() -> None:
    tenant = Tenant("acme", resources=frozenset())
    assert not tenant.may_embed("top_airlines")
    assert not tenant.may_embed(None)


# -- from_header ---------------------------------------------------------------------------------


def test_from_header() -> None:
    resolve = from_header("X-Tenant-Id")
    tenant = resolve(make_request(headers={"X-Tenant-Id": "acme"}))
    assert tenant == Tenant("acme")
    assert resolve(make_request(headers={"x-tenant-id": "globex"})) == Tenant("globex")
    assert resolve(make_request()) is None
    assert resolve(make_request(headers={"X-Tenant-Id": ""})) is None
    assert resolve(make_request(headers={"X-Other": "acme"})) is None
    assert resolve.vary == ("X-Tenant-Id",)  # type: ignore[attr-defined]
    assert isinstance(resolve, Resolver)


@pytest.mark.parametrize("raw", ["acme\r\nSet-Cookie: x=1", "acme\n", "\tacme", "acme\x00", "a" * 257])
def test_from_header_malformed_value_is_no_tenant(raw: str) -> None:
    request = make_request(environ={"HTTP_X_TENANT_ID": raw})
    assert request.headers["X-Tenant-Id"] == raw
    assert from_header("X-Tenant-Id")(request) is None
    assert from_header("X-Tenant-Id", lookup=KNOWN)(request) is None


def test_from_header_with_mapping_lookup() -> None:
    resolve = from_header("X-Tenant-Id", lookup=KNOWN)
    assert resolve(make_request(headers={"X-Tenant-Id": "acme"})) is ACME
    assert resolve(make_request(headers={"X-Tenant-Id": "initech"})) is None
    assert resolve(make_request(headers={"X-Tenant-Id": "ACME"})) is None


def test_from_header_with_callable_lookup() -> None:
    lookup = RecordingLookup(KNOWN)
    resolve = from_header("X-Tenant-Id", lookup=lookup)
    assert resolve(make_request(headers={"X-Tenant-Id": "globex"})) is GLOBEX
    assert resolve(make_request(headers={"X-Tenant-Id": "initech"})) is None
    assert resolve(make_request()) is None
    assert lookup.asked == ["globex", "initech"]


# -- from_subdomain ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("acme.example.com", "acme"),
        ("ACME.Example.COM", "acme"),
        ("acme.example.com:8443", "acme"),
        ("acme.example.com:80", "acme"),
        ("x-1.example.com", "x-1"),
        ("example.com", None),
        ("a.b.example.com", None),
        ("evil-example.com", None),
        ("acme.evil-example.com", None),
        ("acme.example.com.evil.net", None),
        ("acme.example.org", None),
        ("acme.notexample.com", None),
        ("localhost:5000", None),
    ],
)
def test_from_subdomain(host: str, expected: str | None) -> None:
    resolve = from_subdomain("example.com")
    tenant = resolve(make_request(host=host))
    assert (tenant.id if tenant else None) == expected
    assert resolve.vary == ("Host",)  # type: ignore[attr-defined]


def test_from_subdomain_reads_the_host_header() -> None:
    resolve = from_subdomain("example.com")
    assert resolve(make_request(host="other.net", headers={"Host": "globex.example.com"})) == Tenant("globex")


def test_from_subdomain_normalises_the_base_domain() -> None:
    resolve = from_subdomain(".Example.COM.")
    assert resolve(make_request(host="acme.example.com")) == Tenant("acme")
    assert resolve(make_request(host="example.com")) is None


def test_from_subdomain_with_lookups() -> None:
    assert from_subdomain("example.com", lookup=KNOWN)(make_request(host="acme.example.com")) is ACME
    assert from_subdomain("example.com", lookup=KNOWN)(make_request(host="initech.example.com")) is None
    lookup = RecordingLookup(KNOWN)
    resolve = from_subdomain("example.com", lookup=lookup)
    assert resolve(make_request(host="globex.example.com")) is GLOBEX
    assert resolve(make_request(host="example.com")) is None
    assert resolve(make_request(host="initech.example.com")) is None
    assert lookup.asked == ["globex", "initech"]


# -- from_path_prefix ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "path", "expected"),
    [
        ("/t/", "/t/acme/report", "acme"),
        ("/t/", "/t/acme", "acme"),
        ("/t/", "/t/acme/", "acme"),
        ("/t/", "/t/", None),
        ("/t/", "/t", None),
        ("/t/", "/t//acme", None),
        ("/t/", "/tx/acme", None),
        ("/t/", "/other/t/acme", None),
        ("t", "/t/acme/x", "acme"),
        ("/t", "/t/acme/x", "acme"),
        ("/embed/t/", "/embed/t/globex/page", "globex"),
        ("/embed/t/", "/embed/acme", None),
        ("/", "/acme/page", "acme"),
        ("/", "/", None),
        ("", "/acme", "acme"),
        ("/t/", "/t/caf%C3%A9/x", "café"),
    ],
)
def test_from_path_prefix(prefix: str, path: str, expected: str | None) -> None:
    resolve = from_path_prefix(prefix)
    tenant = resolve(make_request(path))
    assert (tenant.id if tenant else None) == expected
    assert resolve.vary == ()  # type: ignore[attr-defined]


def test_from_path_prefix_default_is_the_first_segment() -> None:
    assert from_path_prefix()(make_request("/globex/dashboards/1")) == Tenant("globex")


@pytest.mark.parametrize(
    "path", ["/t/ac%0D%0Ame/x", "/t/acme%0A/x", "/t/%09acme", "/t/a%00b", "/t/" + "a" * 257]
)
def test_from_path_prefix_malformed_segment_is_no_tenant(path: str) -> None:
    assert from_path_prefix("/t/")(make_request(path)) is None
    assert from_path_prefix("/t/", lookup=KNOWN)(make_request(path)) is None


def test_from_path_prefix_with_lookups() -> None:
    assert from_path_prefix("/t/", lookup=KNOWN)(make_request("/t/acme/x")) is ACME
    assert from_path_prefix("/t/", lookup=KNOWN)(make_request("/t/initech/x")) is None
    lookup = RecordingLookup(KNOWN)
    assert from_path_prefix("/t/", lookup=lookup)(make_request("/t/globex")) is GLOBEX
    assert lookup.asked == ["globex"]


# -- from_cookie ---------------------------------------------------------------------------------


def test_from_cookie() -> None:
    resolve = from_cookie("tenant")
    assert resolve(make_request(headers={"Cookie": "session=s1; tenant=acme"})) == Tenant("acme")
    assert resolve(make_request(headers={"Cookie": "session=s1"})) is None
    assert resolve(make_request(headers={"Cookie": "tenant="})) is None
    assert resolve(make_request()) is None
    assert resolve.vary == ("Cookie",)  # type: ignore[attr-defined]


def test_from_cookie_malformed_value_is_no_tenant() -> None:
    resolve = from_cookie("tenant")
    # A quoted cookie value may carry octal escapes; "\012" decodes to a line feed.
    request = make_request(headers={"Cookie": 'tenant="ac\\012me"'})
    assert request.cookies["tenant"] == "ac\nme"
    assert resolve(request) is None


def test_from_cookie_with_lookups() -> None:
    sessions = {"s3cr3t-session": ACME}
    resolve = from_cookie("session", lookup=sessions)
    assert resolve(make_request(headers={"Cookie": "session=s3cr3t-session"})) is ACME
    assert resolve(make_request(headers={"Cookie": "session=acme"})) is None
    lookup = RecordingLookup(KNOWN)
    resolve = from_cookie("tenant", lookup=lookup)
    assert resolve(make_request(headers={"Cookie": "tenant=globex"})) is GLOBEX
    assert resolve(make_request(headers={"Cookie": "tenant=initech"})) is None
    assert lookup.asked == ["globex", "initech"]


# -- from_environ --------------------------------------------------------------------------------


def test_from_environ_returns_a_tenant_value_as_is() -> None:
    tenant = Tenant("acme", locked_claims={"env": {"ACCT_ID": "1"}})
    resolve = from_environ()
    assert resolve(make_request(environ={ENVIRON_KEY: tenant})) is tenant
    # A Tenant the app set itself is trusted: no lookup is consulted.
    lookup = RecordingLookup({})
    assert from_environ(lookup=lookup)(make_request(environ={ENVIRON_KEY: tenant})) is tenant
    assert lookup.asked == []


def test_from_environ_turns_a_string_into_a_tenant() -> None:
    assert from_environ()(make_request(environ={ENVIRON_KEY: "acme"})) == Tenant("acme")
    assert from_environ(lookup=KNOWN)(make_request(environ={ENVIRON_KEY: "acme"})) is ACME
    assert from_environ(lookup=KNOWN)(make_request(environ={ENVIRON_KEY: "initech"})) is None
    lookup = RecordingLookup(KNOWN)
    assert from_environ(lookup=lookup)(make_request(environ={ENVIRON_KEY: "globex"})) is GLOBEX
    assert lookup.asked == ["globex"]


@pytest.mark.parametrize("value", [None, 42, b"acme", ["acme"], {"id": "acme"}, object(), ""])
def test_from_environ_other_values_are_no_tenant(value: object) -> None:
    lookup = RecordingLookup(KNOWN)
    assert from_environ()(make_request(environ={ENVIRON_KEY: value})) is None
    assert from_environ(lookup=lookup)(make_request(environ={ENVIRON_KEY: value})) is None
    assert lookup.asked == [], "only a non-empty string reaches the lookup"


@pytest.mark.parametrize("value", ["a\r\nb", "a\x00", "x" * 257])
def test_from_environ_malformed_string_is_no_tenant(value: str) -> None:
    assert from_environ()(make_request(environ={ENVIRON_KEY: value})) is None
    assert from_environ(lookup=KNOWN)(make_request(environ={ENVIRON_KEY: value})) is None


def test_from_environ_missing_key_is_no_tenant() -> None:
    assert ENVIRON_KEY == "embed.tenant"
    assert from_environ()(make_request()) is None


def test_from_environ_custom_key_and_vary() -> None:
    resolve = from_environ("myapp.org", vary=["Authorization", "Cookie"])
    assert resolve(make_request(environ={"myapp.org": "acme"})) == Tenant("acme")
    assert resolve(make_request(environ={ENVIRON_KEY: "acme"})) is None
    assert resolve.vary == ("Authorization", "Cookie")  # type: ignore[attr-defined]
    assert from_environ().vary == ("Cookie",)  # type: ignore[attr-defined]


# -- what a lookup is given ---------------------------------------------------------------------


def test_lookup_receives_the_raw_value_even_when_it_is_no_valid_tenant_id() -> None:
    """A lookup verifies values that need not look like ids: a signed session cookie is often longer
    than 256 characters. Without a lookup the same value is no tenant."""
    signed = "s" * 300 + ".c2lnbmF0dXJl"
    lookup = RecordingLookup({signed: ACME})
    request = make_request(headers={"Cookie": f"session={signed}"})
    assert from_cookie("session", lookup=lookup)(request) is ACME
    assert lookup.asked == [signed]
    assert from_cookie("session")(request) is None


@pytest.mark.parametrize(
    ("resolver", "request_for"),
    [
        (from_header, lambda v: make_request(environ={"HTTP_X_T": v})),
        (from_cookie, lambda v: make_request(headers={"Cookie": f"X-T={v}"})),
    ],
)
def test_oversized_raw_value_never_reaches_the_lookup(
    resolver: Callable[..., Resolver], request_for: Callable[[str], Request]
) -> None:
    lookup = RecordingLookup({})
    resolve = resolver("X-T", lookup=lookup)
    assert resolve(request_for("v" * MAX_LOOKUP_VALUE)) is None
    assert lookup.asked == ["v" * MAX_LOOKUP_VALUE]
    assert resolve(request_for("v" * (MAX_LOOKUP_VALUE + 1))) is None
    assert resolve(request_for("v" * 1_000_000)) is None
    assert lookup.asked == ["v" * MAX_LOOKUP_VALUE]
    mapping = {"v" * (MAX_LOOKUP_VALUE + 1): ACME}
    assert resolver("X-T", lookup=mapping)(request_for("v" * (MAX_LOOKUP_VALUE + 1))) is None


def test_lookup_answer_is_the_resolvers_answer() -> None:
    """Whatever the lookup decides is final: None (unknown) fails closed, a Tenant is returned as is."""
    assert from_header("X-T", lookup=lambda raw: None)(make_request(headers={"X-T": "acme"})) is None
    assert from_header("X-T", lookup=lambda raw: GLOBEX)(make_request(headers={"X-T": "acme"})) is GLOBEX
    assert from_header("X-T", lookup=lambda raw: GLOBEX)(make_request(headers={"X-T": ""})) is None
    assert from_header("X-T", lookup=lambda raw: GLOBEX)(make_request()) is None


# -- first_of and vary ---------------------------------------------------------------------------


def test_first_of_tries_resolvers_in_order_and_stops_at_the_first_tenant() -> None:
    called: list[str] = []

    def never(request: Request) -> Tenant | None:
        called.append("never")
        return Tenant("never")

    resolve = first_of(from_header("X-Tenant"), from_cookie("tenant"), never)
    both = make_request(headers={"X-Tenant": "acme", "Cookie": "tenant=globex"})
    assert resolve(both) == Tenant("acme")
    assert resolve(make_request(headers={"Cookie": "tenant=globex"})) == Tenant("globex")
    assert called == []
    assert resolve(make_request()) == Tenant("never")
    assert called == ["never"]


def test_first_of_finds_nothing() -> None:
    resolve = first_of(from_header("X-Tenant"), from_environ())
    assert resolve(make_request()) is None
    assert resolve(make_request(headers={"X-Tenant": "a\x01b"})) is None


def test_first_of_vary_is_the_ordered_union() -> None:
    resolve = first_of(
        from_header("X-Tenant"),
        from_cookie("tenant"),
        from_subdomain("example.com"),
        from_path_prefix("/t/"),
        from_environ(vary=["cookie", "Authorization"]),
        from_header("x-tenant"),
    )
    assert resolve.vary == ("X-Tenant", "Cookie", "Host", "Authorization")  # type: ignore[attr-defined]


def test_first_of_vary_counts_undeclared_functions_as_reading_anything() -> None:
    def plain(request: Request) -> Tenant | None:
        return None

    def with_vary(request: Request) -> Tenant | None:
        return None

    with_vary.vary = ("X-Api-Key",)  # type: ignore[attr-defined]
    assert vary_of(plain) == ("*",), "what a function reads is unknown: never a guessed header"
    assert vary_of(with_vary) == ("X-Api-Key",)
    assert first_of(from_path_prefix(), plain).vary == ("*",)  # type: ignore[attr-defined]
    assert first_of(from_path_prefix(), with_vary).vary == ("X-Api-Key",)  # type: ignore[attr-defined]
    assert first_of(from_path_prefix()).vary == ()  # type: ignore[attr-defined]


def test_first_of_needs_a_resolver() -> None:
    with pytest.raises(ConfigurationError, match="at least one"):
        first_of()


def test_each_resolver_vary() -> None:
    assert vary_of(from_header("X-Tenant")) == ("X-Tenant",)
    assert vary_of(from_subdomain("example.com")) == ("Host",)
    assert vary_of(from_path_prefix("/t/")) == ()
    assert vary_of(from_cookie("tenant")) == ("Cookie",)
    assert vary_of(from_environ()) == ("Cookie",)
    assert vary_of(from_environ(vary=())) == ()


def test_resolvers_have_readable_reprs() -> None:
    assert "X-Tenant" in repr(from_header("X-Tenant"))
    assert "example.com" in repr(from_subdomain("example.com"))
    assert "/t/" in repr(from_path_prefix("t"))
    assert "session" in repr(from_cookie("session"))
    assert ENVIRON_KEY in repr(from_environ())
