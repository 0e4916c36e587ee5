"""``{% load embed %}``: the app's own placeholders in Django templates.

    {% load embed %}
    <iframe src="https://charts.example.com/embed?token={% embed_token "top_airlines" %}"></iframe>
    <iframe src="{% embed_url "https://charts.example.com/embed" "top_airlines" %}"></iframe>

Each tag writes this request's placeholder (with its nonce), so ``EmbedMiddleware`` fills it and never
text a user put in the page. The tags read the request from the template context: render with
``render(request, ...)`` (or keep ``django.template.context_processors.request`` in ``TEMPLATES``).
"""

from __future__ import annotations

from typing import Any

from django import template  # type: ignore[import-untyped]
from django.utils.safestring import mark_safe  # type: ignore[import-untyped]

from ..placeholders import PlaceholderError, embed_placeholder
from ..placeholders import embed_url as _embed_url

register = template.Library()


def _request(context: Any) -> Any:
    # A RequestContext (``render(request, ...)``) carries it; the context processor puts it in too.
    request = getattr(context, "request", None) or context.get("request")
    if request is None:
        raise PlaceholderError(
            "{% embed_token %} needs the request in the template context: add "
            "'django.template.context_processors.request' to TEMPLATES' context_processors"
        )
    return request


@register.simple_tag(takes_context=True)  # type: ignore[untyped-decorator]
def embed_token(context: Any, resource: str | None = None) -> str:
    """The placeholder for ``resource``: raw, since its characters are checked and nothing in it needs
    escaping (autoescaped, it would be recognised as well)."""
    return str(mark_safe(embed_placeholder(_request(context), resource)))


@register.simple_tag(takes_context=True)  # type: ignore[untyped-decorator]
def embed_url(context: Any, base_url: str, resource: str, param: str = "token") -> str:
    """The vendor URL with the placeholder in it; an origin outside ``embed_origins`` fails the render."""
    return _embed_url(_request(context), base_url, resource, param=param)
