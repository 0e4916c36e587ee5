"""Secure, tenant-scoped embeds for any WSGI or ASGI app.

Wrap the app once; every page's ``<JWT_TOKEN>`` placeholders arrive filled with a fresh, short-lived
JWT for the request's tenant. See the README for Flask, Django and FastAPI quick starts.
"""

from .asgi import EmbedASGIMiddleware
from .config import EmbedConfig, HeaderDelivery, MissingTenant
from .errors import ConfigurationError, TokenIssueError
from .policy import DEFAULT_CONTENT_TYPES, NO_STORE, ResponsePolicy
from .rewrite import PlaceholderSyntax, StreamRewriter
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
)
from .tokens import IssuedToken, TokenIssuer
from .wsgi import EmbedWSGIMiddleware

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "ENVIRON_KEY",
    "NO_STORE",
    "ConfigurationError",
    "EmbedASGIMiddleware",
    "EmbedConfig",
    "EmbedWSGIMiddleware",
    "HeaderDelivery",
    "IssuedToken",
    "MissingTenant",
    "PlaceholderSyntax",
    "Resolver",
    "ResponsePolicy",
    "StreamRewriter",
    "Tenant",
    "TokenIssueError",
    "TokenIssuer",
    "as_async",
    "as_sync",
    "first_of",
    "from_cookie",
    "from_environ",
    "from_header",
    "from_path_prefix",
    "from_subdomain",
]
