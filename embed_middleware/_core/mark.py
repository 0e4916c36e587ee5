"""The tenant "mark": a value the app itself left on the request, read by ``from_environ``.

One object owns the shortcut: which key holds the mark, how it is read from a WSGI environ (or Django's
``META``) and from an ASGI scope (where Starlette apps set ``request.state.embed_tenant``), and how a
marked value becomes a Tenant. Adapters hand the mark straight to it instead of building a request.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from ..tenants import ENVIRON_KEY, Tenant

#: Where a Starlette/FastAPI app marks its tenant: ``request.state.embed_tenant = Tenant(...)``.
STATE_KEY = "embed_tenant"


def read_scope_mark(scope: MutableMapping[str, Any], key: str = ENVIRON_KEY) -> object:
    """The app's mark in a scope: ``scope[key]``, else the Starlette state (``embed_tenant`` for the
    standard key, the key itself for another)."""
    mark = scope.get(key)
    if mark is None:
        state = scope.get("state")
        if type(state) is dict or isinstance(state, MutableMapping):
            mark = state.get(STATE_KEY if key == ENVIRON_KEY else key)
    return mark


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
