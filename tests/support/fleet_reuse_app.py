"""The app ``test_reuse_fleet.py`` serves with gunicorn: one issuer with reuse on, per process.

``GET /token?tenant=acme&resource=sales`` answers ``<pid> <token>``: which worker process minted it,
and the token. The key comes from ``FLEET_KEY_FILE`` (its algorithm from ``FLEET_ALGORITHM``); with
``FLEET_REDIS_URL`` set, the processes share a ``RedisTokenCache``. Nothing is coordinated otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request

from embed_middleware import RedisTokenCache, SigningKey, Tenant, TokenIssuer, TokenReuse

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

WINDOW = 300


def make_app() -> object:
    key = SigningKey.from_file(os.environ["FLEET_KEY_FILE"], algorithm=os.environ["FLEET_ALGORITHM"])
    url = os.environ.get("FLEET_REDIS_URL")
    shared = RedisTokenCache(url=url, prefix=os.environ["FLEET_PREFIX"]) if url else None
    issuer = TokenIssuer(
        key, ttl=2 * WINDOW, resources=["sales", "ops"], reuse=TokenReuse(window=WINDOW, shared=shared)
    )

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        tenant = Tenant(request.args.get("tenant", "acme"))
        token = issuer.issue(tenant, request.args.get("resource", "sales"), request).token
        body = f"{os.getpid()} {token}".encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return app
