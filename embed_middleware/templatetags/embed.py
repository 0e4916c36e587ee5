"""``{% load embed %}``: the app's own placeholders in Django templates.

    {% load embed %}
    <iframe src="https://charts.example.com/embed?token={% embed_placeholder "top_airlines" %}"></iframe>
    <iframe src="{% embed_url "https://charts.example.com/embed" "top_airlines" %}"></iframe>

Each tag writes this request's placeholder (with its nonce), so ``EmbedMiddleware`` fills it with the
token and never text a user put in the page. The tags read the request from the template context:
render with ``render(request, ...)`` (or keep ``django.template.context_processors.request`` in
``TEMPLATES``). ``{% embed_token %}`` is the deprecated old name of ``{% embed_placeholder %}``: it never
wrote a token, but the placeholder.
"""

from __future__ import annotations

import warnings
from typing import Any

from django import template  # type: ignore[import-untyped]
from django.utils.safestring import mark_safe  # type: ignore[import-untyped]

from ..placeholders import PlaceholderError
from ..placeholders import embed_placeholder as _placeholder
from ..placeholders import embed_url as _embed_url

register = template.Library()

#: What ``{% embed_token %}`` warns: the old name of ``{% embed_placeholder %}``, kept for one release.
EMBED_TOKEN_RENAMED = (
    "{% embed_token %} is now {% embed_placeholder %}: it writes a placeholder the middleware fills, "
    "not a token"
)


def _request(context: Any) -> Any:
    # A RequestContext (``render(request, ...)``) carries it; the context processor puts it in too.
    request = getattr(context, "request", None) or context.get("request")
    if request is None:
        raise PlaceholderError(
            "{% embed_placeholder %} needs the request in the template context: add "
            "'django.template.context_processors.request' to TEMPLATES' context_processors"
        )
    return request


@register.simple_tag(takes_context=True)  # type: ignore[untyped-decorator]
def embed_placeholder(context: Any, resource: str | None = None) -> str:
    """The placeholder for ``resource``, which the middleware replaces with the token: raw, since its
    characters are checked and nothing in it needs escaping (autoescaped, it would be recognised too)."""
    return str(mark_safe(_placeholder(_request(context), resource)))


@register.simple_tag(takes_context=True)  # type: ignore[untyped-decorator]
def embed_token(context: Any, resource: str | None = None) -> str:
    """Deprecated name of ``{% embed_placeholder %}`` (it never wrote a token, but its placeholder)."""
    warnings.warn(EMBED_TOKEN_RENAMED, DeprecationWarning, stacklevel=2)
    return str(mark_safe(_placeholder(_request(context), resource)))


@register.simple_tag(takes_context=True)  # type: ignore[untyped-decorator]
def embed_url(context: Any, base_url: str, resource: str, param: str = "token") -> str:
    """The vendor URL with the placeholder in it; an origin outside ``embed_origins`` fails the render."""
    return _embed_url(_request(context), base_url, resource, param=param)
