"""Flask extension: the WSGI middleware, with a tenant resolver that runs inside Flask's request context.

>>> from flask import Flask, render_template_string, session
>>> from embed_middleware import TokenIssuer
>>> from embed_middleware.flask import Embed
>>> app = Flask(__name__)
>>> app.secret_key = "doctest-session-" + "s" * 32
>>> embed = Embed(app, issuer=TokenIssuer("doctest-signing-key-" + "k" * 40, resources=["top"]),
...               resolver=lambda: session.get("org_id", "acme"))   # or Embed(...); embed.init_app(app)
>>> @app.get("/")
... def page() -> str:
...     return render_template_string("<iframe src='https://charts.example.com/e?token="
...                                   "{{ embed_placeholder('top') }}'>")
>>> app.test_client().get("/").get_data(as_text=True).startswith("<iframe src='https://charts.example.com/e?token=eyJ")
True

``embed_placeholder('top')`` writes this request's placeholder; the middleware replaces it with the token
once the page is complete (``embed_token`` is its deprecated old name: it never returned a token).
Pass ``token_endpoint="/embed/token"`` for a token view that scripts can call.

Why an extension: the middleware fills placeholders lazily, after the app has returned, when Flask's
request context (``g``, ``session``, flask-login's ``current_user``) is gone. So the extension calls
the resolver in an ``after_request`` hook, while the context still exists and after the view ran (a
login made by the view counts), marks ``request.environ["embed.tenant"]``, and wraps ``app.wsgi_app``
with ``EmbedWSGIMiddleware`` reading that mark (``from_environ``). The hook skips responses the
middleware never rewrites (JSON, redirects without HTML, files…), so those cost no resolver call.

The resolver takes **no arguments** and reads Flask's globals (``flask.request`` is one of them); it
returns a ``Tenant``, a tenant id (``str``) or ``None``, as every resolver may (``tenants.tenant_of``).
A view may still mark the environ itself: its mark wins and the resolver is not called.

The token endpoint is a Flask view here (the middleware would answer it without running the app,
hence without a request context), answering exactly as the core endpoint does.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from markupsafe import Markup

from ._core.emission import WarnOnce as _WarnOnce
from ._core.emission import content_headers
from ._core.response import Exchange
from .config import EmbedConfig
from .endpoint import answer_token_request
from .errors import ConfigurationError
from .placeholders import embed_placeholder, embed_url
from .tenants import ENVIRON_KEY, Tenant, from_environ, tenant_of, vary_of
from .tokens import TokenIssuer
from .wsgi import EmbedWSGIMiddleware

#: The extension's resolver: no arguments (it reads Flask's globals), a tenant, its id, or None.
FlaskResolver = Callable[[], Tenant | str | None]

#: Where ``init_app`` leaves the extension: ``app.extensions["embed_middleware"]``.
EXTENSION_KEY = "embed_middleware"
#: What ``embed_token()`` warns: the old name of the template global, kept for one release.
EMBED_TOKEN_RENAMED = (
    "embed_token() is now embed_placeholder(): it writes a placeholder the middleware fills, not a token"
)
#: The token view's endpoint name, for ``url_for("embed_middleware.token", resource="top_airlines")``.
TOKEN_VIEW = "embed_middleware.token"


class Embed:
    """Tenant-scoped embed tokens for a Flask app; options are the middleware's (see ``EmbedConfig``).

    Every option is validated here, at construction, as for the middleware: ``app.config`` is not
    read, because the issuer and resolver are objects, and one place to configure is one place to
    get wrong. The signing key comes from ``TokenIssuer`` (``EMBED_SIGNING_KEY`` by default).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        issuer: TokenIssuer,
        resolver: FlaskResolver,
        token_endpoint: str | None = None,
        **options: Any,
    ) -> None:
        _check_resolver(resolver)
        self.resolver = resolver
        #: The page side reads only the tenant the hook marked; Vary is what *your* resolver declares
        #: it reads (``resolver.vary``), ``*`` when it declares nothing, unless ``vary=`` says.
        self._options: dict[str, Any] = {
            "issuer": issuer,
            "resolver": from_environ(vary=vary_of(resolver)),
            **options,
        }
        #: Validated now (a bad option fails at start-up); the token view answers with it.
        self.config = EmbedConfig.from_options(token_endpoint=token_endpoint, **self._options)
        self.token_endpoint = token_endpoint
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Wrap ``app.wsgi_app``, install the resolving hook, the Jinja globals and the token view."""
        if EXTENSION_KEY in app.extensions:
            raise ConfigurationError("this Flask app already has an Embed extension; call init_app once")
        app.extensions[EXTENSION_KEY] = self
        # The middleware never answers the token endpoint itself: the view below does, in context.
        app.wsgi_app = EmbedWSGIMiddleware(app.wsgi_app, **self._options)  # type: ignore[method-assign]
        app.after_request(self._mark_tenant)
        app.add_template_global(self.embed_placeholder, "embed_placeholder")
        app.add_template_global(self.embed_token, "embed_token")
        app.add_template_global(self.embed_url, "embed_url")
        if self.token_endpoint is not None:
            app.add_url_rule(self.token_endpoint, TOKEN_VIEW, self._token_view, methods=["GET"])

    def embed_placeholder(self, resource: str | None = None) -> Markup:
        """This request's placeholder for ``resource``: ``{{ embed_placeholder('top_airlines') }}``.

        It carries the request's nonce, so the middleware fills it and nothing a user typed into the
        page. Markup of the raw form, so autoescape leaves it alone and ``url_for``/``urlencode`` can
        still percent-encode it (every one of those forms is recognised). The name is checked, because
        Markup is never escaped: a bad name is an error here, not markup injected into a page.
        ``embed_placeholder()`` (no name) is the unscoped token, only where the issuer allows one.
        """
        return Markup(embed_placeholder(request.environ, resource))

    def embed_token(self, resource: str | None = None) -> Markup:
        """Deprecated name of ``embed_placeholder`` (it never returned a token, but its placeholder)."""
        warnings.warn(EMBED_TOKEN_RENAMED, DeprecationWarning, stacklevel=2)
        return self.embed_placeholder(resource)

    def embed_url(self, base_url: str, resource: str, param: str = "token") -> str:
        """``{{ embed_url('https://charts.example.com/embed', 'top_airlines') }}``: the vendor URL with this
        request's placeholder in it; an origin not in ``embed_origins`` fails the render (no token leaves)."""
        return embed_url(request.environ, base_url, resource, param=param)

    def resolve(self) -> Tenant | str | None:
        """Call the resolver (in a request context) and mark the environ with its answer, once.

        The mark is set to None *before* the call: if the resolver raises, Flask answers 500 and
        runs the after-request hooks again for that error page, which must not call it a second time.
        """
        return self._resolve_into(request.environ)

    def _resolve_into(self, environ: dict[str, Any]) -> Tenant | str | None:
        if ENVIRON_KEY in environ:
            marked: Tenant | str | None = environ[ENVIRON_KEY]
            return marked
        environ[ENVIRON_KEY] = None
        found = self.resolver()
        environ[ENVIRON_KEY] = tenant_of(found)  # the one rule: anything but Tenant, str, None raises
        return found

    def _mark_tenant(self, response: Response) -> Response:
        """``after_request``: resolve only for responses the middleware may put a token in (read from
        the environ and one scan of the response's fields: each ``request.`` is a context lookup)."""
        environ = request.environ
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if not self.config.leaves_untouched(method, response.status_code, *content_headers(response.headers)):
            self._resolve_into(environ)
        return response

    def _token_view(self) -> Response:
        """The core endpoint's answer, computed with the tenant the resolver finds in context."""
        self.resolve()
        method = request.method
        exchange = Exchange(self.config, method, _current_request, _WarnOnce(), request.environ.get)
        emission = answer_token_request(exchange, self.config, method)
        assert emission.head is not None
        return current_app.response_class(
            emission.body, status=emission.head.status, headers=emission.head.headers
        )


def _current_request() -> Any:
    """The request object itself, not the context-local proxy (claims hooks may keep it)."""
    return request._get_current_object()  # type: ignore[attr-defined]


def _check_resolver(resolver: object) -> None:
    """A request resolver (``request -> Tenant``) passed here would fail on every page: say so now."""
    if not callable(resolver):
        raise ConfigurationError("resolver must be a callable with no arguments returning a Tenant or None")
    try:
        signature = inspect.signature(resolver)
    except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature
        return
    try:
        signature.bind()
    except TypeError:
        raise ConfigurationError(
            "the Flask extension's resolver takes no arguments: read flask.request, session, g or "
            "current_user inside it (a request resolver r fits as `lambda: r(flask.request)`)"
        ) from None
