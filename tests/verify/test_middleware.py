"""The verifying middleware under WSGI and ASGI: what a refused request gets, what an accepted app sees."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fastapi import FastAPI
from starlette.requests import Request as StarletteRequest
from webtest import TestApp
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import (
    ConfigurationError,
    MemoryRevocations,
    RedisRevocations,
    RevocationStore,
    RevocationStoreError,
    SigningKey,
    Tenant,
    TinybirdProfile,
    TokenIssuer,
    VerifiedToken,
    Verifier,
    VerifyingASGIMiddleware,
    VerifyingWSGIMiddleware,
    resource_from_path,
)
from embed_middleware.verify import bearer_or_query, last_path_segment, lock_query
from tests.support.parity import call_asgi, check_sequence, http_scope
from tests.support.uvicorn_thread import uvicorn_in_thread

SECRET = "middleware-verify-secret-" + "m" * 39
KEY = SigningKey(SECRET)
KINDS = ["wsgi", "asgi"]
EMBED = resource_from_path("/embed/")

Seen = list[dict[str, Any]]


def mint(tenant: str | Tenant = "acme", resource: str | None = "top", **options: Any) -> str:
    who = tenant if isinstance(tenant, Tenant) else Tenant(tenant)
    request = Request(EnvironBuilder("/page").get_environ())
    return TokenIssuer(options.pop("key", KEY), **options).issue(who, resource, request).token


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


@dataclass
class Outcome:
    status: int
    headers: dict[str, str]
    body: bytes
    seen: Seen

    def json(self) -> Any:
        return json.loads(self.body)

    def query(self) -> list[tuple[str, str]]:
        """The query string the app saw, as (name, value) pairs in order."""
        (call,) = self.seen
        return list(call["query"])


def wsgi_app(seen: Seen) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        seen.append({"verified": environ.get("embed.verified"), "query": query})
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    return app


def asgi_app(seen: Seen) -> Callable[..., Any]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        state = scope.get("state", {}).get("embed_verified")
        verified = scope.get("embed.verified")
        seen.append({"verified": verified, "query": query, "state": state, "thread": threading.get_ident()})
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def serve_scope(scope: dict[str, Any], **options: Any) -> Outcome:
    options.setdefault("verifier", Verifier(KEY))
    options.setdefault("resource", EMBED)
    seen: Seen = []
    messages = asyncio.run(call_asgi(VerifyingASGIMiddleware(asgi_app(seen), **options), scope))
    check_sequence(messages)
    headers = {k.decode().lower(): v.decode() for k, v in messages[0]["headers"]}
    return Outcome(messages[0]["status"], headers, b"".join(m["body"] for m in messages[1:]), seen)


def serve(kind: str, path: str, headers: Iterable[tuple[str, str]] = (), **options: Any) -> Outcome:
    """One GET through the verifying middleware of ``kind`` around an app that records what it saw."""
    if kind == "asgi":
        return serve_scope(http_scope(path, headers=headers), **options)
    options.setdefault("verifier", Verifier(KEY))
    options.setdefault("resource", EMBED)
    seen: Seen = []
    app = TestApp(VerifyingWSGIMiddleware(wsgi_app(seen), **options))
    response = app.get(path, headers=dict(headers), expect_errors=True)
    return Outcome(response.status_int, {k.lower(): v for k, v in response.headerlist}, response.body, seen)


class RecordingStore(RevocationStore):
    """A store that remembers which thread asked it, and can be down."""

    def __init__(self, *, blocking: bool, down: bool = False) -> None:
        self.blocking = blocking
        self.down = down
        self.threads: list[int] = []

    def revoke(self, tenant_id: str, before: float | None = None) -> float:
        raise NotImplementedError

    def cutoff(self, tenant_id: str) -> float | None:
        self.threads.append(threading.get_ident())
        if self.down:
            raise RevocationStoreError("store down")
        return None


def _revoked_store() -> MemoryRevocations:
    store = MemoryRevocations()
    store.revoke("acme", before=time.time() + 1)
    return store


# -- refused requests ----------------------------------------------------------------------------

Refusal = Callable[[], tuple["str | None", dict[str, Any]]]
#: (reason, status, () -> (token or None, Verifier options)); every request is a GET of /embed/top.
REFUSALS: list[tuple[str, int, Refusal]] = [
    ("missing_token", 401, lambda: (None, {})),
    ("malformed", 401, lambda: ("garbage", {})),
    ("invalid_signature", 401, lambda: (mint(key=SigningKey("x" * 32 + SECRET)), {})),
    ("expired", 401, lambda: (mint(clock=lambda: time.time() - 700, ttl=600), {})),
    ("out_of_scope", 403, lambda: (mint(resource="other"), {})),
    ("revoked", 401, lambda: (mint(), {"revocations": _revoked_store()})),
    (
        "revocation_unavailable",
        503,
        lambda: (mint(), {"revocations": RecordingStore(blocking=False, down=True)}),
    ),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("reason", "status", "build"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refused_request_never_reaches_the_app(kind: str, reason: str, status: int, build: Refusal) -> None:
    token, options = build()
    headers = bearer(token) if token else []
    outcome = serve(kind, "/embed/top", headers, verifier=Verifier(KEY, **options), resource=EMBED)
    assert outcome.seen == [], "the app never ran"
    assert (outcome.status, outcome.json()) == (status, {"error": reason})
    assert outcome.headers["content-type"].startswith("application/json")
    assert "no-store" in outcome.headers["cache-control"].split(", ")
    challenge = outcome.headers.get("www-authenticate")
    if reason == "missing_token":
        assert challenge == "Bearer", "RFC 6750 3.1: no error code without a token"
    elif status == 401:
        assert challenge is not None and challenge.startswith('Bearer error="invalid_token"')
        assert f'error_description="{reason}"' in challenge
    else:
        assert challenge is None, "403 and 503 are no authentication challenge"


# -- where the token is, what is guarded ---------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_token_from_bearer_header_or_query(kind: str) -> None:
    token = mint()
    for path, headers in [
        ("/embed/top", [("Authorization", f"Bearer {token}")]),
        ("/embed/top", [("Authorization", f"bearer {token}")]),
        (f"/embed/top?token={token}", []),
        (f"/embed/top?token={token}", [("Authorization", "Basic dXNlcjpwdw==")]),
        ("/embed/top?token=garbage", [("Authorization", f"Bearer {token}")]),
    ]:
        outcome = serve(kind, path, headers, resource=EMBED)
        assert outcome.status == 200, (path, headers)
        assert outcome.seen[0]["verified"].tenant_id == "acme"
    assert serve(kind, "/embed/top?token=", [("Authorization", "Bearer ")]).json() == {
        "error": "missing_token"
    }


@pytest.mark.parametrize("kind", KINDS)
def test_token_as_the_last_path_segment(kind: str) -> None:
    good = serve(kind, f"/embed/dashboard/{mint(resource=None)}", token_location=last_path_segment)
    assert good.status == 200 and good.seen[0]["verified"].claims["sub"] == "acme"
    bad = serve(kind, "/embed/dashboard/not-a-token", token_location=last_path_segment)
    assert (bad.status, bad.json(), bad.seen) == (401, {"error": "malformed"}, [])


@pytest.mark.parametrize("kind", KINDS)
def test_resource_from_path_drives_the_scope_check(kind: str) -> None:
    headers = bearer(mint(resource="top"))
    json_suffix = resource_from_path("/embed/", suffix=".json")
    for path, resource in [
        ("/embed/top", EMBED),
        ("/embed/top", json_suffix),
        ("/embed/top.json", json_suffix),
    ]:
        outcome = serve(kind, path, headers, resource=resource)
        assert outcome.status == 200 and outcome.seen[0]["verified"].resource == "top", path
    for path in ("/embed/other", "/embed/top.json", "/embed/top/rows", "/embed/", "/embed/top.internal"):
        refused = serve(kind, path, headers, resource=EMBED)
        assert (refused.status, refused.json(), refused.seen) == (403, {"error": "out_of_scope"}, []), path


@pytest.mark.parametrize("kind", KINDS)
def test_only_protected_paths_are_verified(kind: str) -> None:
    public = serve(kind, "/public/page?x=1", protect=("/embed/",))
    assert public.status == 200 and public.seen[0]["verified"] is None
    assert public.query() == [("x", "1")]
    assert serve(kind, "/embed/top", protect=("/embed/",)).status == 401


def test_token_location_and_resource_helpers() -> None:
    def request(path: str, headers: Iterable[tuple[str, str]] = ()) -> Request:
        return Request(EnvironBuilder(path, headers=list(headers)).get_environ())

    locate = bearer_or_query("jwt")
    assert locate(request("/?jwt=q", [("Authorization", "Bearer h")])) == "h"
    assert locate(request("/?jwt=q", [("Authorization", "Token h")])) == "q"
    assert locate(request("/?token=q")) is None
    assert last_path_segment(request("/embed/dashboard/abc.def.ghi/")) == "abc.def.ghi"
    assert last_path_segment(request("/")) is None
    paths = ("/embed/top", "/embed/top.csv", "/embed/", "/other/top", "/embed/top/x", "/embed/top.json/x")
    assert [EMBED(request(p)) for p in paths] == ["top", "top.csv", None, None, None, None]
    json_suffix = resource_from_path("/embed/", suffix=".json")
    paths = ("/embed/top.json", "/embed/top", "/embed/top.json.json", "/embed/.json", "/embed/top.jsonx")
    assert [json_suffix(request(p)) for p in paths] == ["top", "top", "top.json", None, "top.jsonx"]


# -- what an accepted request carries ------------------------------------------------------------


def test_asgi_app_sees_the_token_in_scope_and_state() -> None:
    scope = http_scope("/embed/top", headers=bearer(mint()))
    scope["state"] = {"from_lifespan": 1}
    outcome = serve_scope(scope, resource=EMBED)
    (call,) = outcome.seen
    assert isinstance(call["verified"], VerifiedToken) and call["state"] is call["verified"]
    assert call["verified"].tenant_id == "acme" and call["verified"].resource == "top"
    assert scope["state"]["from_lifespan"] == 1


def test_starlette_request_state_carries_the_verified_token() -> None:
    app = FastAPI()
    reached: list[str] = []

    @app.get("/embed/{name}")
    async def chart(name: str, request: StarletteRequest) -> dict[str, Any]:
        verified: VerifiedToken = request.state.embed_verified
        reached.append(name)
        return {"tenant": verified.tenant_id, "params": request.query_params.getlist("tenant")}

    app.add_middleware(VerifyingASGIMiddleware, verifier=Verifier(KEY), resource=EMBED)
    token = mint(Tenant("acme", locked_claims={"params": {"tenant": "acme"}}))
    messages = asyncio.run(call_asgi(app, http_scope(f"/embed/top?tenant=evil&token={token}")))
    assert messages[0]["status"] == 200
    assert json.loads(messages[1]["body"]) == {"tenant": "acme", "params": ["acme"]}
    refused = asyncio.run(call_asgi(app, http_scope("/embed/top")))
    assert refused[0]["status"] == 401 and reached == ["top"]


# -- locked parameters ---------------------------------------------------------------------------

LOCKED = Tenant("acme", locked_claims={"fixed_params": {"tenant": "acme", "region": ["eu", "us"]}})


@pytest.mark.parametrize("kind", KINDS)
def test_locked_params_override_the_query_string(kind: str) -> None:
    headers = bearer(mint(LOCKED))
    outcome = serve(kind, "/embed/top?tenant=evil&region=x&page=2&tenant=worse", headers, resource=EMBED)
    assert outcome.status == 200
    assert sorted(outcome.query()) == [("page", "2"), ("region", "eu"), ("region", "us"), ("tenant", "acme")]
    untouched = serve(kind, "/embed/top?tenant=evil&page=2", headers, resource=EMBED, lock_params=False)
    assert untouched.query() == [("tenant", "evil"), ("page", "2")]
    assert untouched.seen[0]["verified"].locked["tenant"] == "acme", "still known, just not applied"


@pytest.mark.parametrize("kind", KINDS)
def test_tinybird_pipe_fixed_params_are_locked_per_pipe(kind: str) -> None:
    profile = TinybirdProfile("ws", fixed_params=lambda tenant, pipe, request: {"org": tenant.id})
    outcome = serve(
        kind, "/embed/sales?org=evil", bearer(mint(resource="sales", claims=profile)), resource=EMBED
    )
    assert outcome.status == 200 and outcome.query() == [("org", "acme")]


def test_lock_query_replaces_repeats_and_keeps() -> None:
    locked = {"tenant": "acme", "ids": [1, 2], "flag": True, "none": None, "n": 5}
    query = lock_query("a=1&tenant=evil&ids=9&b=x%26y&tenant=again", locked)
    assert query == "a=1&b=x%26y&tenant=acme&ids=1&ids=2&flag=true&none=&n=5"
    assert lock_query("a=1&b", {}) == "a=1&b"


def test_asgi_raw_non_ascii_query_bytes_do_not_crash_an_accepted_request() -> None:
    scope = http_scope("/embed/top", headers=bearer(mint()))
    scope["query_string"] = b"q=caf\xc3\xa9&raw=\xff"
    outcome = serve_scope(scope, resource=EMBED)
    assert outcome.status == 200 and len(outcome.seen) == 1


# -- revocation stores under ASGI ----------------------------------------------------------------


@pytest.mark.parametrize("blocking", [True, False])
def test_a_blocking_store_is_asked_off_the_event_loop(blocking: bool) -> None:
    store = RecordingStore(blocking=blocking)
    outcome = serve_scope(
        http_scope("/embed/top", headers=bearer(mint())), verifier=Verifier(KEY, revocations=store)
    )
    assert outcome.status == 200
    (asked,) = store.threads
    loop_thread = outcome.seen[0]["thread"]
    assert (asked != loop_thread) is blocking


@pytest.mark.parametrize("kind", KINDS)
def test_unreachable_redis_answers_503(kind: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the request: nothing listens there
    store = RedisRevocations(url=f"redis://127.0.0.1:{port}/0?socket_connect_timeout=0.5")
    try:
        outcome = serve(kind, "/embed/top", bearer(mint()), verifier=Verifier(KEY, revocations=store))
    finally:
        store.close()
    assert (outcome.status, outcome.json(), outcome.seen) == (503, {"error": "revocation_unavailable"}, [])


def test_lifespan_scopes_pass_and_a_verifier_is_required() -> None:
    seen: list[str] = []

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def nothing() -> MutableMapping[str, Any]:
        return {}

    async def ignore(message: MutableMapping[str, Any]) -> None:
        return None

    middleware = VerifyingASGIMiddleware(app, verifier=Verifier(KEY), resource=EMBED)
    asyncio.run(middleware({"type": "lifespan"}, nothing, ignore))
    assert seen == ["lifespan"]
    with pytest.raises(ConfigurationError):
        VerifyingWSGIMiddleware(wsgi_app([]), verifier=KEY, resource=EMBED)  # type: ignore[arg-type]


# -- a real server -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uvicorn_port() -> Iterator[int]:
    app = VerifyingASGIMiddleware(asgi_app([]), verifier=Verifier(KEY), resource=EMBED, protect=("/embed/",))
    with uvicorn_in_thread(app) as port:
        yield port


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_real_uvicorn_answers_401_and_200(uvicorn_port: int) -> None:
    status, headers, body = _get(uvicorn_port, "/embed/top", {})
    assert (status, json.loads(body), headers["www-authenticate"]) == (
        401,
        {"error": "missing_token"},
        "Bearer",
    )
    assert headers["content-length"] == str(len(body)) and "no-store" in headers["cache-control"]
    status, headers, body = _get(uvicorn_port, "/embed/top", {"Authorization": f"Bearer {mint()}"})
    assert (status, body) == (200, b"ok")
    status, _, body = _get(uvicorn_port, "/embed/other", {"Authorization": f"Bearer {mint()}"})
    assert (status, json.loads(body)) == (403, {"error": "out_of_scope"})
