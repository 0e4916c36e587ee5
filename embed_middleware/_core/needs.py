"""Meeting a ``Need``: resolve the tenant, ask the header predicate, mint; or say the adapter must.

A mixin of ``Exchange``, kept apart so each reads on its own: the response machine returns a Need when
it cannot go on, and these methods are how it (or the adapter, after settling the tenant its own way)
meets one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from werkzeug.datastructures import Headers

from ..errors import TokenIssueError
from .phase import Need

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from ..config import EmbedConfig
    from .policy import HeaderList
    from .request_tokens import RequestTokens

logger = logging.getLogger("embed_middleware")


class Needs:
    """What a Need asks for, met in the caller's context; ``Exchange`` provides the state."""

    _config: EmbedConfig
    tokens: RequestTokens
    _status: int
    _headers: HeaderList
    _header_wanted: bool | None
    _hooks_inline: bool
    _resolves_inline: bool

    if TYPE_CHECKING:

        @property
        def head_sent(self) -> bool: ...

        @property
        def request(self) -> Request: ...

    def provide(self, need: Need) -> None:
        """Resolve (if still needed, in the caller's thread), ask the header predicate and mint.

        Raises TokenIssueError while the head is not sent (the adapter answers ``failure``); once it is,
        a failed mint leaves that placeholder empty instead, since the page is already under way.
        """
        try:
            if need.tenant:
                self.tokens.tenant()
            if need.header and self._header_wanted is None:
                self._header_wanted = self._ask_header()
            for resource in need.resources:
                self.tokens.token(resource)
        except TokenIssueError:
            if not self.head_sent:
                raise
            logger.error("could not issue an embed token mid-stream; placeholder left empty", exc_info=True)
            for resource in need.resources:
                self.tokens.tokens.setdefault(resource, None)

    def _ask_header(self) -> bool:
        delivery = self._config.header
        assert delivery is not None
        try:
            wanted = bool(delivery.when(self.request, self._status, Headers(self._headers)))
        except Exception as error:
            raise TokenIssueError("the header predicate raised") from error
        if wanted:
            self.tokens.token(delivery.resource)
        return wanted

    def _in_place(self, hooks: bool) -> bool:
        """Whether a need can be met right here, in the adapter's own context, without a round trip."""
        tokens = self.tokens
        return (self._hooks_inline or not hooks) and (
            tokens.settled or self._resolves_inline or tokens.settles_inline
        )

    def _head_need(self, *, streaming: bool) -> Need | None:
        """What the head needs that is not known: the tenant of a streamed page, the header decision."""
        header = self._config.header is not None and self._header_wanted is None
        if not header and (self.tokens.settled or not streaming):
            return None
        need = Need(not self.tokens.settled, (), header)
        if not self._in_place(header):
            return need
        self.provide(need)
        return None
