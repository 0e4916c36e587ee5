"""Side-by-side micro-benchmark: one ``TokenIssuer.issue`` (HS256) against the hand-rolled floor.

The floor is the least code that yields the same token: the issuer's default claims (``sub``,
``resource``, ``tid``), ``iat``/``exp``/a fresh ``jti``, compact JSON, a constant header segment, base64url
and HMAC-SHA256. Both run in one process, interleaved, and the ratio of the medians is reported::

    python scripts/bench_mint.py            # from the checkout whose embed_middleware is measured
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import statistics
import time
import timeit

import jwt
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from embed_middleware import Tenant, TokenIssuer

KEY = "k" * 48
TTL = 600
HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


def floor(tenant: Tenant, resource: str | None, request: Request) -> str:
    claims = {"sub": tenant.id, "resource": resource, "tid": tenant.id}
    now = int(time.time())
    claims.update(iat=now, exp=now + TTL, jti=secrets.token_urlsafe(16))
    body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=")
    signing_input = HEADER + b"." + body
    signature = base64.urlsafe_b64encode(hmac.digest(KEY.encode(), signing_input, "sha256")).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


def main(rounds: int = 15, number: int = 5000) -> None:
    issuer = TokenIssuer(KEY, ttl=TTL, resources=["top"])
    tenant, request = Tenant("acme"), Request(EnvironBuilder().get_environ())
    for token in (issuer.issue(tenant, "top", request).token, floor(tenant, "top", request)):
        jwt.decode(token, KEY, algorithms=["HS256"])  # both must be real tokens
    ours, theirs = [], []
    for _ in range(rounds):  # interleaved, so drift on a shared machine hits both alike
        ours.append(timeit.timeit(lambda: issuer.issue(tenant, "top", request), number=number) / number)
        theirs.append(timeit.timeit(lambda: floor(tenant, "top", request), number=number) / number)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"TokenIssuer.issue {a * 1e6:.2f} µs  floor {b * 1e6:.2f} µs  ratio {a / b:.2f}x")


if __name__ == "__main__":
    main()
