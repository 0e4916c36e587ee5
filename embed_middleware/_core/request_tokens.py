"""The request side of one exchange: the tenant, resolved on first need, and tokens memoised per resource.

Sync callers (WSGI, Django's sync thread, the token endpoints) call ``tenant()``/``token()`` and the
resolver runs in their thread. An ASGI adapter first awaits ``settle()``, which costs no task, timer or
thread unless the resolver can block:

* the app's mark (``from_environ``) and the built-ins without a blocking lookup are called inline;
* an ``async def`` resolver is awaited directly, bounded by ``resolver_timeout`` (``asyncio.timeout_at``,
  armed only if the resolver suspends: most return without awaiting anything, and a timer costs about
  half a token's mint);
* a plain ``def`` resolver runs in a worker thread (``asyncio.to_thread``; a built-in's blocking lookup
  and the combinators through asgiref), and after ``resolver_timeout`` the request fails closed without
  waiting for it (a thread cannot be cancelled).
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

from werkzeug.wrappers import Request

from ..config import EmbedConfig
from ..errors import TokenIssueError
from ..tenants import Tenant, tenant_of
from ..tokens import IssuedToken

RESOLVER_RAISED = "the tenant resolver raised"


class RequestTokens:
    """One request's tenant and tokens. Adapters create one per request (through ``Exchange``)."""

    __slots__ = ("_config", "_make_request", "_read_mark", "_request", "_settled", "_tenant", "tokens")

    def __init__(
        self,
        config: EmbedConfig,
        make_request: Callable[[], Request],
        read_mark: Callable[[str], object] | None = None,
    ) -> None:
        self._config = config
        self._make_request = make_request
        #: How the adapter reads the app's mark (``environ.get``, a scope reader); None: no mark here.
        self._read_mark = read_mark if config.mark is not None else None
        self._request: Request | None = None
        self._settled = False
        self._tenant: Tenant | None = None
        #: Memoised per resource; None fails closed (no tenant, not allowed, or a failed mint mid-stream).
        self.tokens: dict[str | None, IssuedToken | None] = {}

    @property
    def request(self) -> Request:
        if self._request is None:
            self._request = self._make_request()
        return self._request

    @property
    def settles_inline(self) -> bool:
        """Whether ``tenant()`` cannot block: the app's mark or a built-in without a blocking lookup."""
        mark = self._config.mark
        if self._read_mark is not None and mark is not None:
            return mark.inline
        return self._config.resolve_inline is not None

    @property
    def settled(self) -> bool:
        """Whether the tenant is known (so nothing more will call the resolver)."""
        return self._settled

    def tenant(self) -> Tenant | None:
        """The tenant, resolved now in the caller's thread if it was not settled yet."""
        if not self._settled:
            mark = self._config.mark
            try:
                if self._read_mark is not None and mark is not None:
                    found = mark.decide(self._read_mark(mark.key))
                else:
                    found = self._config.resolve_sync(self.request)
            except Exception as error:
                raise TokenIssueError(RESOLVER_RAISED) from error
            self.settle_tenant(found)
        return self._tenant

    async def settle(self) -> None:
        """Resolve the tenant from async code without ever blocking the event loop on the resolver."""
        if self._settled:
            return
        config = self._config
        mark = config.mark
        timeout = config.resolver_timeout
        found: object  # a Tenant, a tenant id or None: settle_tenant applies the one rule
        try:
            if self._read_mark is not None and mark is not None:
                value = self._read_mark(mark.key)
                if mark.inline:
                    found = mark.decide(value)
                else:
                    found = await _in_worker_thread(mark.decide, value, timeout)
            elif config.resolve_inline is not None:
                found = config.resolve_inline(self.request)
            elif config.awaits_resolver:
                found = await _bounded(config.resolve_async(self.request), timeout)
            elif config.resolve_in_thread is not None:
                found = await _in_worker_thread(config.resolve_in_thread, self.request, timeout)
            else:
                found = await _within(config.resolve_async(self.request), timeout)
        except Exception as error:
            raise TokenIssueError(RESOLVER_RAISED) from error
        self.settle_tenant(found)

    def settle_tenant(self, found: object) -> None:
        """Record what a resolver returned: a Tenant, a tenant id, or None (``tenant_of``)."""
        self._tenant = tenant_of(found)
        self._settled = True

    def token(self, resource: str | None) -> IssuedToken | None:
        """A token for this tenant and resource, minted at most once per request; None fails closed."""
        tokens = self.tokens
        if resource in tokens:
            return tokens[resource]
        tenant = self.tenant()
        issued = None
        issuer = self._config.issuer
        if tenant is not None and issuer.allows(tenant, resource):
            try:
                issued = issuer.issue(tenant, resource, self.request if issuer.reads_request else None)
            except Exception as error:
                raise TokenIssueError("the claims hook or token encoding failed") from error
        tokens[resource] = issued
        return issued

    @property
    def minted(self) -> bool:
        return any(t is not None for t in self.tokens.values())

    def issuer_clock(self) -> float:
        return self._config.issuer.now()


async def _bounded(resolving: Awaitable[Tenant | None], timeout: float) -> Tenant | None:
    """An ``async def`` resolver's answer within ``timeout`` seconds of its call. Its first step runs
    here (the event loop could not interrupt it anyway); only if it then suspends is it bounded by the
    timer, at the deadline counted from before that step, so the bound is the same as awaiting it
    under ``asyncio.timeout`` from the start."""
    if type(resolving) is not types.CoroutineType:
        async with asyncio.timeout(timeout):
            return await resolving
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        step = resolving.send(None)
    except StopIteration as done:
        answer: Tenant | None = done.value
        return answer
    async with asyncio.timeout_at(deadline):
        return await _rest_of(resolving, step)


@types.coroutine
def _rest_of(coroutine: Coroutine[Any, Any, Tenant | None], step: Any) -> Generator[Any, None, Tenant | None]:
    """Awaits ``coroutine`` from where its first step stopped (having yielded ``step`` to the task): the
    task's wake-up resumes it, and what the task throws in (the timeout's cancellation) goes to it."""
    while True:
        try:
            yield step
        except BaseException as error:
            try:
                step = coroutine.throw(error)
            except StopIteration as done:
                answer: Tenant | None = done.value
                return answer
            continue
        rest: Tenant | None = yield from coroutine
        return rest


async def _in_worker_thread(call: Callable[[Any], object], argument: Any, timeout: float) -> object:
    """A plain resolver's answer from a worker thread, or TimeoutError after ``timeout`` seconds without
    waiting further (a thread cannot be cancelled; the abandoned call ends on its own).

    ``asyncio.to_thread``, the standard library's bridge: the loop's default executor and a copy of the
    caller's context, as asgiref's ``sync_to_async(thread_sensitive=False)`` gives. The difference that
    matters here: the executor's future can simply be abandoned at the deadline, where asgiref shields
    its call and waits for the thread, so bounding it took a task and ``asyncio.wait`` (``_within``),
    about a third of the hop's cost. asgiref still bridges what must run in one thread (Django's).
    """
    async with asyncio.timeout(timeout):
        return await asyncio.to_thread(call, argument)


async def _within(resolving: Awaitable[Tenant | None], timeout: float) -> Tenant | None:
    """The answer of a resolver running in a thread, or TimeoutError after ``timeout`` seconds *without
    waiting further*: ``asyncio.wait_for`` would wait for the cancelled call, and a thread cannot be
    cancelled, so the request would hang anyway. The abandoned call ends on its own."""
    task = asyncio.ensure_future(resolving)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        raise TimeoutError(f"the tenant resolver took longer than {timeout} s")
    return task.result()
