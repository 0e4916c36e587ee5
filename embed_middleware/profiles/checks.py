"""The checks the provider profiles share: setting validation at start-up, claim checks per token.

Settings fail with ``ConfigurationError`` (something to fix before serving); claims fail with
``ValueError`` naming the claim and the limit (the issuer turns it into a clean 500, no token).
Messages never carry a token, a key or a claim's value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from werkzeug.wrappers import Request

from ..errors import ConfigurationError, EmbedError
from ..rewrite import RESOURCE_NAME
from ..tenants import Tenant

#: ``(tenant, resource, request) -> mapping`` of per-request values (fixed params, env, locked params).
ValuesHook = Callable[[Tenant, "str | None", Request], Mapping[str, Any]]


class HookResultError(EmbedError, TypeError):
    """A claims hook (the issuer's, or a profile's values hook) returned something other than a dict."""


_MISSING = object()
_F = TypeVar("_F", bound=Callable[..., Any])


def nonempty_str(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def audience_ok(aud: object) -> bool:
    many = isinstance(aud, list | tuple) and bool(aud) and all(map(nonempty_str, aud))
    return nonempty_str(aud) or many


def positive_setting(value: int, what: str) -> int:
    if not positive(value):
        raise ConfigurationError(f"{what} must be a positive integer, not {value!r}")
    return value


def optional_positive(value: int | None, what: str) -> int | None:
    return None if value is None else positive_setting(value, what)


def callable_setting(value: _F | None, what: str) -> _F | None:
    if value is not None and not callable(value):
        raise ConfigurationError(f"{what} must be a callable, not {type(value).__name__}")
    return value


def id_mapping(ids: Mapping[str, int], what: str) -> dict[str, int]:
    if not isinstance(ids, Mapping):
        raise ConfigurationError(f"{what} must be a mapping of resource name to integer id")
    for key, value in ids.items():
        if not nonempty_str(key) or not positive(value):
            raise ConfigurationError(f"{what}: {key!r} must be a resource name mapped to a positive id")
    return dict(ids)


def call_hook(hook: ValuesHook, tenant: Tenant, res: str | None, req: Request, what: str) -> dict[str, Any]:
    values = hook(tenant, res, req)
    if not isinstance(values, Mapping):
        raise HookResultError(f"{what} must return a dict, not {type(values).__name__}")
    return dict(values)


def int_claim(claims: Mapping[str, Any], key: str, who: str) -> int:
    value = claims.get(key, _MISSING)
    if value is _MISSING:
        raise ConfigurationError(f"{who}: claim {key!r} is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{who}: claim {key!r} must be an integer, not {type(value).__name__}")
    return value


def scalar(value: object) -> bool:
    finite_float = isinstance(value, float) and math.isfinite(value)
    return value is None or isinstance(value, str | int) or finite_float


def check_values(values: object, where: str) -> None:
    """A JSON object of scalars or lists of scalars: what the providers' parameters accept."""
    if not isinstance(values, Mapping) or not all(isinstance(key, str) for key in values):
        raise ConfigurationError(f"{where} must be an object with string keys, not {type(values).__name__}")
    for key, value in values.items():
        if not (all(map(scalar, value)) if isinstance(value, list | tuple) else scalar(value)):
            raise ConfigurationError(
                f"{where}[{key!r}] must be a string, number, boolean or null, or a list of them"
            )


def names_setting(names: Collection[str] | None, what: str) -> frozenset[str] | None:
    """An allowlist of resource names: a collection of valid names (never one bare string)."""
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Collection):
        raise ConfigurationError(
            f"{what} must be a list of resource names, e.g. ['top_airlines'], not {names!r}"
        )
    bad = [n for n in names if not (isinstance(n, str) and RESOURCE_NAME.fullmatch(n))]
    if bad:
        raise ConfigurationError(f"{what}: {bad[:3]!r} are not resource names ([A-Za-z0-9_.:-])")
    return frozenset(names)
