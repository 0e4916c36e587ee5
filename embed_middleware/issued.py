"""What the issuer hands back and what it tells ``on_issue``: small immutable values, never the key.

``IssuedToken`` is what pages, endpoints and CLIs get; ``IssueEvent`` is the audit record of each
token delivered (enough to count and audit, never the token itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from .tenants import Tenant

__all__ = ["IssueEvent", "IssueHook", "IssuedToken"]


class IssuedToken(NamedTuple):
    """A signed token and when it stops working. The repr hides the token.

    A named tuple rather than a frozen dataclass: just as immutable, and built in a third of the
    time, which counts on a path that runs for every page.
    """

    token: str
    issued_at: int
    expires_at: int
    jti: str
    kid: str | None = None

    def __repr__(self) -> str:
        return f"IssuedToken(jti={self.jti!r}, kid={self.kid!r}, expires_at={self.expires_at})"


@dataclass(frozen=True)
class IssueEvent:
    """What ``on_issue`` hears about each token: enough to count and audit, never the token itself."""

    tenant: Tenant
    resource: str | None
    kid: str | None
    jti: str
    algorithm: str
    issued_at: int
    expires_at: int
    #: True when the token was minted earlier in its reuse window (this process's or the fleet's cache).
    reused: bool = False


#: ``(event) -> None``, called for every token delivered (``reused`` tells a cache hit from a mint).
#: If it raises, the token is not delivered.
IssueHook = Callable[[IssueEvent], None]
