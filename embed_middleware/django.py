"""Django middleware: the same embeds, configured from settings, for sync (WSGI) and async (ASGI) Django::

    MIDDLEWARE = [
        "django.middleware.gzip.GZipMiddleware",                   # compression outside (above) us
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "embed_middleware.django.EmbedMiddleware",                 # below what the resolver reads
    ]
    EMBED_MIDDLEWARE = {
        "issuer": "myproject.embed.issuer",        # a TokenIssuer, or its dotted path
        "resolver": "myproject.embed.tenant_of",   # request -> Tenant | None, or its dotted path
    }

Like whitenoise's Django adapter, this only maps settings and Django's objects onto the core: the
``Exchange`` takes each decision exactly as under EmbedWSGIMiddleware/EmbedASGIMiddleware. Dotted
paths exist because a resolver that imports models cannot be imported from settings.py.

Hooks get Django's ``HttpRequest`` (``request.user``, ``request.session``, ``request.GET``), not the
werkzeug request the other adapters pass. Under ASGI, Django's rule for sync code holds: a plain
resolver runs through ``sync_to_async`` (thread-sensitive, bounded by ``resolver_timeout``), and when
the core says it needs tokens minted or the header predicate asked, that runs there too, so every
hook may use the ORM and the lazy ``request.user``. The rest of the work stays on the event loop.

Django hands a response's headers to the server before its body, so a streamed body is read here
until its first rewritten bytes (the core's rule for when headers go out) before the response goes
on; an iterator of the other kind than the server's (sync under ASGI) is read whole, as Django would.

The token endpoint is a view to route, not a path intercepted before the app: ``path("embed/token",
embed_token_view)``. It runs after the session and authentication middleware like any view.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from functools import partial
from http import HTTPStatus
from typing import Any, cast

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
from django.http import HttpResponse, StreamingHttpResponse  # type: ignore[import-untyped]
from django.utils.module_loading import import_string  # type: ignore[import-untyped]
from werkzeug.wrappers import Request

from ._core.drive import drive_async, drive_sync
from ._core.emission import Emission, WarnOnce, content_headers
from ._core.response import Exchange
from ._core.streams import arest, collect, drain, replay, rest
from .config import OPTION_NAMES, EmbedConfig
from .endpoint import answer_token_request
from .errors import ConfigurationError
from .placeholders import NONCE_KEY, EmbedContext
from .tenants import in_main_thread

__all__ = ["EmbedMiddleware", "embed_config", "embed_token_view"]

SETTING = "EMBED_MIDDLEWARE"
_HOWTO = (
    f'add {SETTING} = {{"issuer": TokenIssuer(...), "resolver": <callable request -> Tenant | None>}} '
    "to your settings (either value may be a dotted path)"
)
#: Options of the WSGI/ASGI adapters that Django routes instead, and how.
_ROUTED = {
    "token_endpoint": 'route the view instead: path("embed/token", embed_token_view) in urls.py',
    "jwks_path": "serve issuer.keys.jwks() from a view of your own",
}
_OPTIONS = OPTION_NAMES - set(_ROUTED)
#: Django's own words when it reads a stream of the other kind than its server's; kept, so that
#: filters written for Django's warnings still match when the middleware is the one reading.
_READ_ASYNC = (
    "StreamingHttpResponse must consume asynchronous iterators in order to serve them synchronously."
)
_READ_SYNC = "StreamingHttpResponse must consume synchronous iterators in order to serve them asynchronously."
_built: list[tuple[object, EmbedConfig]] = []
_view_warnings = WarnOnce()


def embed_config() -> EmbedConfig:
    """``settings.EMBED_MIDDLEWARE`` validated into the core's config, built once per settings value.

    Keyed on the settings object itself, so ``override_settings`` in tests gets a fresh config.
    """
    options = getattr(settings, SETTING, None)
    if _built and _built[0][0] is options:
        return _built[0][1]
    if options is None:
        raise ImproperlyConfigured(f"embed_middleware needs settings.{SETTING}: {_HOWTO}")
    if not isinstance(options, Mapping):
        raise ImproperlyConfigured(f"settings.{SETTING} must be a dict: {_HOWTO}")
    missing = [name for name in ("issuer", "resolver") if name not in options]
    if missing:
        raise ImproperlyConfigured(f"settings.{SETTING} has no {' or '.join(missing)}: {_HOWTO}")
    for name, instead in _ROUTED.items():
        if name in options:
            raise ImproperlyConfigured(f"settings.{SETTING}[{name!r}] is not used under Django: {instead}")
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        known = ", ".join(sorted(_OPTIONS))
        raise ImproperlyConfigured(
            f"settings.{SETTING} has unknown options {', '.join(unknown)}; known: {known}"
        )
    loaded = {
        name: _load(name, value) if name in ("issuer", "resolver") else value
        for name, value in options.items()
    }
    if callable(loaded["resolver"]):
        loaded["resolver"] = in_main_thread(loaded["resolver"])
    try:
        config = EmbedConfig.from_options(**loaded)
    except ConfigurationError as error:
        raise ImproperlyConfigured(f"settings.{SETTING}: {error}") from error
    _built[:] = [(options, config)]
    return config


def _load(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as error:
        raise ImproperlyConfigured(
            f"settings.{SETTING}[{name!r}]: cannot import {value!r} ({error})"
        ) from None


class EmbedMiddleware:
    """Rewrites token placeholders in Django responses; options from ``settings.EMBED_MIDDLEWARE``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        #: Validated now: Django builds middleware at start-up, so a bad setting stops the app there.
        self.config = embed_config()
        self._warnings = WarnOnce()
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        # Where {% embed_token %} finds this request's nonce (request.META, Django's environ).
        request.META[NONCE_KEY] = EmbedContext(self.config.placeholder_rules)
        if self.async_mode:
            return self.__acall__(request)
        response = self.get_response(request)
        exchange = self._exchange(request, response)
        if exchange is None:
            return response
        step = partial(_sync_step, exchange)
        if not exchange.rewrites:
            return _finish(exchange, response, drive_sync(exchange, exchange.head_now()))
        if not response.streaming:
            return _finish(exchange, response, step(response.content, final=True), content=True)
        source = response.streaming_content
        if response.is_async:
            warnings.warn(_READ_ASYNC, Warning, stacklevel=2)
            source = async_to_sync(collect)(source)
        chunks: Iterator[bytes] = iter(source)
        for chunk in chunks:
            first = step(chunk, final=False)
            if first.head is not None:
                break
        else:
            first = step(b"", final=True)
        return _finish(exchange, response, first, stream=rest(first, step, chunks))

    async def __acall__(self, request: Any) -> Any:
        response = await self.get_response(request)
        exchange = self._exchange(request, response)
        if exchange is None:
            return response
        if not exchange.rewrites:
            head = await drive_async(exchange, exchange.head_now(), hooks_in_sync_thread=True)
            return _finish(exchange, response, head, in_async=True)
        step = partial(_async_step, exchange)
        if not response.streaming:
            return _finish(exchange, response, await step(response.content, final=True), content=True)
        source = response.streaming_content
        if not response.is_async:
            warnings.warn(_READ_SYNC, Warning, stacklevel=2)
            source = replay(await sync_to_async(drain, thread_sensitive=True)(source))
        chunks: AsyncIterator[bytes] = aiter(source)
        async for chunk in chunks:
            first = await step(chunk, final=False)
            if first.head is not None:
                break
        else:
            first = await step(b"", final=True)
        return _finish(exchange, response, first, stream=arest(first, step, chunks), in_async=True)

    def _exchange(self, request: Any, response: Any) -> Exchange | None:
        """The exchange for a response the middleware may touch; None for one it leaves as it is."""
        headers = response.headers
        method = str(request.method or "GET").upper()
        status = int(response.status_code)
        if self.config.leaves_untouched(method, status, *content_headers(headers.items())):
            return None
        context = request.META.get(NONCE_KEY)
        exchange = Exchange(
            self.config,
            method,
            _as_core(request),
            self._warnings,
            request.META.get,
            context if isinstance(context, EmbedContext) else None,
            # On Django's event loop, nothing that may block or touch the ORM runs in place.
            resolves_inline=not self.async_mode,
            hooks_inline=not self.async_mode,
        )
        exchange.start(status, list(headers.items()))
        return exchange


