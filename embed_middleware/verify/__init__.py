"""The vendor side: what a self-hosted embedded app checks before it serves a chart.

The host app mints with :class:`~embed_middleware.TokenIssuer`; the embedded app checks with the same
keys, or their public half::

    from embed_middleware.verify import Verifier, VerifyingWSGIMiddleware, resource_from_path
    verifier = Verifier(KeySet.from_jwks(jwks_json), audience="charts", leeway=30)
    verified = verifier.verify(token, resource="top_airlines")   # raises TokenRejected

Modules: :mod:`.verifier` (``Verifier``, ``verify``), :mod:`.claims` (``TokenRejected``, the reasons,
``VerifiedToken``, scopes and locked parameters), :mod:`.middleware` (WSGI/ASGI middleware),
:mod:`.locate` (where a request's token and resource are) and :mod:`.revocation` (cut-off stores).
This package never imports the embedding adapters (wsgi, asgi, django, flask), so a
vendor app that only verifies loads none of them.
"""

from __future__ import annotations

from .claims import REASONS, TokenRejected, VerifiedToken, default_locked_params, default_scopes
from .locate import bearer_or_query, last_path_segment, lock_query, resource_from_path
from .middleware import STATE_KEY, VERIFIED_KEY, VerifyingASGIMiddleware, VerifyingWSGIMiddleware
from .revocation import MemoryRevocations, RedisRevocations, RevocationStore, token_revoked
from .verifier import MAX_LEEWAY, MAX_TOKEN_LENGTH, Verifier, verify

__all__ = [
    "MAX_LEEWAY",
    "MAX_TOKEN_LENGTH",
    "REASONS",
    "STATE_KEY",
    "VERIFIED_KEY",
    "MemoryRevocations",
    "RedisRevocations",
    "RevocationStore",
    "TokenRejected",
    "VerifiedToken",
    "Verifier",
    "VerifyingASGIMiddleware",
    "VerifyingWSGIMiddleware",
    "bearer_or_query",
    "default_locked_params",
    "default_scopes",
    "last_path_segment",
    "lock_query",
    "resource_from_path",
    "token_revoked",
    "verify",
]
