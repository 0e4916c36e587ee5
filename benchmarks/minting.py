"""Row 1: the cost of minting one token through ``TokenIssuer`` over a hand-rolled HS256 JWT.

Every page view mints at least one token, so this is the middleware's per-request price. Both sides
call the same claims hook (the Tinybird shape) and do the same per-token work: iat/exp, a fresh
``jti``, compact JSON, base64url without padding, HMAC-SHA256. The floor is the least code that
yields a token PyJWT accepts (its constant header encoded once, as any hand-rolled version would),
so the ratio is the price of the issuer's checks, claim merging and PyJWT's generality.

The issuer is configured as users must configure it now: ``resources=[...]`` names what pages may
embed (the middleware refuses an issuer without it). ``issue`` itself does not consult the list (the
exchange asks ``allows`` once per resource before minting), so the row still times one signature.

Row 1b (issue 15): the same issuer with ``reuse=300`` on a warm cache (every call a hit: the claims
hook still runs, the final claims are canonicalised and looked up, no signature), against the same
floor: the price of a page's token when the window's token is reused.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from collections.abc import Callable
from itertools import repeat
from typing import Any

import jwt
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import Tenant, TokenIssuer

from .report import Row
from .timing import interleave

SIGNING_KEY = "x" * 48
RESOURCE = "top_airlines"
WORKSPACE_ID = "f3c5e2a1-0b7d-4c8e-9a6f-2d1b3e4c5a6b"
TTL = 600
TARGET_RATIO = 1.5

#: ``(tenant, resource, request) -> token``: the shape both contenders are called with.
Mint = Callable[[Tenant, str | None, Request], object]


def tinybird_claims(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
    """The claims a Tinybird JWT carries: read one pipe, with the tenant pinned as a fixed param."""
    return {
        "workspace_id": WORKSPACE_ID,
        "name": f"embed_{tenant.id}",
        "scopes": [{"type": "PIPES:READ", "resource": resource, "fixed_params": {"tenant_id": tenant.id}}],
    }


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_HEADER_SEGMENT = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())


def hand_rolled(key: bytes) -> Callable[[Tenant, str | None, Request], str]:
    """The floor: a minimal HS256 encoder doing the same per-token work as the issuer."""

    def mint(tenant: Tenant, resource: str | None, request: Request) -> str:
        claims = tinybird_claims(tenant, resource, request)
        claims["tid"] = tenant.id  # the issuer's reserved tenant claim
        now = int(time.time())
        claims["iat"] = now
        claims["exp"] = now + TTL
        claims["jti"] = secrets.token_urlsafe(16)
        signing_input = _HEADER_SEGMENT + b"." + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        return (signing_input + b"." + _b64url(hmac.digest(key, signing_input, "sha256"))).decode("ascii")

    return mint


def check_equivalent(
    issuer: TokenIssuer, floor: Callable[[Tenant, str | None, Request], str], tenant: Tenant, request: Request
) -> None:
    """Refuses to compare unless both tokens verify with PyJWT and carry the same header and claims.

    A floor that skipped work (or produced a token nobody accepts) would flatter it; so would an
    issuer that silently minted something smaller.
    """
    key = SIGNING_KEY.encode()
    theirs = floor(tenant, RESOURCE, request)
    ours = issuer.issue(tenant, RESOURCE, request).token
    decoded = [jwt.decode(token, key, algorithms=["HS256"]) for token in (ours, theirs)]
    headers = [jwt.get_unverified_header(token) for token in (ours, theirs)]
    per_token = ("iat", "exp", "jti")
    stable = [{k: v for k, v in claims.items() if k not in per_token} for claims in decoded]
    if headers[0] != headers[1] or stable[0] != stable[1]:
        raise RuntimeError(f"tokens differ: {headers} {stable}")
    for claims in decoded:
        if claims["exp"] - claims["iat"] != TTL or len(claims["jti"]) != 22:
            raise RuntimeError(f"unexpected per-token claims: {claims}")


def _batch(mint: Mint, tenant: Tenant, request: Request, size: int) -> Callable[[], None]:
    """One timed unit: ``size`` mints, so a round lasts milliseconds, well above timer resolution."""

    def run() -> None:
        for _ in repeat(None, size):
            mint(tenant, RESOURCE, request)

    return run


def run(*, quick: bool) -> Row:
    return run_all(quick=quick)[0]


def run_all(*, quick: bool) -> list[Row]:
    rounds, batch = (10, 500) if quick else (60, 3000)
    issuer = TokenIssuer(signing_key=SIGNING_KEY, ttl=TTL, claims=tinybird_claims, resources=[RESOURCE])
    floor = hand_rolled(SIGNING_KEY.encode())
    tenant = Tenant("acme")
    request = Request(EnvironBuilder().get_environ())
    check_equivalent(issuer, floor, tenant, request)
    paired = interleave(
        _batch(issuer.issue, tenant, request, batch), _batch(floor, tenant, request, batch), rounds
    )
    ratio = paired.time_ratio
    fresh = Row(
        benchmark="mint one HS256 token (time/token)",
        ours=f"{paired.ours / batch / 1000:.2f} µs",
        floor=f"{paired.floor / batch / 1000:.2f} µs",
        ratio=f"{ratio:.2f}x",
        target=f"<= {TARGET_RATIO:.1f}x",
        met=ratio <= TARGET_RATIO,
    )
    reusing = TokenIssuer(
        signing_key=SIGNING_KEY, ttl=TTL, claims=tinybird_claims, resources=[RESOURCE], reuse=TTL // 2
    )
    first = reusing.issue(tenant, RESOURCE, request)
    if reusing.issue(tenant, RESOURCE, request) is not first:
        raise RuntimeError("the reuse row would not time cache hits")
    hits = interleave(
        _batch(reusing.issue, tenant, request, batch), _batch(floor, tenant, request, batch), rounds
    )
    reused = Row(
        benchmark="token with reuse on, cache hit (time/token)",
        ours=f"{hits.ours / batch / 1000:.2f} µs",
        floor=f"{hits.floor / batch / 1000:.2f} µs",
        ratio=f"{hits.time_ratio:.2f}x",
        target=f"< fresh ({ratio:.2f}x)",
        met=hits.time_ratio < ratio,
    )
    return [fresh, reused]