def _sync_step(exchange: Exchange, chunk: bytes, *, final: bool) -> Emission:
    return drive_sync(exchange, exchange.body(chunk, final=final))


async def _async_step(exchange: Exchange, chunk: bytes, *, final: bool) -> Emission:
    """One body step under ASGI: the resolver settled as the core asks, and the claims hook and header
    predicate (when the core needs them) in Django's sync thread, where the ORM is allowed."""
    return await drive_async(exchange, exchange.body(chunk, final=final), hooks_in_sync_thread=True)


def _as_core(request: Any) -> Callable[[], Request]:
    """The core types hooks' request as werkzeug's; under Django every hook gets Django's own."""
    return lambda: cast(Request, request)


def _finish(
    exchange: Exchange,
    response: Any,
    first: Emission,
    *,
    content: bool = False,
    stream: Iterator[bytes] | AsyncIterator[bytes] | None = None,
    in_async: bool = False,
) -> Any:
    """Puts the exchange's head on the response Django will send, with the whole new ``content``
    or the ``stream`` that follows the app's; or our clean 500 in its place."""
    head = first.head
    assert head is not None
    if exchange.heads_a_page and not exchange.failed:
        return _headless(response, head.headers, in_async)
    if exchange.failed:
        body = [first.body]
        if not response.streaming:  # nothing to close: a new response stands in for it
            return HttpResponse(first.body, status=head.status, headers=head.headers)
        # Django closes a stream's iterator when it closes the response: keep that response.
        response.status_code, response.reason_phrase = head.status, HTTPStatus(head.status).phrase
        response.cookies.clear()  # none of the app's headers or cookies, as under the other adapters
        stream = replay(body) if in_async else iter(body)
    _set_headers(response, head.headers)
    if content:
        response.content = first.body
    elif stream is not None:
        response.streaming_content = stream
    return response


