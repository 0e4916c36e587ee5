"""A token's life: the one 24-hour cap (issuer, profiles, verifier) and its instants in words.

A copied iframe URL must stop working within a day whatever the settings (Chartio's cap, and ours),
so the issuer refuses a longer ``ttl`` at start-up and the verifier refuses a token whose ``exp`` is
more than this after its ``iat``; the revocation stores keep a cut-off for this long (plus leeway).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import ConfigurationError

#: The longest lifetime (``exp - iat``) of any token: 24 hours.
MAX_TTL = 24 * 60 * 60


def ttl_setting(ttl: object, what: str = "ttl") -> int:
    """``ttl`` checked as a whole number of seconds between 1 and :data:`MAX_TTL` (24 hours)."""
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= MAX_TTL:
        raise ConfigurationError(
            f"{what} must be a whole number of seconds between 1 and {MAX_TTL} (24 hours), not {ttl!r}"
        )
    return ttl


def within_cap(claims: Mapping[str, Any], cap: int = MAX_TTL) -> bool:
    """Whether the token lives at most ``cap`` seconds: true when ``iat`` or ``exp`` is absent or not a
    number (the verifier's ``require`` and PyJWT's own checks decide those)."""
    issued, expires = claims.get("iat"), claims.get("exp")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (issued, expires))
    return not numbers or expires - issued <= cap  # type: ignore[operator]


_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
#: (claim, line when the instant is past, line when it is still ahead)
_INSTANTS = (
    ("iat", "issued {} ago", "issued {} from now: the issuer's clock is ahead of this one"),
    ("nbf", "valid since {} ago", "not valid for another {}"),
    ("exp", "expired {} ago", "expires in {}"),
)


def describe_lifetime(claims: Mapping[str, Any], now: float) -> list[str]:
    """iat, nbf and exp in words, each with its UTC time (what the ``inspect`` command prints)."""
    lines = []
    for name, past, ahead in _INSTANTS:
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            lines.append(f"{name} is not a number: {json.dumps(value)}")
            continue
        delta = value - now
        lines.append((ahead if delta > 0 else past).format(_duration(delta)) + f" ({_utc(value)})")
    if "exp" not in claims:
        lines.append("no exp claim: this token never expires")
    return lines


def _duration(seconds: float) -> str:
    """The largest unit and the next one: "9 min 12 s", "3 h 2 min", "48 s"."""
    left = int(abs(seconds))
    for (name, size), (next_name, next_size) in itertools.pairwise(_UNITS):
        if left >= size:
            return f"{left // size} {name} {left % size // next_size} {next_name}"
    return f"{left} s"


def _utc(timestamp: float) -> str:
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "out of range"
