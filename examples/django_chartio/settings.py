"""Settings of the Chartio example (``DJANGO_SETTINGS_MODULE=examples.django_chartio.settings``).

No database: sessions live in a cookie signed with ``SECRET_KEY`` (a user cannot edit their
``ACCT_ID``), and the dashboard's rows are fixed data in ``chartio.py``.
"""

from __future__ import annotations

import os
import secrets

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True

INSTALLED_APPS = ["examples.django_chartio", "embed_middleware"]  # the latter: {% load embed %}
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Inside the session middleware: the resolver reads request.session. Any compression
    # middleware (GZipMiddleware) would go above this one, so pages are rewritten before compressing.
    "embed_middleware.django.EmbedMiddleware",
]
ROOT_URLCONF = "examples.django_chartio.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

#: Dotted paths: embed.py builds its form and issuer once Django is set up.
EMBED_MIDDLEWARE = {
    "issuer": "examples.django_chartio.embed.issuer",
    "resolver": "examples.django_chartio.embed.tenant_of",
}

#: The Chartio organisation's embed secret, shared with the stand-in (Chartio holds its own copy).
CHARTIO_SECRET = os.environ.get("EMBED_SIGNING_KEY") or secrets.token_urlsafe(48)
CHARTIO_ORGANIZATION = 16417
#: Placeholder names to dashboard ids: ``{% embed_placeholder "flights" %}`` embeds dashboard 38727.
CHARTIO_DASHBOARDS = {"flights": 38727}
#: Where the iframes point: this project's stand-in; ``"https://embed.chartio.com/d/"`` for Chartio.
CHARTIO_EMBED_BASE = "/chartio/d/"
