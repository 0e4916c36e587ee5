"""Where one response is (``Phase``) and what it waits for (``Need``): the core's two small values."""

from __future__ import annotations

import enum
from typing import NamedTuple


class Phase(enum.IntEnum):
    """Where one response is. ``*HELD``: its head is not sent yet; ``*_SENT``: the body is flowing;
    ``*ENDED``: the final chunk was fed. PASS: the body goes as written; HEADLESS: the HEAD of a page
    (no body of the app's); REWRITE: the body is rewritten. (An IntEnum: the hot path tests membership
    several times per response, and an int hashes in C.)"""

    AWAITING_START = 0
    PASS_HELD = 1
    HEADLESS_HELD = 2
    REWRITE_HELD = 3
    PASS_SENT = 4
    HEADLESS_SENT = 5
    REWRITE_SENT = 6
    PASS_ENDED = 7
    HEADLESS_ENDED = 8
    REWRITE_ENDED = 9
    #: The app's response was replaced by our 500.
    FAILED = 10


# The members the hot path compares against, as module names: a global costs a third of what an Enum
# class attribute does, and a page makes a dozen such comparisons.
AWAITING_START = Phase.AWAITING_START
PASS_HELD = Phase.PASS_HELD
HEADLESS_HELD = Phase.HEADLESS_HELD
REWRITE_HELD = Phase.REWRITE_HELD
FAILED = Phase.FAILED

HELD = frozenset({Phase.AWAITING_START, Phase.PASS_HELD, Phase.HEADLESS_HELD, Phase.REWRITE_HELD})
ENDED = frozenset({Phase.PASS_ENDED, Phase.HEADLESS_ENDED, Phase.REWRITE_ENDED, Phase.FAILED})
PASSES = frozenset({Phase.PASS_HELD, Phase.PASS_SENT, Phase.PASS_ENDED})
HEADLESS = frozenset({Phase.HEADLESS_HELD, Phase.HEADLESS_SENT, Phase.HEADLESS_ENDED})
REWRITES = frozenset({Phase.REWRITE_HELD, Phase.REWRITE_SENT, Phase.REWRITE_ENDED})
SEND = {
    Phase.PASS_HELD: Phase.PASS_SENT,
    Phase.HEADLESS_HELD: Phase.HEADLESS_SENT,
    Phase.REWRITE_HELD: Phase.REWRITE_SENT,
}
END = {
    Phase.PASS_HELD: Phase.PASS_ENDED,
    Phase.PASS_SENT: Phase.PASS_ENDED,
    Phase.HEADLESS_HELD: Phase.HEADLESS_ENDED,
    Phase.HEADLESS_SENT: Phase.HEADLESS_ENDED,
    Phase.REWRITE_HELD: Phase.REWRITE_ENDED,
    Phase.REWRITE_SENT: Phase.REWRITE_ENDED,
}


class Need(NamedTuple):
    """What the exchange needs before it can go on: satisfy it with ``provide`` (after awaiting
    ``tokens.settle()`` when ``tenant`` is set, from async code), then call ``resume()``."""

    #: The tenant is not resolved yet (async adapters settle it first; sync ones let provide do it).
    tenant: bool
    #: Resources whose tokens must be minted (the claims hook runs then).
    resources: tuple[str | None, ...] = ()
    #: The header predicate must be asked (and the header token minted if it says yes).
    header: bool = False

    @property
    def calls_hooks(self) -> bool:
        """Whether satisfying it runs the claims hook or the header predicate (Django: its sync thread)."""
        return bool(self.resources) or self.header
