"""Secure, tenant-scoped embeds for any WSGI or ASGI app.

Wrap the app once; every page's ``<JWT_TOKEN>`` placeholders arrive filled with a fresh, short-lived
JWT for the request's tenant. See the README for Flask, Django and FastAPI quick starts.
"""

from .asgi import EmbedASGIMiddleware
from .config import EmbedConfig, HeaderDelivery, MissingTenant
from .errors import ConfigurationError, RevocationStoreError, TokenIssueError
from .keys import KeySet, SigningKey
from .policy import DEFAULT_CONTENT_TYPES, NO_STORE, ResponsePolicy
from .profiles import ChartioProfile, GenericProfile, MetabaseProfile, Profile, TinybirdProfile
from .revocation import MemoryRevocations, RedisRevocations, RevocationStore
from .rewrite import PlaceholderSyntax, StreamRewriter
from .tenant_keys import TenantKeys
from .tenants import (
    ENVIRON_KEY,
    Resolver,
    Tenant,
    as_async,
    as_sync,
    first_of,
    from_cookie,
    from_environ,
    from_header,
    from_path_prefix,
    from_subdomain,
    in_main_thread,
)
from .tokens import IssuedToken, IssueEvent, TokenIssuer
from .verify import REASONS, TokenRejected, VerifiedToken, Verifier, verify
from .verifying import (
    VerifyingASGIMiddleware,
    VerifyingWSGIMiddleware,
    bearer_or_query,
    last_path_segment,
    resource_from_path,
)
from .wsgi import EmbedWSGIMiddleware

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "ENVIRON_KEY",
    "NO_STORE",
    "REASONS",
    "ChartioProfile",
    "ConfigurationError",
    "EmbedASGIMiddleware",
    "EmbedConfig",
    "EmbedWSGIMiddleware",
    "GenericProfile",
    "HeaderDelivery",
    "IssueEvent",
    "IssuedToken",
    "KeySet",
    "MemoryRevocations",
    "MetabaseProfile",
    "MissingTenant",
    "PlaceholderSyntax",
    "Profile",
    "RedisRevocations",
    "Resolver",
    "ResponsePolicy",
    "RevocationStore",
    "RevocationStoreError",
    "SigningKey",
    "StreamRewriter",
    "Tenant",
    "TenantKeys",
    "TinybirdProfile",
    "TokenIssueError",
    "TokenIssuer",
    "TokenRejected",
    "VerifiedToken",
    "Verifier",
    "VerifyingASGIMiddleware",
    "VerifyingWSGIMiddleware",
    "as_async",
    "as_sync",
    "bearer_or_query",
    "first_of",
    "from_cookie",
    "from_environ",
    "from_header",
    "from_path_prefix",
    "from_subdomain",
    "in_main_thread",
    "last_path_segment",
    "resource_from_path",
    "verify",
]
