"""Everything the library raises on purpose is an ``EmbedError``; every bad setting a ``ConfigurationError``.

An app writes ``except EmbedError`` once and catches them all, and ``except ConfigurationError`` at
start-up to tell a setting to fix from a request gone bad. The walk imports every module of the package,
so an exception class added anywhere later is held to the same rule.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

from embed_middleware import ConfigurationError, Tenant, TokenIssuer, first_of, from_environ, require_all
from embed_middleware.errors import EmbedError, RevocationStoreError, TokenIssueError
from embed_middleware.placeholders import PlaceholderError
from tests.support import django_setup  # noqa: F401 - configures Django once: embed_middleware.django imports its settings
from tests.support.package_modules import live_module_names


def exception_classes() -> dict[str, type[BaseException]]:
    """Every public exception class defined in the package, by ``module.Name``."""
    found: dict[str, type[BaseException]] = {}
    for name in live_module_names():
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__.startswith("embed_middleware")
                and not attribute.startswith("_")
            ):
                found[f"{value.__module__}.{value.__name__}"] = value
    return found


def test_the_walk_finds_the_known_exceptions() -> None:
    found = set(exception_classes().values())
    assert {EmbedError, ConfigurationError, TokenIssueError, RevocationStoreError, PlaceholderError} <= found


@pytest.mark.parametrize("name", sorted(exception_classes()))
def test_every_public_exception_is_an_embed_error(name: str) -> None:
    assert issubclass(exception_classes()[name], EmbedError), f"{name} must derive from EmbedError"


def test_configuration_error_is_still_a_value_error() -> None:
    """Code written before ``EmbedError`` caught ``ValueError`` around a constructor: it still works."""
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(PlaceholderError, ValueError)
    assert issubclass(TokenIssueError, RuntimeError)


def flask_embed_with_a_request_resolver() -> Any:
    from embed_middleware.flask import Embed

    return Embed(issuer=TokenIssuer("k" * 40, resources=["top"]), resolver=lambda request: None)  # type: ignore[arg-type,misc]


BAD_SETTINGS = {
    "tenant id with a newline": lambda: Tenant("acme\n"),
    "tenant id not a str": lambda: Tenant(7),  # type: ignore[arg-type]
    "locked claims not a mapping": lambda: Tenant("acme", ["org"]),  # type: ignore[arg-type]
    "resources as one string": lambda: Tenant("acme", resources="top"),
    "claims= and locked_claims=": lambda: Tenant("acme", {}, claims={}),
    "from_environ vary as a string": lambda: from_environ(vary="Cookie"),
    "first_of of nothing": lambda: first_of(),
    "require_all of one": lambda: require_all(from_environ()),
    "a Flask resolver taking the request": flask_embed_with_a_request_resolver,
}


@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
def test_a_bad_setting_is_a_configuration_error(case: str) -> None:
    with pytest.raises(ConfigurationError):
        BAD_SETTINGS[case]()
