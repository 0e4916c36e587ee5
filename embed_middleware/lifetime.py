"""The one 24-hour cap on a token's life, shared by the issuer, the profiles and the verifier.

A copied iframe URL must stop working within a day whatever the settings (Chartio's cap, and ours),
so the issuer refuses a longer ``ttl`` at start-up and the verifier refuses a token whose ``exp`` is
more than this after its ``iat``; the revocation stores keep a cut-off for this long (plus leeway).
"""

from __future__ import annotations

from collections.abc import Mapping
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
