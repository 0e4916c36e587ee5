"""Jinja2 globals for Starlette and FastAPI templates (``Jinja2Templates``), or any Jinja2 environment.

``add_embed_globals(templates.env)`` installs ``embed_placeholder`` and ``embed_url``; a template rendered
with ``TemplateResponse(request, ...)`` then writes::

    <iframe src="https://charts.example.com/embed?token={{ embed_placeholder('top_airlines') }}"></iframe>
    <iframe src="{{ embed_url('https://charts.example.com/embed', 'top_airlines') }}"></iframe>

Both read the request from the template context (Starlette puts it there as ``request``) and write its
nonce-carrying placeholder, so ``EmbedASGIMiddleware`` fills them and never text a user put in the
page. (Flask's extension installs its own; this module is for every other Jinja2 user.) ``embed_token``
is the deprecated old name of ``embed_placeholder``: it never returned a token, but the placeholder.

>>> from jinja2 import Environment
>>> from embed_middleware.placeholders import NONCE_KEY, EmbedContext, PlaceholderRules
>>> env = Environment(autoescape=True)
>>> add_embed_globals(env)
>>> # What the middleware leaves in each request's scope or environ, here by hand:
>>> request = {NONCE_KEY: EmbedContext(PlaceholderRules("JWT_TOKEN", max_resource_length=128))}
>>> env.from_string("{{ embed_placeholder('top') }}").render(request=request).startswith("<JWT_TOKEN:top")
True
>>> env.from_string("{{ embed_placeholder('top') }}").render()
Traceback (most recent call last):
...
embed_middleware.placeholders.PlaceholderError: embed_placeholder() needs `request` in the template context
"""

from __future__ import annotations

import warnings
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from .placeholders import PlaceholderError
from .placeholders import embed_placeholder as _placeholder
from .placeholders import embed_url as _embed_url

#: What ``embed_token`` warns: the old name of ``embed_placeholder``, kept for one release.
EMBED_TOKEN_RENAMED = (
    "embed_token() is now embed_placeholder(): it writes a placeholder the middleware fills, not a token"
)


def _request(context: Context) -> Any:
    request = context.get("request")
    if request is None:
        raise PlaceholderError("embed_placeholder() needs `request` in the template context")
    return request


@pass_context
def embed_placeholder(context: Context, resource: str | None = None) -> Markup:
    """The request's placeholder for ``resource``, which the middleware replaces with the token.

    Markup, since its characters are checked and need no escaping; a bad name fails the render.
    """
    return Markup(_placeholder(_request(context), resource))


@pass_context
def embed_token(context: Context, resource: str | None = None) -> Markup:
    """Deprecated name of ``embed_placeholder`` (it never returned a token, but its placeholder)."""
    warnings.warn(EMBED_TOKEN_RENAMED, DeprecationWarning, stacklevel=2)
    return Markup(_placeholder(_request(context), resource))


@pass_context
def embed_url(context: Context, base_url: str, resource: str, param: str = "token") -> str:
    """The vendor URL with the placeholder in it; an origin outside ``embed_origins`` fails the render."""
    return _embed_url(_request(context), base_url, resource, param=param)


def add_embed_globals(env: Environment) -> None:
    """Installs ``embed_placeholder``, ``embed_url`` and the deprecated ``embed_token`` in ``env``."""
    env.globals["embed_placeholder"] = embed_placeholder
    env.globals["embed_url"] = embed_url
    env.globals["embed_token"] = embed_token
