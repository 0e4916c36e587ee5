"""The tenant "mark": a value the app itself left on the request, read by ``from_environ``.

One object owns the shortcut: which key holds the mark, how it is read from a WSGI environ (or Django's
``META``) and from an ASGI scope (where Starlette apps set ``request.state.embed_tenant``), and how a
marked value becomes a Tenant. Adapters hand the mark straight to it instead of building a request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..scope_request import STATE_KEY, read_scope_mark
from ..tenants import Tenant

__all__ = ["STATE_KEY", "TenantMark", "read_scope_mark"]


@dataclass(frozen=True)
class TenantMark:
    """The key a resolver reads the mark from and how it turns that value into a Tenant."""

    key: str
    decide: Callable[[object], Tenant | None]
    #: The decision cannot block (no lookup callable): ASGI takes it on the event loop.
    inline: bool

    @classmethod
    def of(cls, resolver: object) -> TenantMark | None:
        """The mark a resolver declares (``from_environ`` does), or None."""
        key = getattr(resolver, "mark_key", None)
        decide = getattr(resolver, "from_mark", None)
        if not isinstance(key, str) or not callable(decide):
            return None
        return cls(key, decide, bool(getattr(resolver, "inline", False)))

    def read(self, reader: Callable[[str], object]) -> object:
        return reader(self.key)
