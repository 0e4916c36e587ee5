"""Secure, tenant-scoped embeds for any WSGI or ASGI app.

Wrap the app once; every placeholder your templates write with ``embed_token('name')`` (or
``embed_placeholder(request, 'name')``) arrives filled with a fresh, short-lived JWT for the request's
tenant, and placeholder-like text users put in a page stays exactly as they wrote it. See the README
for Flask, Django and FastAPI quick starts.
"""

from importlib import metadata as _metadata

from ._core.policy import DEFAULT_CONTENT_TYPES, NO_STORE, ResponsePolicy
from .asgi import EmbedASGIMiddleware, TokenEndpointASGI
from .config import EmbedConfig, HeaderDelivery, MissingTenant
from .errors import ConfigurationError, EmbedError, RevocationStoreError, TokenIssueError
from .keys import KeySet, SigningKey
from .placeholders import PlaceholderError, embed_placeholder, embed_url
from .profiles import (
    ChartioProfile,
    GenericProfile,
    MetabaseProfile,
    Profile,
    SupersetProfile,
    TinybirdProfile,
)
from .reuse import TokenReuse
from .reuse_redis import RedisTokenCache
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
    require_all,
)
from .tokens import IssuedToken, IssueEvent, TokenIssuer
from .verify import (
    REASONS,
    MemoryRevocations,
    RedisRevocations,
    RevocationStore,
    TokenRejected,
    VerifiedToken,
    Verifier,
    VerifyingASGIMiddleware,
    VerifyingWSGIMiddleware,
    bearer_or_query,
    last_path_segment,
    resource_from_path,
    verify,
)
from .wsgi import EmbedWSGIMiddleware, TokenEndpointWSGI

try:  # The installed distribution's version: one number, kept in pyproject.toml only.
    __version__ = _metadata.version("embed_middleware")
except _metadata.PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "ENVIRON_KEY",
    "NO_STORE",
    "REASONS",
    "ChartioProfile",
    "ConfigurationError",
    "EmbedASGIMiddleware",
    "EmbedConfig",
    "EmbedError",
    "EmbedWSGIMiddleware",
    "GenericProfile",
    "HeaderDelivery",
    "IssueEvent",
    "IssuedToken",
    "KeySet",
    "MemoryRevocations",
    "MetabaseProfile",
    "MissingTenant",
    "PlaceholderError",
    "PlaceholderSyntax",
    "Profile",
    "RedisRevocations",
    "RedisTokenCache",
    "Resolver",
    "ResponsePolicy",
    "RevocationStore",
    "RevocationStoreError",
    "SigningKey",
    "StreamRewriter",
    "SupersetProfile",
    "Tenant",
    "TenantKeys",
    "TinybirdProfile",
    "TokenEndpointASGI",
    "TokenEndpointWSGI",
    "TokenIssueError",
    "TokenIssuer",
    "TokenRejected",
    "TokenReuse",
    "VerifiedToken",
    "Verifier",
    "VerifyingASGIMiddleware",
    "VerifyingWSGIMiddleware",
    "as_async",
    "as_sync",
    "bearer_or_query",
    "embed_placeholder",
    "embed_url",
    "first_of",
    "from_cookie",
    "from_environ",
    "from_header",
    "from_path_prefix",
    "from_subdomain",
    "in_main_thread",
    "last_path_segment",
    "require_all",
    "resource_from_path",
    "verify",
]
