"""Hypothesis profiles: ``default`` for `make test`, ``fast`` (``HYPOTHESIS_PROFILE=fast``) for `make check`.

A test that asks for more examples than the default writes ``@settings(max_examples=examples(1500))``:
an explicit ``max_examples`` would otherwise override the profile, and the fast lane would still run the
full count.
"""

from __future__ import annotations

import os

from hypothesis import settings

#: Enough to exercise every strategy's branches once or twice; the full counts run in `make test`.
FAST_EXAMPLES = 25

settings.register_profile("fast", max_examples=FAST_EXAMPLES, deadline=None)


def load_from_environment() -> None:
    """Loads the profile ``HYPOTHESIS_PROFILE`` names (``default`` when unset); an unknown name fails."""
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def examples(full: int) -> int:
    """``full`` examples, or at most ``FAST_EXAMPLES`` under the fast profile."""
    return min(full, FAST_EXAMPLES) if settings.get_current_profile_name() == "fast" else full
