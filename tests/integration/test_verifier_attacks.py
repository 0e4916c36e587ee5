"""The verifying side, attacked: hostile tokens and requests, each with the status and reason it must get.

Written as exploits first (issue 12): each row below that names a weakness was run against the old
code and got through (200, or a 500) there. Every row runs through both verifying adapters, and the
app behind them must never run.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import http.client
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import (
    GenericProfile,
    KeySet,
    MemoryRevocations,
    SigningKey,
    Tenant,
    TenantKeys,
    TinybirdProfile,
    TokenIssuer,
    Verifier,
    VerifyingASGIMiddleware,
    resource_from_path,
)
from tests.support.parity import http_scope
from tests.support.uvicorn_thread import uvicorn_in_thread
from tests.verify.test_middleware import KINDS, asgi_app, bearer, serve

SECRET = "attack-table-secret-" + "s" * 44
KEY = SigningKey(SECRET)
ACME_KEY, GLOBEX_KEY = SigningKey("a" * 48, kid="ka"), SigningKey("g" * 48, kid="kg")
PER_TENANT = TenantKeys({"acme": ACME_KEY, "globex": GLOBEX_KEY})
EC_ACME = SigningKey(ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
EC_GLOBEX = SigningKey(ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
EC_TENANTS = TenantKeys({"acme": EC_ACME, "globex": EC_GLOBEX})
OPAQUE_SECRET = "opaque-tenant-binding-secret-" + "o" * 20
EMBED = resource_from_path("/embed/")
PIPE = "/embed/top_airlines"
TINYBIRD = TinybirdProfile("ws", fixed_params=lambda tenant, pipe, request: {"tenant_id": tenant.id})
#: Deep enough for json's RecursionError on any CPython (PyJWT 2.8 let it escape as a 500).
DEEP = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw(header: bytes | dict[str, Any], payload: bytes | dict[str, Any], secret: str | None = SECRET) -> str:
    """A compact JWT built by hand, HMAC-SHA256 signed over whatever bytes it is given."""
    parts = [part if isinstance(part, bytes) else json.dumps(part).encode() for part in (header, payload)]
    signing_input = f"{b64(parts[0])}.{b64(parts[1])}"
    mac = (
        b"" if secret is None else hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{b64(mac)}"


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "acme", "tid": "acme", "resource": "top_airlines", "iat": now, "exp": now + 600, **extra}
    return {name: value for name, value in base.items() if value is not None}


def signed(**extra: Any) -> str:
    return jwt.encode(claims(**extra), SECRET, "HS256")


def mint(tenant: str = "acme", resource: str | None = "top_airlines", keys: Any = KEY, **options: Any) -> str:
    request = Request(EnvironBuilder("/page").get_environ())
    return TokenIssuer(keys, **options).issue(Tenant(tenant), resource, request).token


def scoped(*scopes: tuple[str, dict[str, Any]]) -> str:
    return signed(
        resource=None, scopes=[{"type": "PIPES:READ", "resource": r, "fixed_params": p} for r, p in scopes]
    )


def bound_jwks(opaque: bool = False) -> KeySet:
    published = TenantKeys(
        {"acme": EC_ACME, "globex": EC_GLOBEX}, tenant_secret=OPAQUE_SECRET if opaque else None
    )
    return KeySet.from_jwks(published.jwks(), tenant_secret=OPAQUE_SECRET if opaque else None)


def _revoked_store() -> MemoryRevocations:
    store = MemoryRevocations()
    store.revoke("acme", before=time.time() + 5)
    return store


@dataclass(frozen=True)
class Attack:
    name: str
    status: int
    reason: str
    token: Callable[[], str | None]
    path: str = PIPE
    verifier: Callable[[], Verifier] = lambda: Verifier(KEY)
    #: The weakness of issue 12 this row reproduced against the old code ("" for rows that held).
    exploit: str = ""
    headers: Callable[[str | None], list[tuple[str, str]]] = field(
        default=lambda token: bearer(token) if token else []
    )


ATTACKS: list[Attack] = [
    # -- unreadable input: 401 malformed, never a 500 ---------------------------------------------
    Attack("no-token", 401, "missing_token", lambda: None),
    Attack(
        "empty-bearer", 401, "missing_token", lambda: "", headers=lambda _: [("Authorization", "Bearer ")]
    ),
    Attack("garbage", 401, "malformed", lambda: "garbage"),
    Attack("two-segments", 401, "malformed", lambda: "eyJhbGciOiJIUzI1NiJ9.e30"),
    Attack("bad-base64-header", 401, "malformed", lambda: "eyJ!!!.e30.c2ln"),
    Attack(
        "nested-json-header", 401, "malformed", lambda: f"{b64(DEEP)}.e30.c2ln", exploit="5: 500 on PyJWT 2.8"
    ),
    Attack(
        "nested-json-payload",
        401,
        "malformed",
        lambda: raw({"alg": "HS256"}, DEEP, None),
        verifier=lambda: Verifier(PER_TENANT),
        exploit="5: 500 on PyJWT 2.8",
    ),
    Attack("over-length-cap", 401, "malformed", lambda: signed(pad="x" * 9000)),
    Attack("header-is-a-list", 401, "malformed", lambda: raw(b"[1]", claims())),
    Attack("payload-is-a-list", 401, "malformed", lambda: raw({"alg": "HS256"}, b"[1]")),
    Attack("payload-not-json", 401, "malformed", lambda: raw({"alg": "HS256"}, b"not json")),
    Attack("crit-header", 401, "malformed", lambda: raw({"alg": "HS256", "crit": ["exp"]}, claims())),
    Attack("kid-not-a-string", 401, "malformed", lambda: raw({"alg": "HS256", "kid": 7}, claims())),
    Attack("iat-a-string", 401, "malformed", lambda: signed(iat="yesterday")),
    Attack("pins-not-an-object", 401, "malformed", lambda: signed(params="tenant_id=globex")),
    # -- algorithms and signatures ----------------------------------------------------------------
    Attack("alg-none", 401, "algorithm_not_allowed", lambda: raw({"alg": "none"}, claims(), None)),
    Attack(
        "alg-hs512-for-hs256-key", 401, "algorithm_not_allowed", lambda: jwt.encode(claims(), SECRET, "HS512")
    ),
    Attack(
        "alg-outside-allow-list",
        401,
        "algorithm_not_allowed",
        lambda: signed(),
        verifier=lambda: Verifier(KEY, algorithms=["ES256"]),
    ),
    Attack(
        "tampered-payload",
        401,
        "invalid_signature",
        lambda: signed().rsplit(".", 2)[0] + ".e30." + signed().rsplit(".", 1)[1],
    ),
    Attack("signature-stripped", 401, "invalid_signature", lambda: signed().rsplit(".", 1)[0] + "."),
    Attack("wrong-secret", 401, "invalid_signature", lambda: jwt.encode(claims(), "w" * 48, "HS256")),
    Attack(
        "unknown-kid-in-a-set",
        401,
        "unknown_key",
        lambda: raw({"alg": "HS256", "kid": "nope"}, claims()),
        verifier=lambda: Verifier(KeySet(SigningKey(SECRET, kid="k1"), SigningKey("z" * 48, kid="k2"))),
    ),
    # -- lifetime and registered claims -----------------------------------------------------------
    Attack("expired", 401, "expired", lambda: signed(iat=int(time.time()) - 700, exp=int(time.time()) - 100)),
    Attack("not-yet-valid", 401, "not_yet_valid", lambda: signed(nbf=int(time.time()) + 600)),
    Attack("no-exp", 401, "missing_claim", lambda: signed(exp=None)),
    Attack(
        "other-audience",
        401,
        "invalid_audience",
        lambda: signed(aud="elsewhere"),
        verifier=lambda: Verifier(KEY, audience="charts"),
    ),
    # -- scope: no resource named, or another one -------------------------------------------------
    Attack(
        "other-pipe",
        403,
        "out_of_scope",
        lambda: mint(claims=TINYBIRD),
        path="/embed/other_pipe?tenant_id=globex",
    ),
    Attack(
        "outside-the-resource-prefix",
        403,
        "out_of_scope",
        lambda: mint(claims=TINYBIRD),
        path="/api/other_pipe?tenant_id=globex",
        exploit="1: 200 with globex's rows",
    ),
    Attack(
        "empty-segment",
        403,
        "out_of_scope",
        lambda: mint(claims=TINYBIRD),
        path="/embed/?tenant_id=globex",
        exploit="1: 200",
    ),
    Attack(
        "extension-smuggled",
        403,
        "out_of_scope",
        lambda: mint(resource="sales"),
        path="/embed/sales.internal",
        exploit="3: 200",
    ),
    Attack(
        "extra-path-below",
        403,
        "out_of_scope",
        lambda: mint(resource="sales"),
        path="/embed/sales/x",
        exploit="3: 200",
    ),
    Attack("unscoped-token-for-a-resource", 403, "out_of_scope", lambda: mint(resource=None)),
    Attack("scope-string-elsewhere", 403, "out_of_scope", lambda: signed(resource=None, scope="a b")),
    Attack("metabase-shaped-resource", 403, "out_of_scope", lambda: signed(resource={"dashboard": 3})),
    Attack(
        "scopes-pin-conflicting-values",
        403,
        "out_of_scope",
        lambda: scoped(("top_airlines", {"org": "acme"}), ("other", {"org": "globex"})),
        exploit="2: 200 reading org=globex on /embed/other",
    ),
    Attack(
        "pins-conflict-by-case",
        403,
        "out_of_scope",
        lambda: scoped(("top_airlines", {"tenant_id": "acme"}), ("b", {"Tenant_ID": "globex"})),
    ),
    # -- per-tenant keys: no enumeration, nothing odd reaches the lookup --------------------------
    Attack(
        "unknown-tenant",
        401,
        "invalid_signature",
        lambda: jwt.encode(claims(tid="initech"), "x" * 48, "HS256"),
        verifier=lambda: Verifier(PER_TENANT),
        exploit="5: unknown_tenant told which tenants exist",
    ),
    Attack(
        "known-tenant-bad-signature",
        401,
        "invalid_signature",
        lambda: jwt.encode(claims(), "x" * 48, "HS256", headers={"kid": "ka"}),
        verifier=lambda: Verifier(PER_TENANT),
    ),
    Attack(
        "known-tenant-unknown-kid",
        401,
        "invalid_signature",
        lambda: jwt.encode(claims(), "x" * 48, "HS256", headers={"kid": "guess"}),
        verifier=lambda: Verifier(PER_TENANT),
    ),
    Attack(
        "known-tenant-other-alg",
        401,
        "invalid_signature",
        lambda: jwt.encode(claims(), "x" * 64, "HS512", headers={"kid": "ka"}),
        verifier=lambda: Verifier(PER_TENANT),
    ),
    Attack(
        "tenant-a-key-claims-b",
        401,
        "invalid_signature",
        lambda: ACME_KEY.encode(json.dumps(claims(tid="globex")).encode()),
        verifier=lambda: Verifier(PER_TENANT),
    ),
    Attack(
        "tenant-id-with-crlf-nul",
        401,
        "malformed",
        lambda: jwt.encode(claims(tid="acme\r\nX-Evil: 1\x00"), "x" * 48, "HS256"),
        verifier=lambda: Verifier(PER_TENANT),
        exploit="5: reached the key lookup",
    ),
    Attack(
        "tenant-id-too-long",
        401,
        "malformed",
        lambda: jwt.encode(claims(tid="t" * 300), "x" * 48, "HS256"),
        verifier=lambda: Verifier(PER_TENANT),
    ),
    Attack(
        "tenant-id-not-a-string",
        401,
        "malformed",
        lambda: jwt.encode(claims(tid=["acme"]), "x" * 48, "HS256"),
        verifier=lambda: Verifier(PER_TENANT),
    ),
    Attack(
        "tenant-id-missing",
        401,
        "missing_claim",
        lambda: jwt.encode(claims(tid=None), "a" * 48, "HS256", headers={"kid": "ka"}),
        verifier=lambda: Verifier(PER_TENANT),
    ),
    # -- a published per-tenant JWKS binds each key to its tenant ---------------------------------
    Attack(
        "jwks-tenant-a-key-claims-b",
        401,
        "invalid_signature",
        lambda: EC_ACME.encode(json.dumps(claims(tid="globex")).encode()),
        verifier=lambda: Verifier(bound_jwks()),
        exploit="4: accepted as globex",
    ),
    Attack(
        "opaque-jwks-tenant-a-key-claims-b",
        401,
        "invalid_signature",
        lambda: EC_ACME.encode(json.dumps(claims(tid="globex")).encode()),
        verifier=lambda: Verifier(bound_jwks(opaque=True)),
    ),
    Attack(
        "jwks-bound-key-no-tenant",
        401,
        "invalid_signature",
        lambda: EC_ACME.encode(json.dumps(claims(tid=None)).encode()),
        verifier=lambda: Verifier(bound_jwks()),
    ),
    # -- revocation keys on the tenant, whatever sub says -----------------------------------------
    Attack(
        "revoked-tenant-with-user-sub",
        401,
        "revoked",
        lambda: mint(claims=GenericProfile(subject=lambda tenant: "user-7")),
        path="/embed/top_airlines",
        verifier=lambda: Verifier(KEY, revocations=_revoked_store()),
        exploit="4: store.revoke('acme') revoked nothing",
    ),
    Attack(
        "garbage-header-beats-good-query-token",
        401,
        "malformed",
        lambda: signed(),
        path=f"{PIPE}?token=placeholder",
        headers=lambda token: [("Authorization", "Bearer garbage")],
    ),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("attack", ATTACKS, ids=[attack.name for attack in ATTACKS])
def test_every_attack_is_refused_with_its_status_and_reason(kind: str, attack: Attack) -> None:
    token = attack.token()
    path = attack.path.replace("placeholder", token or "")
    outcome = serve(
        kind,
        path,
        attack.headers(token),
        verifier=attack.verifier(),
        resource=EMBED,
        protect=("/embed/", "/api/"),
    )
    assert outcome.seen == [], "the app never ran"
    assert (outcome.status, outcome.json()) == (attack.status, {"error": attack.reason})


def test_the_table_is_big_enough_and_covers_the_issue() -> None:
    assert len(ATTACKS) >= 40
    assert len({attack.name for attack in ATTACKS}) == len(ATTACKS)
    assert {attack.exploit.split(":")[0] for attack in ATTACKS if attack.exploit} >= {"1", "2", "3", "4", "5"}


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_tenant_is_answered_exactly_like_a_bad_signature(kind: str) -> None:
    def outcome(token: str) -> tuple[int, dict[str, str], bytes]:
        served = serve(kind, PIPE, bearer(token), verifier=Verifier(PER_TENANT), resource=EMBED)
        headers = {k: v for k, v in served.headers.items() if k not in ("date", "server")}
        return served.status, headers, served.body

    unknown = outcome(jwt.encode(claims(tid="initech"), "x" * 48, "HS256", headers={"kid": "ka"}))
    bad_signature = outcome(jwt.encode(claims(), "x" * 48, "HS256", headers={"kid": "ka"}))
    assert unknown == bad_signature


def test_hostile_tenant_ids_never_reach_the_key_lookup() -> None:
    asked: list[str] = []

    def lookup(tenant_id: str) -> SigningKey | None:
        asked.append(tenant_id)
        return None

    verifier = Verifier(TenantKeys(lookup))
    for hostile in ("acme\r\nx", "nul\x00", "t" * 257, "\x85next-line"):
        token = jwt.encode(claims(tid=hostile), "x" * 48, "HS256")
        outcome = serve("wsgi", PIPE, bearer(token), verifier=verifier, resource=EMBED)
        assert outcome.json() == {"error": "malformed"}
    assert asked == []


# -- what an accepted request can no longer smuggle ----------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_case_variants_of_a_locked_param_do_not_survive(kind: str) -> None:
    token = mint(claims=TINYBIRD)
    path = f"{PIPE}?Tenant_ID=globex&TENANT_ID=initech&tenant%5Fid=x&page=2"
    outcome = serve(kind, path, bearer(token), verifier=Verifier(KEY), resource=EMBED)
    assert outcome.status == 200
    assert outcome.query() == [("page", "2"), ("tenant_id", "acme")]


@pytest.mark.parametrize("kind", KINDS)
def test_pins_of_every_scope_hold_on_every_path(kind: str) -> None:
    token = scoped(("top_airlines", {"org": "acme"}), ("sales", {"region": "eu"}))
    outcome = serve(
        kind, "/embed/sales?org=globex&region=us", bearer(token), verifier=Verifier(KEY), resource=EMBED
    )
    assert outcome.status == 200
    assert sorted(outcome.query()) == [("org", "acme"), ("region", "eu")]


@pytest.mark.parametrize("kind", KINDS)
def test_skipping_the_scope_check_takes_a_loud_option_and_still_pins(kind: str) -> None:
    verifier = Verifier(KEY, unsafe_skip_scope_check=True)
    outcome = serve(
        kind,
        "/embed/other_pipe?tenant_id=globex",
        bearer(mint(claims=TINYBIRD)),
        verifier=verifier,
        resource=None,
    )
    assert outcome.status == 200 and outcome.query() == [("tenant_id", "acme")]


# -- WebSocket handshakes ------------------------------------------------------------------------


def ws_scope(path: str, headers: list[tuple[str, str]]) -> dict[str, Any]:
    """The HTTP scope's fields, as a WebSocket handshake carries them (no method, a ws scheme)."""
    scope = {**http_scope(path, headers=headers), "type": "websocket", "scheme": "ws", "subprotocols": []}
    del scope["method"]
    return scope


