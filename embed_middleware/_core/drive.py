"""The loop every adapter runs around the exchange: satisfy each ``Need`` in its own context, resume.

Under WSGI and in Django's sync path everything runs in the request's thread (``drive_sync``). Under
ASGI (``drive_async``) the tenant is settled by ``RequestTokens.settle`` (inline for what cannot block)
and the mint runs on the loop; Django's async path asks for the hooks (claims hook, header predicate) to
run in its sync thread, where the ORM is allowed.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async

from ..errors import TokenIssueError
from .emission import Emission
from .phase import Need
from .response import Exchange


def drive_sync(exchange: Exchange, result: Emission | Need) -> Emission:
    """What to send, once every need of ``result`` is met in this thread (or the clean 500)."""
    while isinstance(result, Need):
        try:
            exchange.provide(result)
        except TokenIssueError as error:
            return exchange.failure(error)
        result = exchange.resume()
    return result


async def drive_async(
    exchange: Exchange, result: Emission | Need, *, hooks_in_sync_thread: bool = False
) -> Emission:
    """As ``drive_sync`` from async code: no task, timer or thread unless the resolver can block."""
    while isinstance(result, Need):
        try:
            if result.tenant:
                await exchange.tokens.settle()
            if hooks_in_sync_thread and result.calls_hooks:
                await sync_to_async(exchange.provide, thread_sensitive=True)(result)
            else:
                exchange.provide(result)
        except TokenIssueError as error:
            if exchange.head_sent:  # pragma: no cover - a streamed head settled the tenant already
                raise
            return exchange.failure(error)
        result = exchange.resume()
    return result
