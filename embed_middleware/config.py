"""The middleware's options, validated once at start-up and shared by every adapter."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, Required, TypedDict, TypeVar, Unpack, cast

from ._core.checks import check_endpoint_resolver, check_publishable, check_scoping
from ._core.header import HEADER_NAME, HeaderDelivery, HeaderPredicate, every_response
from ._core.mark import TenantMark
from ._core.policy import DEFAULT_CONTENT_TYPES, ResponsePolicy, Skip
from .errors import ConfigurationError
from .placeholders import PlaceholderRules, origins_setting
from .resolver_calls import as_async, as_inline, as_sync, as_threaded, is_async_resolver
from .rewrite import DEFAULT_MAX_RESOURCE_LENGTH, DEFAULT_PLACEHOLDER, PlaceholderSyntax
from .tenants import AnyResolver, AsyncResolver, SyncResolver, vary_of
from .tokens import TokenIssuer

__all__ = [
    "OPTION_NAMES",
    "AppOptions",
    "EmbedConfig",
    "EmbedOptions",
    "HeaderDelivery",
    "HeaderPredicate",
    "MissingTenant",
    "check_endpoint_resolver",
    "check_option_names",
    "every_response",
    "the_app",
]

logger = logging.getLogger("embed_middleware")
_DEFAULT_RULES = PlaceholderRules(DEFAULT_PLACEHOLDER, DEFAULT_MAX_RESOURCE_LENGTH)

#: A page gets at most this many distinct tokens unless configured otherwise: far more charts than a
#: page shows, far fewer signatures than an echoed wall of placeholders would cost.
DEFAULT_MAX_TOKENS_PER_RESPONSE = 16
_MAX_TOKENS_LIMIT = 1000

LEGACY_WARNING = (
    "embed_middleware: unsafe_legacy_placeholders=True fills EVERY placeholder-like text in a page, "
    "including text users wrote (comments, names, reflected query parameters): any such text gets the "
    "viewer's live token and can send it to its author. Write placeholders with embed_placeholder() "
    "(or {% embed_placeholder %} in Django) and drop this option."
)

#: What a placeholder becomes when the request has no tenant: ``empty`` (the default) removes it,
#: ``leave`` keeps the placeholder text, ``error`` answers 500 if headers have not gone out yet.
MissingTenant = Literal["empty", "leave", "error"]
_MISSING_TENANT_CHOICES = ("empty", "leave", "error")


class EmbedOptions(TypedDict, total=False):
    """The options of every embed adapter, documented once (``help()`` and IDEs show them)."""

    #: Signs the tokens: ``TokenIssuer(signing_key=..., resources=[...])`` or a profile's issuer.
    issuer: Required[TokenIssuer]
    #: ``request -> Tenant | str | None`` (plain or ``async def``), or a built-in such as ``from_environ()``.
    resolver: Required[AnyResolver]
    #: The word between the brackets of a placeholder (``JWT_TOKEN`` in ``<JWT_TOKEN:name>``).
    placeholder_word: str
    #: Deprecated alias of ``placeholder_word`` (it names a word, not a placeholder).
    placeholder: str
    #: The longest resource name a placeholder may carry.
    max_resource_length: int
    #: Media types whose bodies are rewritten (markup only, by default).
    content_types: Collection[str]
    #: A placeholder on a request without tenant: ``empty`` (removed), ``leave`` (kept) or ``error`` (500).
    missing_tenant: MissingTenant
    #: Deliver a token in a response header too (``HeaderDelivery(...)``).
    header: HeaderDelivery | None
    #: Path of the built-in token endpoint (``/embed/token``); None serves none.
    token_endpoint: str | None
    #: Request headers the tenant comes from (``Vary``); by default what the resolver declares.
    vary: Sequence[str] | None
    #: Path that publishes the issuer's public keys as a JWKS; None publishes nothing.
    jwks_path: str | None
    #: Seconds an async or thread-run resolver may take before the request fails closed (a 500).
    resolver_timeout: float
    #: Origins ``embed_url()`` may put a placeholder into (``https://charts.example.com``).
    embed_origins: Collection[str] | None
    #: Fill placeholders without the request's nonce too: unsafe, see LEGACY_WARNING.
    unsafe_legacy_placeholders: bool
    #: Distinct tokens one response may mint; further placeholders are left as written.
    max_tokens_per_response: int
    #: Let the token endpoint trust a resolver that reads client input (a proxy authenticates callers).
    token_endpoint_trusts_client_input: bool


#: Every option name an adapter accepts.
OPTION_NAMES = frozenset(EmbedOptions.__required_keys__ | EmbedOptions.__optional_keys__)


App = TypeVar("App")


class AppOptions(EmbedOptions, Generic[App], total=False):
    """The options, and the app to wrap by keyword (``app=``), as Litestar and Starlette pass it."""

    app: App


def the_app(app: App | None, options: AppOptions[App], adapter: str) -> tuple[App, EmbedOptions]:
    """The wrapped app, given positionally or as ``app=``, and the options without it. A missing app
    is a TypeError at start-up, as a missing positional argument would be."""
    rest = dict(options)
    keyword = rest.pop("app", None)
    if app is not None and keyword is not None:
        raise TypeError(f"{adapter}: pass the app once, positionally or as app=")
    found = app if app is not None else keyword
    if found is None:
        raise TypeError(f"{adapter} needs the app to wrap: {adapter}(app, issuer=..., resolver=...)")
    return found, cast(EmbedOptions, rest)  # type: ignore[return-value]


def check_option_names(given: Collection[str], where: str = "embed_middleware") -> None:
    """A misspelt option fails at start-up, naming it and the valid ones (never silently ignored)."""
    unknown = sorted(set(given) - OPTION_NAMES)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"valid options: {', '.join(sorted(OPTION_NAMES - {'placeholder'}))}"
        )
    missing = [name for name in ("issuer", "resolver") if name not in given]
    if missing:
        raise ConfigurationError(f"{where}: {' and '.join(f'{m}=' for m in missing)} required")


@dataclass(frozen=True)
class EmbedConfig:
    issuer: TokenIssuer
    resolver: AnyResolver
    #: The resolver as WSGI calls it, and as ASGI awaits it (bridged once here by asgiref).
    resolve_sync: SyncResolver
    resolve_async: AsyncResolver
    syntax: PlaceholderSyntax
    policy: ResponsePolicy
    missing_tenant: MissingTenant
    header: HeaderDelivery | None
    token_endpoint: str | None
    vary: tuple[str, ...]
    jwks_path: str | None = None
    #: Seconds a request waits for an async (or, under ASGI, thread-run) resolver before it fails
    #: closed (a clean 500). A plain resolver under WSGI runs in the request's thread: not bounded.
    resolver_timeout: float = 5.0
    #: Set when the resolver only reads a value the app marked (``from_environ``): adapters then
    #: hand that value over directly instead of building a request object to carry it.
    mark: TenantMark | None = None
    #: The resolver as a plain call safe on the event loop (a built-in that cannot block), else None.
    resolve_inline: SyncResolver | None = None
    #: The resolver is an ``async def``: ASGI awaits it directly (no thread, no task).
    awaits_resolver: bool = False
    #: The resolver is a plain ``def`` of the app's: ASGI runs it in a worker thread (``asyncio.to_thread``).
    resolve_in_thread: SyncResolver | None = None
    #: What the app's placeholder helpers need (word, bounds, ``embed_origins``).
    placeholder_rules: PlaceholderRules = _DEFAULT_RULES
    #: Fill placeholders that do not carry the request's nonce too (unsafe; see LEGACY_WARNING).
    unsafe_legacy_placeholders: bool = False
    #: Whether a page whose app drew no nonce reaches the client exactly as written (no header token,
    #: no legacy filling): adapters then need no exchange for it. Derived in ``__post_init__``.
    passes_undrawn: bool = field(init=False, default=False)
    #: Distinct tokens one response may mint; further placeholders are left as written.
    max_tokens_per_response: int = DEFAULT_MAX_TOKENS_PER_RESPONSE

    @classmethod
    def from_options(cls, **options: Unpack[EmbedOptions]) -> EmbedConfig:
        """The options (``EmbedOptions``) validated: a bad one fails here, at start-up."""
        check_option_names(options)
        if "placeholder" in options:
            warnings.warn(
                "the placeholder= option is now placeholder_word= (it names the word between the "
                "brackets); placeholder= will be removed in the next release",
                DeprecationWarning,
                stacklevel=3,
            )
            if "placeholder_word" in options:
                raise ConfigurationError("pass placeholder_word= only (placeholder= is its old name)")
            options["placeholder_word"] = options.pop("placeholder")
        return cls._build(**options)  # type: ignore[misc]

    @classmethod
    def _build(
        cls,
        *,
        issuer: TokenIssuer,
        resolver: AnyResolver,
        placeholder_word: str = DEFAULT_PLACEHOLDER,
        max_resource_length: int = DEFAULT_MAX_RESOURCE_LENGTH,
        content_types: Collection[str] = DEFAULT_CONTENT_TYPES,
        missing_tenant: MissingTenant = "empty",
        header: HeaderDelivery | None = None,
        token_endpoint: str | None = None,
        vary: Sequence[str] | None = None,
        jwks_path: str | None = None,
        resolver_timeout: float = 5.0,
        embed_origins: Collection[str] | None = None,
        unsafe_legacy_placeholders: bool = False,
        max_tokens_per_response: int = DEFAULT_MAX_TOKENS_PER_RESPONSE,
        token_endpoint_trusts_client_input: bool = False,
    ) -> EmbedConfig:
        if not isinstance(issuer, TokenIssuer):
            raise ConfigurationError("issuer must be a TokenIssuer, e.g. TokenIssuer(signing_key=...)")
        if not callable(resolver):
            raise ConfigurationError("resolver must be a callable (or async def) request -> Tenant | None")
        if missing_tenant not in _MISSING_TENANT_CHOICES:
            raise ConfigurationError(
                f"missing_tenant must be one of {', '.join(_MISSING_TENANT_CHOICES)}, not {missing_tenant!r}"
            )
        if header is not None and not isinstance(header, HeaderDelivery):
            raise ConfigurationError("header must be a HeaderDelivery(...) or None")
        for name, path in (("token_endpoint", token_endpoint), ("jwks_path", jwks_path)):
            if path is not None and not (isinstance(path, str) and path.startswith("/")):
                raise ConfigurationError(f"{name} must be a path starting with '/', not {path!r}")
        if jwks_path is not None:
            check_publishable(issuer)
        check_scoping(issuer, header)
        for name, flag in (
            ("unsafe_legacy_placeholders", unsafe_legacy_placeholders),
            ("token_endpoint_trusts_client_input", token_endpoint_trusts_client_input),
        ):
            if not isinstance(flag, bool):
                raise ConfigurationError(f"{name} must be True or False, not {flag!r}")
        if token_endpoint is not None:
            check_endpoint_resolver(resolver, token_endpoint_trusts_client_input)
        if (
            isinstance(max_tokens_per_response, bool)
            or not isinstance(max_tokens_per_response, int)
            or not 1 <= max_tokens_per_response <= _MAX_TOKENS_LIMIT
        ):
            raise ConfigurationError(
                f"max_tokens_per_response must be a whole number from 1 to {_MAX_TOKENS_LIMIT}, "
                f"not {max_tokens_per_response!r}"
            )
        if unsafe_legacy_placeholders:
            logger.warning(LEGACY_WARNING)
        if (
            isinstance(resolver_timeout, bool)
            or not isinstance(resolver_timeout, int | float)
            or not 0 < resolver_timeout <= 300
        ):
            raise ConfigurationError(
                f"resolver_timeout must be a number of seconds between 0 and 300, not {resolver_timeout!r}"
            )
        if vary is not None and (
            isinstance(vary, str) or not all(isinstance(v, str) and HEADER_NAME.fullmatch(v) for v in vary)
        ):
            raise ConfigurationError(f"vary must be a list of header names, e.g. ['Cookie'], not {vary!r}")
        try:
            syntax = PlaceholderSyntax(placeholder_word, max_resource_length)
            policy = ResponsePolicy.for_types(content_types)
            vary = tuple(vary) if vary is not None else vary_of(resolver)
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        return cls(
            issuer=issuer,
            resolver=resolver,
            resolve_sync=as_sync(resolver, resolver_timeout),
            resolve_async=as_async(resolver),
            syntax=syntax,
            policy=policy,
            missing_tenant=missing_tenant,
            header=header,
            token_endpoint=token_endpoint,
            vary=vary,
            jwks_path=jwks_path,
            resolver_timeout=float(resolver_timeout),
            mark=TenantMark.of(resolver),
            resolve_inline=as_inline(resolver),
            awaits_resolver=is_async_resolver(resolver),
            resolve_in_thread=as_threaded(resolver),
            placeholder_rules=PlaceholderRules(
                syntax.word, syntax.max_resource_length, origins_setting(embed_origins)
            ),
            unsafe_legacy_placeholders=unsafe_legacy_placeholders,
            max_tokens_per_response=max_tokens_per_response,
        )

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "passes_undrawn", self.header is None and not self.unsafe_legacy_placeholders
        )

    def leaves_untouched(
        self, method: str, status: int, content_type: str | None, content_encoding: str | None
    ) -> bool:
        """Whether a response reaches the client exactly as the app wrote it, head and body.

        Adapters ask this from the raw status and two header values, before building anything:
        such a response (JSON, files, SSE…) costs one dictionary-free check and nothing more.
        """
        return self.untouched_by(self.policy.skip_reason(method, status, content_type, content_encoding))

    def untouched_by(self, skip: Skip | None) -> bool:
        """``leaves_untouched`` for the policy's answer already in hand (adapters reuse it)."""
        if self.header is not None:
            return False
        # UNTOUCHED by identity (an Enum hashes in Python: this is the pass-through's hot path).
        return skip is not None and skip is not Skip.ENCODED and skip is not Skip.HEAD
