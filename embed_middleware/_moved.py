"""Old module paths kept for one release: each warns once, then *is* the module that replaced it."""

from __future__ import annotations

import importlib
import sys
import warnings

#: Every old module path kept for one release, and where its code lives now: the one list the shims,
#: the docs and the tests read (a walk over the package skips these, since importing one warns).
MOVED_MODULES: dict[str, str] = {
    "embed_middleware.verifying": "embed_middleware.verify.middleware",
    "embed_middleware.verify_claims": "embed_middleware.verify.claims",
    "embed_middleware.revocation": "embed_middleware.verify.revocation",
    "embed_middleware.superset_profile": "embed_middleware.profiles.superset",
    "embed_middleware.claim_checks": "embed_middleware.profiles.checks",
    "embed_middleware.tenant_binding": "embed_middleware.jwk",
    "embed_middleware.policy": "embed_middleware._core.policy",
    "embed_middleware.framing": "embed_middleware._core.framing",
}


def moved(old: str) -> None:
    """Makes ``import old`` warn (DeprecationWarning, at the importing line) and return module ``new``.

    The old name is bound to the new module itself, not to a copy of its names, so private helpers
    and monkeypatching keep working through the old path during the deprecation release.
    """
    new = MOVED_MODULES[old]
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release: import from {new}",
        DeprecationWarning,
        stacklevel=3,
    )
    sys.modules[old] = importlib.import_module(new)
