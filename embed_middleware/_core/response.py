"""One response's embed decisions as a sans-I/O state machine that every adapter drives.

Data flows one way: request -> (lazy) tenant -> token -> rewritten response. The adapter reports the
app's response start and each body chunk; the exchange answers with what to send (``Emission``: the
head once, then bytes) or with what it needs first (``Need``): when a placeholder of the app's
completes and its token is not minted, or the head needs the tenant or the header token, the exchange
holds its output and says so. The adapter satisfies it in its own context (``provide``: inline under
WSGI, after awaiting ``tokens.settle()`` under ASGI, in Django's sync thread) and calls ``resume()``.
So no adapter has to predict whether a chunk may need a token, and the core never calls a resolver
on an event loop.

Headers are held until the first non-empty output or the end of the body, so that:

* a body seen whole gets an exact ``Content-Length`` and keeps its cache headers if nothing changed;
* a body still streaming when headers must go out is treated as one that may carry a token (no
  ``Content-Length``, no validators, ``no-store``), and its tenant is known before the head goes, so a
  resolver that raises becomes a clean 500 rather than a half-written page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import Literal

from werkzeug.wrappers import Request

from ..config import EmbedConfig
from ..errors import TokenIssueError
from ..placeholders import EmbedContext
from ..rewrite import StreamRewriter
from .emission import Emission, Head, WarnOnce, content_headers, own_response
from .filling import Filling, MissingTenantError
from .needs import Needs
from .phase import (
    AWAITING_START,
    END,
    ENDED,
    FAILED,
    HEADLESS,
    HEADLESS_HELD,
    HELD,
    PASS_HELD,
    PASSES,
    REWRITE_HELD,
    REWRITES,
    SEND,
    Need,
)
from .policy import HeaderList, Skip, edit_head
from .request_tokens import RequestTokens

logger = logging.getLogger("embed_middleware")


class Exchange(Filling, Needs):
    """The embed side of one request/response. Adapters create one per request."""

    # Per-response state that most responses never change: class defaults, so a page costs no writes.
    _status = 0
    _rewriter: StreamRewriter | None = None
    #: The header predicate's answer, once asked (None: not asked yet).
    _header_wanted: bool | None = None
    #: A step that returned a Need: its output so far, whether it was final, and how it resumes.
    _held_out = b""
    _final = False
    _resume: Callable[[], Emission | Need] | None = None
    #: The resource a held placeholder waits for.
    _waiting_for: str | None = None

    def __init__(
        self,
        config: EmbedConfig,
        method: str,
        make_request: Callable[[], Request],
        warnings: WarnOnce,
        read_mark: Callable[[str], object] | None = None,
        context: EmbedContext | None = None,
        *,
        resolves_inline: bool = True,
        hooks_inline: bool = True,
    ) -> None:
        self._config = config
        #: What this adapter's context allows the exchange to do in place instead of returning a Need:
        #: call any resolver (a sync thread: WSGI, Django's sync path), and run the claims hook and
        #: header predicate (not on Django's event loop). A resolver that cannot block is always fine.
        self._resolves_inline = resolves_inline
        self._hooks_inline = hooks_inline
        #: The request's nonce holder; the adapter left it where the app's helpers find it.
        self.context = context if context is not None else EmbedContext(config.placeholder_rules)
        self.tokens = RequestTokens(config, make_request, read_mark)
        self._method = method
        self._warnings = warnings
        #: Distinct names given a token, by who wrote them: the app (with the nonce), or the page's
        #: text (only under ``unsafe_legacy_placeholders``); each is capped at max_tokens_per_response.
        self._app_names: set[str | None] = set()
        self._page_names: set[str | None] = set()
        self.phase = AWAITING_START
        self._headers: HeaderList = []

    # -- what adapters ask -----------------------------------------------------------------------

    @property
    def request(self) -> Request:
        return self.tokens.request

    @property
    def rewrites(self) -> bool:
        """Whether this response's body goes through the rewriter (adapters may pass others by)."""
        return self.phase in REWRITES

    @property
    def heads_a_page(self) -> bool:
        """Whether this is a HEAD of a page: headers as a GET's, no length, and no body of the app's."""
        return self.phase in HEADLESS

    @property
    def passes(self) -> bool:
        """Whether the body goes to the client exactly as the app wrote it."""
        return self.phase in PASSES

    @property
    def head_sent(self) -> bool:
        return self.phase not in HELD

    @property
    def failed(self) -> bool:
        """Whether the app's response was replaced by our 500."""
        return self.phase is FAILED

    @property
    def done(self) -> bool:
        """Whether the final chunk was fed (or the response was replaced by our 500)."""
        return self.phase in ENDED

    # -- the app's response ----------------------------------------------------------------------

    def start(
        self, status: int, headers: Iterable[tuple[str, str]], skip: Skip | Literal["ask"] | None = "ask"
    ) -> None:
        """The app's status and headers; may be called again (WSGI exc_info) until the head is sent.
        ``skip``: the policy's answer for them, when the adapter has already asked it."""
        if self.head_sent:
            raise RuntimeError("the response head was already sent")
        self._status = status
        self._headers = list(headers)
        if skip == "ask":
            skip = self._config.policy.skip_reason(self._method, status, *content_headers(self._headers))
        if skip is Skip.ENCODED:
            self._warnings.warn(
                "encoded",
                "embed_middleware saw an HTML response with a Content-Encoding and left it "
                "unrewritten: place the embed middleware inside (closer to the app than) any "
                "compression middleware, so it rewrites before compressing",
            )
        if skip is None:
            self.phase = REWRITE_HELD
            self._rewriter = StreamRewriter(self._config.syntax, self._replacement)
        else:
            self.phase = HEADLESS_HELD if skip is Skip.HEAD else PASS_HELD
            self._rewriter = None

    def leave_body_untouched(self) -> None:
        """The server sends the body itself (a file): headers still follow the rules, bytes do not."""
        if self.phase is REWRITE_HELD:
            self.phase = PASS_HELD
            self._rewriter = None

    def head_now(self) -> Emission | Need:
        """The head for a body the adapter hands to the server untouched (never a rewritten one)."""
        if self.rewrites:
            raise RuntimeError("a rewritten response's head waits for its first output")
        need = self._head_need(streaming=False)
        if need is not None:
            return self._hold(need, self.head_now)
        try:
            head = self._make_head(None)
        except TokenIssueError as error:
            return self.failure(error)
        self.phase = END.get(self.phase, self.phase)  # the body is the server's to send now
        return Emission(head)

    def body(self, chunk: bytes, *, final: bool) -> Emission | Need:
        """Feed one chunk of the app's body (``final`` when no more will come)."""
        if self.phase in ENDED:
            return Emission(last=True)
        if self._resume is not None:
            raise RuntimeError("the exchange is waiting: provide() what it needs, then resume()")
        self._final = final
        return self._advance(chunk)

    def resume(self) -> Emission | Need:
        """Go on after ``provide``: the held step continues where it stopped."""
        step, self._resume = self._resume, None
        if step is None:
            raise RuntimeError("the exchange is not waiting for anything")
        return step()

    def _hold(self, need: Need, step: Callable[[], Emission | Need]) -> Need:
        self._resume = step
        return need

    def _advance(self, chunk: bytes) -> Emission | Need:
        phase = self.phase
        final = self._final
        rewriter = self._rewriter
        try:
            if phase in HEADLESS:
                # A HEAD answer has no body; the app's bytes (the unrewritten GET body, for many
                # frameworks) must not reach a server that would count them into a Content-Length.
                out = b""
            elif rewriter is None or not self._scans:
                out = chunk  # no nonce drawn yet: nothing in this chunk can be the app's placeholder
            else:
                out = rewriter.feed(chunk, final=final) if chunk or rewriter.held_back else b""
                if final and not rewriter.blocked:
                    out += rewriter.flush()
                if rewriter.blocked:
                    self._held_out += out
                    wanted = Need(not self.tokens.settled, (self._waiting_for,))
                    return self._hold(wanted, partial(self._advance, b""))
            if self._held_out:
                out, self._held_out = self._held_out + out, b""
            head = None
            if phase in HELD:
                if not out and not final:
                    return Emission()
                head_needs = self._head_need(streaming=not final and phase is REWRITE_HELD)
                if head_needs is not None:
                    self._held_out = out
                    return self._hold(head_needs, partial(self._advance, b""))
                head = self._make_head(len(out) if final else None)
        except TokenIssueError as error:
            if self.head_sent:  # pragma: no cover - _replacement never raises once the head is out
                raise
            return self.failure(error)
        if final:
            self.phase = END[self.phase]
        return Emission(head, out, final)

    @property
    def _scans(self) -> bool:
        """Only a page whose app drew the nonce can hold a placeholder of the app's (legacy: any page)."""
        return self.context.drawn or self._config.unsafe_legacy_placeholders

    # -- the head and the replacements -----------------------------------------------------------

    def failure(self, error: TokenIssueError) -> Emission:
        """A clean 500 in place of the app's response, sent before any of its headers."""
        if isinstance(error, MissingTenantError):
            logger.warning("a page asked for an embed token but the request has no tenant: answering 500")
        else:
            logger.error("could not prepare an embed token: answering 500", exc_info=error)
        self.phase = FAILED
        self._resume = None
        answer = own_response(500, b"Internal Server Error: could not prepare the embed.\n")
        return Emission(answer.head, b"", True) if self._method == "HEAD" else answer

    def _make_head(self, content_length: int | None) -> Head:
        headers = self._headers
        phase = self.phase
        still_streaming = content_length is None and phase is REWRITE_HELD
        may_carry = phase is HEADLESS_HELD or still_streaming
        anonymous = still_streaming and self.tokens.tenant() is None
        if anonymous:
            may_carry = False  # no tenant: no token can ever appear in this body
        delivery = self._config.header
        wanted = bool(self._header_wanted)
        issued = self.tokens.tokens.get(delivery.resource) if delivery is not None and wanted else None
        edit_head(
            headers,
            changed=may_carry or still_streaming or bool(self._rewriter and self._rewriter.replacements),
            length=None if may_carry or still_streaming else content_length,
            # A page with a slot for a token (the app drew the nonce, or the header was wanted) is
            # personal whoever asked: an anonymous visitor's copy must not be cached for the next tenant.
            carries=may_carry or self.context.drawn or wanted or self.tokens.minted,
            anonymous=anonymous,
            vary=self._config.vary,
            header=(delivery.name, issued.token) if delivery is not None and issued is not None else None,
        )
        self.phase = SEND.get(phase, phase)
        return Head(self._status, headers)
