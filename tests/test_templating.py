"""The template helpers' names: ``embed_placeholder`` (Jinja global, Django tag) writes this request's
placeholder; ``embed_token``, its old name, still does, with a ``DeprecationWarning``."""

from __future__ import annotations

import re

import pytest
from django.template import engines
from django.test import RequestFactory
from jinja2 import Environment

from embed_middleware.placeholders import NONCE_KEY, EmbedContext, PlaceholderError, PlaceholderRules
from embed_middleware.templating import add_embed_globals
from tests.support import django_setup  # noqa: F401 - configures Django once (the tag library needs the app registry)

RULES = PlaceholderRules("JWT_TOKEN", max_resource_length=64)
PLACEHOLDER = re.compile(r"<JWT_TOKEN:top:([A-Za-z0-9_-]{22})>")


def jinja() -> Environment:
    env = Environment(autoescape=True)
    add_embed_globals(env)
    return env


def test_jinja_embed_placeholder_writes_the_requests_placeholder() -> None:
    context = EmbedContext(RULES)
    rendered = (
        jinja()
        .from_string("{{ embed_placeholder('top') }}|{{ embed_placeholder('top') }}")
        .render(request={NONCE_KEY: context})
    )
    first, second = rendered.split("|")
    match = PLACEHOLDER.fullmatch(first)
    assert match and first == second, rendered
    with pytest.raises(PlaceholderError, match="not a resource name"):
        jinja().from_string("{{ embed_placeholder('a b') }}").render(request={NONCE_KEY: context})


def test_jinja_embed_token_is_a_deprecated_alias() -> None:
    request = {NONCE_KEY: EmbedContext(RULES)}
    new = jinja().from_string("{{ embed_placeholder('top') }}").render(request=request)
    with pytest.warns(DeprecationWarning, match=r"embed_token\(\) is now embed_placeholder\(\)"):
        old = jinja().from_string("{{ embed_token('top') }}").render(request=request)
    assert old == new


def django_render(source: str) -> str:
    request = RequestFactory().get("/")
    request.META[NONCE_KEY] = EmbedContext(RULES)
    return str(engines["django"].from_string("{% load embed %}" + source).render({}, request))


def test_django_embed_placeholder_tag_writes_the_requests_placeholder() -> None:
    rendered = django_render('{% embed_placeholder "top" %}')
    assert PLACEHOLDER.fullmatch(rendered), rendered


def test_django_embed_token_tag_is_a_deprecated_alias() -> None:
    with pytest.warns(DeprecationWarning, match=r"\{% embed_token %\} is now \{% embed_placeholder %\}"):
        rendered = django_render('{% embed_token "top" %}')
    assert PLACEHOLDER.fullmatch(rendered), rendered


def test_django_tag_without_the_request_says_what_to_add() -> None:
    template = engines["django"].from_string('{% load embed %}{% embed_placeholder "top" %}')
    with pytest.raises(PlaceholderError, match=r"context_processors\.request"):
        template.render({})
