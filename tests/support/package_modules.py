"""The package's modules as a walk finds them, without the old paths kept for one release.

Importing an old path warns (and the suite turns warnings into errors), so suites that import every
module skip those; the layout tests check the old paths on their own.
"""

from __future__ import annotations

import pkgutil

import embed_middleware
from embed_middleware._moved import MOVED_MODULES


def live_module_names() -> list[str]:
    """``embed_middleware`` and every submodule that is not a deprecated alias, sorted."""
    walked = pkgutil.walk_packages(embed_middleware.__path__, "embed_middleware.")
    return ["embed_middleware", *sorted(info.name for info in walked if info.name not in MOVED_MODULES)]
