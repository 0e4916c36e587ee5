"""Old module paths kept for one release: each warns once, then *is* the module that replaced it."""

from __future__ import annotations

import importlib
import sys
import warnings


def moved(old: str, new: str) -> None:
    """Makes ``import old`` warn (DeprecationWarning, at the importing line) and return module ``new``.

    The old name is bound to the new module itself, not to a copy of its names, so private helpers
    and monkeypatching keep working through the old path during the deprecation release.
    """
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release: import from {new}",
        DeprecationWarning,
        stacklevel=3,
    )
    sys.modules[old] = importlib.import_module(new)
