"""One request's embed state, as a pure state machine both adapters drive.

Data flows one way: request -> (lazy) tenant -> token -> rewritten response. The adapter reports
the app's response start and each body chunk; the exchange answers with what to send: headers once
(``Emission.head``), then bytes. It never does I/O, so the WSGI and ASGI adapters share every
decision and only translate their protocol.

Headers are held until the first non-empty output or the end of the body, so that:

* a body seen whole gets an exact ``Content-Length`` and keeps its cache headers if nothing changed;
* a body still streaming when headers must go out is treated as one that may carry a token (no
  ``Content-Length``, no validators, ``no-store``), and its tenant is resolved right then, so a
  resolver that raises becomes a clean 500 rather than a half-written page.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request

from .config import EmbedConfig
from .errors import TokenIssueError
from .placeholders import EmbedContext
from .policy import (
    NO_STORE,
    SET_ON_TOKEN,
    HeaderList,
    Skip,
    add_vary,
    mark_body_changed,
    mark_carries_token,
    set_header,
)
from .rewrite import StreamRewriter
from .tenants import Tenant, tenant_of
from .tokens import IssuedToken

logger = logging.getLogger("embed_middleware")

_UNRESOLVED = object()
_UNTRUSTED = object()
RESOLVER_RAISED = "the tenant resolver raised"
#: How many distinct warnings one middleware remembers (names come from pages: keep it bounded).
_WARNED_LIMIT = 256


@dataclass(frozen=True)
class Head:
    """A status and headers ready to send."""

    status: int
    headers: list[tuple[str, str]]


@dataclass(frozen=True)
class Emission:
    """What the adapter sends now: the head (once), then body bytes.

    ``last`` means the response is complete as far as the client is concerned: either the body
    ended, or the exchange replaced the response with an error and the app's body must be dropped.
    """

    head: Head | None = None
    body: bytes = b""
    last: bool = False


class _Mode(enum.Enum):
    PASS = "pass"
    HEAD = "head"
    REWRITE = "rewrite"


class _MissingTenantError(TokenIssueError):
    pass


@dataclass
class _WarnOnce:
    """Some mistakes are configuration, not requests: say so once, not on every response."""

    said: set[str] = field(default_factory=set)

    def warn(self, key: str, message: str, *args: object) -> None:
        if key not in self.said and len(self.said) < _WARNED_LIMIT:
            self.said.add(key)
            logger.warning(message, *args)


class Exchange:
    """The embed side of one request/response. Adapters create one per request."""

    def __init__(
        self,
        config: EmbedConfig,
        method: str,
        make_request: Callable[[], Request],
        warnings: _WarnOnce,
        read_mark: Callable[[str], object] | None = None,
        context: EmbedContext | None = None,
    ) -> None:
        self._config = config
        #: The request's nonce holder; the adapter left it where the app's helpers find it.
        self.context = context if context is not None else EmbedContext(config.placeholder_rules)
        self._method = method
        self._make_request = make_request
        self._read_mark = read_mark
        self._warnings = warnings
        self._request: Request | None = None
        self._tenant: object = _UNRESOLVED
        self._tokens: dict[str | None, IssuedToken | None] = {}
        #: Distinct names given a token, by who wrote them: the app (with the nonce), or the page's
        #: text (only under ``unsafe_legacy_placeholders``); each is capped at max_tokens_per_response.
        self._app_names: set[str | None] = set()
        self._page_names: set[str | None] = set()
        self._mode = _Mode.PASS
        self._status = 0
        self._headers: HeaderList = []
        self._rewriter: StreamRewriter | None = None
        self._head_sent = False
        self._done = False
        self._failed = False

    # -- request side: lazy tenant and memoised tokens ---------------------------------------------

    @property
    def request(self) -> Request:
        if self._request is None:
            self._request = self._make_request()
        return self._request

    def tenant(self) -> Tenant | None:
        """The request's tenant, resolved on first use (after the app had its chance to mark it)."""
        if self._tenant is _UNRESOLVED:
            try:
                found = self._resolve_from_mark() if self._marked else self._config.resolve_sync(self.request)
            except Exception as error:
                raise TokenIssueError(RESOLVER_RAISED) from error
            self.settle_tenant(found)
        return self._tenant  # type: ignore[return-value]

    async def settle_tenant_async(self) -> None:
        """Await the resolver (ASGI), so the exchange never calls it on the event loop later.

        A resolver still waiting after ``resolver_timeout`` seconds (a hung database, say) fails
        closed like one that raised: a clean 500, never a token and never a request held forever.
        """
        if self._tenant is _UNRESOLVED:
            try:
                if self._marked:
                    found = self._resolve_from_mark()
                else:
                    found = await _within(
                        self._config.resolve_async(self.request), self._config.resolver_timeout
                    )
            except Exception as error:
                raise TokenIssueError(RESOLVER_RAISED) from error
            self.settle_tenant(found)

    @property
    def _marked(self) -> bool:
        return self._read_mark is not None and self._config.resolve_mark is not None

    def _resolve_from_mark(self) -> Tenant | None:
        config = self._config
        assert self._read_mark is not None and config.resolve_mark is not None and config.mark_key
        return config.resolve_mark(self._read_mark(config.mark_key))

    @property
    def tenant_settled(self) -> bool:
        return self._tenant is not _UNRESOLVED

    def settle_tenant(self, found: object) -> None:
        """Record what an (async) resolver returned: a Tenant, a tenant id, or None (``tenant_of``)."""
        self._tenant = tenant_of(found)

    def may_need_tenant(self, chunk: bytes, *, final: bool) -> bool:
        """Whether feeding ``chunk`` could call the resolver: an async adapter resolves first."""
        if self._tenant is not _UNRESOLVED or self._done:
            return False
        if not self._head_sent and (self._config.header is not None or (self.rewrites and not final)):
            return True
        return self._rewriter is not None and self._scans and self._rewriter.might_replace(chunk)

    @property
    def _scans(self) -> bool:
        """Only a page whose app drew the nonce can hold a placeholder of the app's (legacy: any page)."""
        return self.context.drawn or self._config.unsafe_legacy_placeholders

    def token(self, resource: str | None) -> IssuedToken | None:
        """A token for this tenant and resource, minted at most once per request; None fails closed."""
        if resource in self._tokens:
            return self._tokens[resource]
        tenant = self.tenant()
        issued = None
        if tenant is not None and self._config.issuer.allows(tenant, resource):
            try:
                issued = self._config.issuer.issue(tenant, resource, self.request)
            except Exception as error:
                raise TokenIssueError("the claims hook or token encoding failed") from error
        self._tokens[resource] = issued
        return issued

    def issuer_clock(self) -> float:
        return self._config.issuer.now()

    @property
    def minted(self) -> bool:
        return any(t is not None for t in self._tokens.values())

    # -- response side ---------------------------------------------------------------------------

    def start(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        """The app's status and headers; may be called again (WSGI exc_info) until the head is sent."""
        if self._head_sent:
            raise RuntimeError("the response head was already sent")
        self._status = status
        self._headers = list(headers)
        content_type = content_encoding = None
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == "content-type" and content_type is None:
                content_type = value
            elif lowered == "content-encoding" and content_encoding is None:
                content_encoding = value
        skip = self._config.policy.skip_reason(self._method, status, content_type, content_encoding)
        if skip is Skip.ENCODED:
            self._warnings.warn(
                "encoded",
                "embed_middleware saw an HTML response with a Content-Encoding and left it "
                "unrewritten: place the embed middleware inside (closer to the app than) any "
                "compression middleware, so it rewrites before compressing",
            )
        if skip is None:
            self._mode = _Mode.REWRITE
            self._rewriter = StreamRewriter(self._config.syntax, self._replacement)
        else:
            self._mode = _Mode.HEAD if skip is Skip.HEAD else _Mode.PASS
            self._rewriter = None

    @property
    def rewrites(self) -> bool:
        """Whether this response's body goes through the rewriter (adapters may pass others by)."""
        return self._mode is _Mode.REWRITE

    @property
    def heads_a_page(self) -> bool:
        """Whether this is a HEAD of a page: headers as a GET's, no length, and no body of the app's."""
        return self._mode is _Mode.HEAD

    @property
    def passes(self) -> bool:
        """Whether the body goes to the client exactly as the app wrote it."""
        return self._mode is _Mode.PASS

    @property
    def head_sent(self) -> bool:
        return self._head_sent

    @property
    def failed(self) -> bool:
        """Whether the app's response was replaced by our 500."""
        return self._failed

    @property
    def done(self) -> bool:
        """Whether the final chunk was fed (or the response was replaced by our 500)."""
        return self._done

    def leave_body_untouched(self) -> None:
        """The server sends the body itself (a file): headers still follow the rules, bytes do not."""
        if self._mode is _Mode.REWRITE:
            self._mode = _Mode.PASS
            self._rewriter = None

    def head_now(self) -> Emission:
        """The head for a body the adapter hands to the server untouched (never a rewritten one)."""
        if self._mode is _Mode.REWRITE:
            raise RuntimeError("a rewritten response's head waits for its first output")
        try:
            head = self._make_head(None)
        except TokenIssueError as error:
            return self.failure(error)
        self._done = True  # the body is the server's to send now
        return Emission(head)

    def body(self, chunk: bytes, *, final: bool) -> Emission:
        """Feed one chunk of the app's body (``final`` when no more will come)."""
        if self._done:
            return Emission(last=True)
        self._done = final
        try:
            if self._mode is _Mode.HEAD:
                # A HEAD answer has no body; the app's bytes (the unrewritten GET body, for many
                # frameworks) must not reach a server that would count them into a Content-Length.
                out = b""
            elif self._rewriter is None or not self._scans:
                out = chunk  # no nonce drawn yet: nothing in this chunk can be the app's placeholder
            else:
                out = self._rewriter.feed(chunk) if chunk else b""
                if final:
                    out += self._rewriter.flush()
            head = None
            if not self._head_sent:
                if not out and not final:
                    return Emission()
                head = self._make_head(len(out) if final else None)
        except TokenIssueError as error:
            if self._head_sent:  # pragma: no cover - _replacement never raises once the head is out
                raise
            return self.failure(error)
        return Emission(head, out, final)

    def failure(self, error: TokenIssueError) -> Emission:
        """A clean 500 in place of the app's response, sent before any of its headers."""
        if isinstance(error, _MissingTenantError):
            logger.warning("a page asked for an embed token but the request has no tenant: answering 500")
        else:
            logger.error("could not prepare an embed token: answering 500", exc_info=error)
        self._done = True
        self._failed = True
        self._head_sent = True
        answer = own_response(500, b"Internal Server Error: could not prepare the embed.\n")
        return Emission(answer.head, b"", True) if self._method == "HEAD" else answer

    def _make_head(self, content_length: int | None) -> Head:
        headers = self._headers
        still_streaming = content_length is None and self._mode is _Mode.REWRITE
        may_carry = self._mode is _Mode.HEAD or still_streaming
        anonymous = still_streaming and self.tenant() is None
        if anonymous:
            may_carry = False  # no tenant: no token can ever appear in this body
        if self._mode is _Mode.HEAD or still_streaming:
            mark_body_changed(headers, None)
        elif self._rewriter is not None and self._rewriter.replacements:
            mark_body_changed(headers, content_length)
        delivery = self._config.header
        wanted = False
        if delivery is not None:
            try:
                wanted = bool(delivery.when(self.request, self._status, Headers(headers)))
            except Exception as error:
                raise TokenIssueError("the header predicate raised") from error
            issued = self.token(delivery.resource) if wanted else None
            if issued is not None:
                set_header(headers, delivery.name, issued.token)
        # A page with a slot for a token (the app drew the nonce, or the header was wanted) is personal
        # whoever asked: an anonymous visitor's copy must not be cached for the next tenant either.
        if may_carry or self.minted or wanted or self.context.drawn:
            mark_carries_token(headers, self._config.vary)
        elif anonymous:
            add_vary(headers, self._config.vary)  # its body still depends on who asks
        self._head_sent = True
        return Head(self._status, headers)

    def _trusted_resource(self, name: str | None) -> tuple[object, set[str | None]]:
        """The resource a placeholder names and the set its name counts in against the cap, or
        _UNTRUSTED for text the app did not write for this request (it stays exactly as it was).
        ``name`` is ``resource:NONCE`` or ``NONCE`` for the app's own."""
        if name is not None:
            head, colon, tail = name.rpartition(":")
            if self.context.matches(tail):
                return (head if colon else None), self._app_names
        if self._config.unsafe_legacy_placeholders:
            return name, self._page_names
        self._warnings.warn(
            "untrusted",
            "embed_middleware left a placeholder without this request's nonce as written (user content, "
            "or a hand-written placeholder: write yours with embed_token()/embed_placeholder())",
        )
        return _UNTRUSTED, self._page_names

    def _replacement(self, name: str | None) -> bytes | None:
        """What a placeholder becomes; called by the rewriter only when it finds one."""
        found, counted = self._trusted_resource(name)
        if found is _UNTRUSTED:
            return None
        resource = found if isinstance(found, str) else None
        config = self._config
        if resource is not None and not config.placeholder_rules.is_resource_name(resource):
            return None
        if not config.issuer.names(resource):
            self._warnings.warn(
                f"resource:{resource}",
                "embed_middleware left a placeholder for %r as written: the issuer's resources do not "
                "name it%s",
                resource,
                " (an unscoped token needs TokenIssuer(allow_unscoped=True))" if resource is None else "",
            )
            return None
        # The app's own names and (legacy) page text are capped apart: text cannot use up the app's share.
        if resource not in counted:
            if len(counted) >= config.max_tokens_per_response:
                self._warnings.warn(
                    "cap",
                    "embed_middleware left placeholders as written beyond max_tokens_per_response=%d "
                    "distinct tokens in one response",
                    config.max_tokens_per_response,
                )
                return None
            counted.add(resource)
        try:
            issued = self.token(resource)
            if issued is None and self.tenant() is None:
                if self._config.missing_tenant == "leave":
                    return None
                if self._config.missing_tenant == "error" and not self._head_sent:
                    raise _MissingTenantError("no tenant")
        except TokenIssueError:
            if not self._head_sent:
                raise
            logger.error("could not issue an embed token mid-stream; placeholder left empty", exc_info=True)
            return b""
        return issued.token.encode("ascii") if issued is not None else b""


async def _within(resolving: Awaitable[Tenant | None], timeout: float) -> Tenant | None:
    """The resolver's answer, or TimeoutError after ``timeout`` seconds *without waiting further*:
    ``asyncio.wait_for`` would wait for the cancelled call, and a resolver blocked in a thread cannot
    be cancelled, so the request would hang anyway. The abandoned call ends on its own."""
    task = asyncio.ensure_future(resolving)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        raise TimeoutError(f"the tenant resolver took longer than {timeout} s")
    return task.result()


def own_response(
    status: int,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    extra_headers: Iterable[tuple[str, str]] = (),
    cache_control: str = NO_STORE,
) -> Emission:
    """A complete small response of our own (errors, the token endpoint); never cached by default."""
    # A no-store answer (it may carry a token) gets exactly what a page carrying one gets.
    caching = SET_ON_TOKEN if cache_control == NO_STORE else (("Cache-Control", cache_control),)
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        *caching,
        ("X-Content-Type-Options", "nosniff"),
        *extra_headers,
    ]
    return Emission(Head(status, headers), body, True)


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"
