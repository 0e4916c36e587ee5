"""Jinja2 globals for Starlette and FastAPI templates (``Jinja2Templates``), or any Jinja2 environment::

    from fastapi.templating import Jinja2Templates
    from embed_middleware.templating import add_embed_globals

    templates = Jinja2Templates(directory="templates")
    add_embed_globals(templates.env)

then, in a template rendered with ``TemplateResponse(request, ...)``::

    <iframe src="https://charts.example.com/embed?token={{ embed_token('top_airlines') }}"></iframe>
    <iframe src="{{ embed_url('https://charts.example.com/embed', 'top_airlines') }}"></iframe>

Both read the request from the template context (Starlette puts it there as ``request``) and write its
nonce-carrying placeholder, so ``EmbedASGIMiddleware`` fills them and never text a user put in the
page. (Flask's extension installs its own ``embed_token``; this module is for every other Jinja2 user.)
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from .placeholders import PlaceholderError, embed_placeholder
from .placeholders import embed_url as _embed_url


def _request(context: Context) -> Any:
    request = context.get("request")
    if request is None:
        raise PlaceholderError("embed_token() needs `request` in the template context")
    return request


@pass_context
def embed_token(context: Context, resource: str | None = None) -> Markup:
    """The placeholder for ``resource``; Markup, since its characters are checked and need no escaping."""
    return Markup(embed_placeholder(_request(context), resource))


@pass_context
def embed_url(context: Context, base_url: str, resource: str, param: str = "token") -> str:
    """The vendor URL with the placeholder in it; an origin outside ``embed_origins`` fails the render."""
    return _embed_url(_request(context), base_url, resource, param=param)


def add_embed_globals(env: Environment) -> None:
    """Installs ``embed_token`` and ``embed_url`` as globals of ``env``."""
    env.globals["embed_token"] = embed_token
    env.globals["embed_url"] = embed_url
