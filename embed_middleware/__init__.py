"""Secure, tenant-scoped embeds for any WSGI or ASGI app.

Wrap the app once; every placeholder your templates write with ``embed_placeholder('name')`` arrives
filled with a fresh, short-lived JWT for the request's tenant, and placeholder-like text users put in a
page stays exactly as they wrote it. The same issuer mints for CLIs and background jobs:

>>> from embed_middleware import Tenant, TokenIssuer
>>> issuer = TokenIssuer("a-secret-of-at-least-32-bytes-" + "x" * 18, resources=["sales"])
>>> issued = issuer.issue(Tenant("acme"), "sales")
>>> issued.token.count("."), issued.expires_at - issued.issued_at
(2, 600)

The names here are what an app constructs or catches; the rest lives in its module (for instance
``embed_middleware.verify.REASONS``). See the README for Flask, Django and FastAPI quick starts.
"""

import warnings as _warnings
from importlib import import_module as _import_module
from importlib import metadata as _metadata
from typing import Any as _Any

from .asgi import EmbedASGIMiddleware, TokenEndpointASGI
from .config import EmbedOptions, HeaderDelivery
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
from .tenant_keys import TenantKeys
from .tenants import (
    Resolver,
    Tenant,
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
    MemoryRevocations,
    RedisRevocations,
    RevocationStore,
    TokenRejected,
    VerifiedToken,
    Verifier,
    VerifyingASGIMiddleware,
    VerifyingWSGIMiddleware,
    resource_from_path,
    verify,
)
from .wsgi import EmbedWSGIMiddleware, TokenEndpointWSGI

try:  # The installed distribution's version: one number, kept in pyproject.toml only.
    __version__ = _metadata.version("embed_middleware")
except _metadata.PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ChartioProfile",
    "ConfigurationError",
    "EmbedASGIMiddleware",
    "EmbedError",
    "EmbedOptions",
    "EmbedWSGIMiddleware",
    "GenericProfile",
    "HeaderDelivery",
    "IssueEvent",
    "IssuedToken",
    "KeySet",
    "MemoryRevocations",
    "MetabaseProfile",
    "PlaceholderError",
    "Profile",
    "RedisRevocations",
    "RedisTokenCache",
    "Resolver",
    "RevocationStore",
    "RevocationStoreError",
    "SigningKey",
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
    "embed_placeholder",
    "embed_url",
    "first_of",
    "from_cookie",
    "from_environ",
    "from_header",
    "from_path_prefix",
    "from_subdomain",
    "in_main_thread",
    "require_all",
    "resource_from_path",
    "verify",
]

#: Names that were importable from the package itself before 0.2, and the module that holds each now:
#: they still work for one release, with a DeprecationWarning that says where to import them from.
_MOVED_NAMES = {
    "DEFAULT_CONTENT_TYPES": "embed_middleware._core.policy",
    "NO_STORE": "embed_middleware._core.policy",
    "ResponsePolicy": "embed_middleware._core.policy",
    "EmbedConfig": "embed_middleware.config",
    "MissingTenant": "embed_middleware.config",
    "PlaceholderSyntax": "embed_middleware.rewrite",
    "StreamRewriter": "embed_middleware.rewrite",
    "ENVIRON_KEY": "embed_middleware.tenants",
    "as_async": "embed_middleware.tenants",
    "as_sync": "embed_middleware.tenants",
    "REASONS": "embed_middleware.verify",
    "bearer_or_query": "embed_middleware.verify",
    "last_path_segment": "embed_middleware.verify",
}


def __getattr__(name: str) -> _Any:
    """The names moved out of the package's surface, found where they live now, with a warning."""
    module = _MOVED_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'embed_middleware' has no attribute {name!r}")
    _warnings.warn(
        f"embed_middleware.{name} is deprecated at the top level and goes in the next release: "
        f"import it from {module}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(_import_module(module), name)
