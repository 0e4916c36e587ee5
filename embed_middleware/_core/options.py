"""The adapters' options, declared once as a TypedDict so that ``help()``, IDEs and mypy show them,
and checked by name at start-up (a misspelt option fails, naming the valid ones)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Generic, Required, TypedDict, TypeVar, cast

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..config import HeaderDelivery, MissingTenant
    from ..tenants import AnyResolver
    from ..tokens import TokenIssuer


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