def websocket(
    path: str, headers: list[tuple[str, str]], **options: Any
) -> tuple[list[dict[str, Any]], list[Any]]:
    reached: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        reached.append(scope)
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    options.setdefault("verifier", Verifier(KEY))
    asyncio.run(
        VerifyingASGIMiddleware(app, resource=EMBED, **options)(ws_scope(path, headers), receive, send)
    )
    return sent, reached


@pytest.mark.parametrize(
    ("name", "path", "token"),
    [
        ("no-token", PIPE, lambda: None),
        ("garbage", PIPE, lambda: "garbage"),
        ("other-pipe", "/embed/other_pipe", lambda: mint(claims=TINYBIRD)),
        ("expired", PIPE, lambda: signed(iat=int(time.time()) - 700, exp=int(time.time()) - 100)),
    ],
)
def test_websocket_handshakes_on_protected_paths_are_verified(
    name: str, path: str, token: Callable[[], str | None]
) -> None:
    value = token()
    sent, reached = websocket(path, bearer(value) if value else [])
    assert reached == [], "the app never ran"
    assert sent == [{"type": "websocket.close", "code": 1008}], "closed before any accept (HTTP 403)"


def test_a_good_websocket_handshake_reaches_the_app_with_its_pins() -> None:
    sent, reached = websocket(f"{PIPE}?tenant_id=globex", bearer(mint(claims=TINYBIRD)))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
    (scope,) = reached
    assert scope["embed.verified"].tenant_id == "acme" and scope["query_string"] == b"tenant_id=acme"
    unguarded, reached = websocket("/public/ws", [], protect=("/embed/",))
    assert [m["type"] for m in unguarded] == ["websocket.accept", "websocket.close"] and reached


