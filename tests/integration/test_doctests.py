"""The examples in the package's docstrings run: every ``>>>`` in every ``embed_middleware`` module.

A module without examples has nothing to check and passes as is; one whose examples drift from the code
fails here, with doctest's report of the first wrong line. Django is configured by
``tests.support.django_setup``, since ``embed_middleware.django`` reads its settings on import.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

from tests.support import django_setup  # noqa: F401 - configures Django once for the whole run
from tests.support.package_modules import live_module_names

MODULES = live_module_names()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see above)"


def test_the_examples_are_found() -> None:
    """The walk reaches the modules that carry examples (a finder that found nothing would pass all)."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    for name in ("embed_middleware.tenants", "embed_middleware.resolvers", "embed_middleware.templating"):
        assert sum(len(t.examples) for t in finder.find(importlib.import_module(name), name)) >= 3, name
