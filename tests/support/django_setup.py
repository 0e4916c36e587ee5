"""Django configured once per pytest process, for every module that touches Django.

``settings.configure`` can run only once in a process, so every test module that needs Django imports
this module rather than configuring it itself: the first import wins and all of them see the same
settings (no DJANGO_SETTINGS_MODULE in the environment, so nothing else notices). The URLconf is
``tests.test_django``, whose views the Django tests drive; each test picks its middleware options with
``override_settings``. The database is SQLite in shared memory, as Django's own test runner uses.
"""

from __future__ import annotations

import django
from django.conf import settings

from embed_middleware import TokenIssuer, from_environ

if not settings.configured:
    settings.configure(
        SECRET_KEY="django-tests-" + "s" * 40,
        ALLOWED_HOSTS=["testserver"],
        USE_TZ=True,
        ROOT_URLCONF="tests.test_django",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "examples.django_chartio",
            "embed_middleware",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "embed_middleware.django.EmbedMiddleware",
        ],
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": "file:embed_django_tests?mode=memory&cache=shared",
            }
        },
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        EMBED_MIDDLEWARE={
            "issuer": TokenIssuer("test-signing-key-" + "k" * 40, resources=["top"]),
            "resolver": from_environ(),
        },
    )
    django.setup()