# -- a real server -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uvicorn_port() -> Iterator[int]:
    app = VerifyingASGIMiddleware(
        asgi_app([]), verifier=Verifier(KEY), resource=EMBED, protect=("/embed/", "/api/")
    )
    with uvicorn_in_thread(app) as port:
        yield port


def _get(port: int, path: str, token: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        body = response.read()
        return response.status, json.loads(body) if body.startswith(b"{") else body
    finally:
        connection.close()


def test_real_uvicorn_refuses_what_the_issue_reproduced(uvicorn_port: int) -> None:
    scoped_token = mint(claims=TINYBIRD)
    assert _get(uvicorn_port, "/embed/other_pipe?tenant_id=globex", scoped_token) == (
        403,
        {"error": "out_of_scope"},
    )
    assert _get(uvicorn_port, "/api/other_pipe?tenant_id=globex", scoped_token) == (
        403,
        {"error": "out_of_scope"},
    )
    assert _get(uvicorn_port, "/embed/top_airlines.internal", scoped_token) == (
        403,
        {"error": "out_of_scope"},
    )
    assert _get(uvicorn_port, "/embed/top_airlines%2Fx", scoped_token) == (403, {"error": "out_of_scope"})
    assert _get(uvicorn_port, PIPE, f"{b64(DEEP[:20_000])}.e30.c2ln") == (401, {"error": "malformed"})
    assert _get(uvicorn_port, f"{PIPE}?Tenant_ID=globex", scoped_token) == (200, b"ok")
