"""Where a verifying middleware finds a request's token and resource, and how pinned parameters are
forced into its query string: small pure functions over a werkzeug ``Request``, each replaceable::

    VerifyingWSGIMiddleware(app, verifier=v, token_location=bearer_or_query("jwt"),
                            resource=resource_from_path("/embed/", suffix=".json"))
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote_plus, urlencode

from werkzeug.wrappers import Request

from ..errors import ConfigurationError

#: ``request -> token or None``.
TokenLocation = Callable[[Request], "str | None"]
#: ``request -> resource name or None`` (None: this request names no resource; a token that grants
#: scopes is then refused).
ResourceOf = Callable[[Request], "str | None"]


def bearer_or_query(name: str = "token") -> TokenLocation:
    """``Authorization: Bearer <token>`` first, then the ``?token=`` query parameter (iframe URLs)."""

    def locate(request: Request) -> str | None:
        scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return request.args.get(name) or None

    return locate


#: Where the verifying middleware looks for a token unless told otherwise.
DEFAULT_LOCATION = bearer_or_query()


def last_path_segment(request: Request) -> str | None:
    """The Metabase shape: ``/embed/dashboard/<token>``."""
    segment = request.path.rstrip("/").rpartition("/")[2]
    return segment or None


def resource_from_path(prefix: str, *, suffix: str | None = None) -> ResourceOf:
    """``/embed/<resource>`` -> ``resource``: exactly the one segment after ``prefix``.

    Only ``suffix`` (say ``".json"``) is stripped, and only once at the end: ``/embed/sales.internal``
    is resource ``sales.internal``, never ``sales``. Extra path below the segment (``/embed/sales/x``),
    an empty segment, or a path outside ``prefix`` name no resource, and a scoped token is refused there.
    """
    if not isinstance(prefix, str) or not prefix.startswith("/") or not prefix.endswith("/"):
        raise ConfigurationError(f"resource_from_path needs a prefix such as '/embed/', not {prefix!r}")
    if suffix is not None and (not isinstance(suffix, str) or not suffix or "/" in suffix):
        raise ConfigurationError(f"suffix must be an extension such as '.json', not {suffix!r}")

    def resource(request: Request) -> str | None:
        path = request.path
        if not path.startswith(prefix):
            return None
        name = path[len(prefix) :]
        if suffix is not None and name.endswith(suffix):
            name = name[: -len(suffix)]
        return name if name and "/" not in name else None

    return resource


def lock_query(query: str, locked: Mapping[str, Any]) -> str:
    """The query string with every pinned parameter replaced by the token's value.

    Parameters the token does not pin are kept exactly as sent (byte for byte), so the app parses
    them as it always did; pinned ones are dropped wherever they appear, in any letter case
    (``Tenant_ID=`` as well as ``tenant_id=``, for apps that match names loosely), and appended once, UTF-8.
    """
    if not locked:
        return query
    names = {name.casefold() for name in locked}
    kept = [
        pair
        for pair in query.split("&")
        if pair and unquote_plus(pair.partition("=")[0]).casefold() not in names
    ]
    pinned = [
        (name, _query_value(item))
        for name, value in locked.items()
        for item in (value if isinstance(value, list | tuple) else [value])
    ]
    return "&".join([*kept, urlencode(pinned)])


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)
