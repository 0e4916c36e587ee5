"""What a placeholder becomes: the trust, naming and cap rules, and HOLD while its token is missing.

A mixin of ``Exchange`` (the rewriter calls ``_replacement`` for each placeholder it finds), kept apart
so that the security rules for page text read on their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import TokenIssueError
from ..rewrite import HOLD, _Hold
from .phase import Need

if TYPE_CHECKING:
    from ..config import EmbedConfig
    from ..placeholders import EmbedContext
    from .emission import WarnOnce
    from .request_tokens import RequestTokens


class MissingTenantError(TokenIssueError):
    """A page asked for a token on a request without tenant, under ``missing_tenant="error"``."""


class Filling:
    """The placeholder rules; ``Exchange`` provides the state they read."""

    _config: EmbedConfig
    context: EmbedContext
    tokens: RequestTokens
    _warnings: WarnOnce
    _app_names: set[str | None]
    _page_names: set[str | None]
    _waiting_for: str | None

    if TYPE_CHECKING:

        @property
        def head_sent(self) -> bool: ...

        def _in_place(self, hooks: bool) -> bool: ...

        def provide(self, need: Need) -> None: ...

    def _trusted_resource(self, name: str | None) -> tuple[bool, str | None, set[str | None]]:
        """Whether the app wrote this placeholder for this request (untrusted text stays exactly as it
        was), the resource it names, and the set its name counts in against the cap. ``name`` is
        ``resource:NONCE`` or ``NONCE`` for the app's own."""
        if name is not None:
            head, colon, tail = name.rpartition(":")
            if self.context.matches(tail):
                return True, (head if colon else None), self._app_names
        if self._config.unsafe_legacy_placeholders:
            return True, name, self._page_names
        self._warnings.warn(
            "untrusted",
            "embed_middleware left a placeholder without this request's nonce as written (user content, "
            "or a hand-written placeholder: write yours with embed_placeholder())",
        )
        return False, None, self._page_names

    def _replacement(self, name: str | None) -> bytes | _Hold | None:
        """What a placeholder becomes; called by the rewriter only when it finds one. HOLD when its
        token is not minted yet: the exchange then returns a Need and resumes here."""
        trusted, resource, counted = self._trusted_resource(name)
        if not trusted:
            return None
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
            if resource not in self.tokens.tokens:
                if not self._in_place(hooks=True):
                    self._waiting_for = resource
                    return HOLD
                self.provide(Need(not self.tokens.settled, (resource,)))
            counted.add(resource)
        issued = self.tokens.tokens.get(resource)
        if issued is None and self.tokens.tenant() is None:
            if config.missing_tenant == "leave":
                return None
            if config.missing_tenant == "error" and not self.head_sent:
                raise MissingTenantError("no tenant")
        return issued.token.encode("ascii") if issued is not None else b""