def _headless(response: Any, headers: list[tuple[str, str]], in_async: bool) -> Any:
    """A HEAD of a page as a body-less stream: no Content-Length can be right (the GET's tokens are not
    minted for a HEAD), and a plain response would get the unrewritten length back from
    ``CommonMiddleware`` (or 0, emptied), which recounts ``content`` on the way out."""
    headless = StreamingHttpResponse(replay([]) if in_async else iter(()), status=response.status_code)
    headless.reason_phrase = response.reason_phrase
    _set_headers(headless, headers)
    headless.cookies = response.cookies
    # What the app's response would have closed (a stream's iterator, a file) closes with this one;
    # close() itself is not called here, since it also sends request_finished, which the handler will.
    # (Django lists a stream's own close() there too.)
    headless._resource_closers.extend(getattr(response, "_resource_closers", ()))
    return headless


def _set_headers(response: Any, headers: list[tuple[str, str]]) -> None:
    fields = response.headers
    if list(fields.items()) == headers:
        return
    for name in list(fields):
        del fields[name]
    for name, value in headers:
        fields[name] = f"{fields[name]}, {value}" if name in fields else value


def embed_token_view(request: Any) -> Any:
    """The guides' ``/generate-token`` as a view: ``GET ?resource=name`` -> ``{"token", "expires_at",
    "expires_in"}``, 401 without a tenant, 404 for a resource the tenant may not embed, 400 for a
    malformed name, 405 for other methods (the core endpoint's contract).

    A sync view, so that under ASGI Django runs it (and the resolver and claims hook) in its sync thread.
    """
    config = embed_config()
    method = str(request.method).upper()
    exchange = Exchange(config, method, _as_core(request), _view_warnings, request.META.get)
    emission = answer_token_request(exchange, config, method, request.GET.get("resource"))
    head = emission.head
    assert head is not None
    return HttpResponse(emission.body, status=head.status, headers=head.headers)
