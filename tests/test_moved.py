"""The package layout: the vendor side loads no embedding adapter, and every moved module path still
imports (for one release) with a DeprecationWarning that names its new home."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import embed_middleware
from embed_middleware._moved import MOVED_MODULES

#: Modules of the embedding (host) side that the verifying side must never load.
ADAPTERS = (
    "embed_middleware.wsgi",
    "embed_middleware.asgi",
    "embed_middleware.django",
    "embed_middleware.flask",
    "embed_middleware.exchange",
    "embed_middleware._core",
)


def test_the_verify_package_loads_no_embedding_adapter() -> None:
    """Imported in a fresh interpreter with the top-level package's own ``__init__`` skipped (it exports
    both sides), so whatever gets loaded is what ``verify/`` itself pulls in."""
    package_dir = str(Path(embed_middleware.__file__).parent)
    script = textwrap.dedent(
        f"""
        import sys, types
        package = types.ModuleType("embed_middleware")
        package.__path__ = [{package_dir!r}]
        sys.modules["embed_middleware"] = package
        import embed_middleware.verify as verify
        assert verify.Verifier and verify.VerifyingWSGIMiddleware and verify.VerifyingASGIMiddleware
        print("\\n".join(sorted(name for name in sys.modules if name.startswith("embed_middleware"))))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = set(result.stdout.split())
    assert "embed_middleware.verify.middleware" in loaded  # the probe did load the package
    assert not {name for name in loaded for adapter in ADAPTERS if name.startswith(adapter)}


def test_the_verify_names_import_from_the_package_and_the_top_level() -> None:
    from embed_middleware import verify as top_level_function
    from embed_middleware.verify import TokenRejected, Verifier, verify

    assert top_level_function is verify and callable(verify)
    assert issubclass(TokenRejected, embed_middleware.EmbedError)
    assert embed_middleware.Verifier is Verifier


#: Each old path, its new module, and a name that must be the same object through both.
MOVED = [
    (old, new, name)
    for (old, new), name in zip(
        MOVED_MODULES.items(),
        [
            "VerifyingWSGIMiddleware",
            "TokenRejected",
            "MemoryRevocations",
            "SupersetProfile",
            "names_setting",
            "TENANT_CLAIM",
            "ResponsePolicy",
            "DeclaredBody",
        ],
        strict=True,
    )
]


@pytest.mark.parametrize(("old", "new", "name"), MOVED)
def test_each_old_module_path_warns_and_is_the_new_module(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str, name: str
) -> None:
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_profiles_is_a_package_that_still_exports_every_name() -> None:
    from embed_middleware import profiles

    for name in ("Profile", "TinybirdProfile", "ChartioProfile", "MetabaseProfile", "GenericProfile"):
        assert getattr(profiles, name).__module__.startswith("embed_middleware.profiles.")
    assert profiles.PROFILES["superset"] is profiles.SupersetProfile
    assert set(profiles.PROFILES) == {"tinybird", "chartio", "metabase", "generic", "superset"}


@pytest.mark.parametrize("name", sorted(embed_middleware._MOVED_NAMES))
def test_each_name_moved_off_the_package_warns_and_is_the_same_object(name: str) -> None:
    module = importlib.import_module(embed_middleware._MOVED_NAMES[name])
    with pytest.warns(DeprecationWarning, match=module.__name__.replace(".", r"\.")):
        found = getattr(embed_middleware, name)
    assert found is getattr(module, name)
    assert name not in embed_middleware.__all__


def test_the_package_surface_is_what_apps_construct_or_catch() -> None:
    assert len(embed_middleware.__all__) <= 50
    for name in embed_middleware.__all__:
        assert getattr(embed_middleware, name) is not None
    with pytest.raises(AttributeError):
        embed_middleware.NoSuchName  # noqa: B018


def test_every_public_callable_says_why() -> None:
    """Docstrings on every public name and on every public method or property of the public classes."""
    missing = []
    for name in embed_middleware.__all__:
        found = getattr(embed_middleware, name)
        if callable(found) and not inspect.getdoc(found):
            missing.append(name)
        if not inspect.isclass(found):
            continue
        for attribute in dir(found):
            raw = inspect.getattr_static(found, attribute)
            if attribute.startswith("_") or not (callable(raw) or isinstance(raw, property | classmethod)):
                continue
            described = raw if isinstance(raw, property) else getattr(found, attribute)
            if not inspect.getdoc(described):
                missing.append(f"{name}.{attribute}")
    assert not missing, f"public callables without a docstring: {missing}"
