"""README.md's quick starts, run as a reader would run them (issue 6: "a user can follow the README quick
start for their framework verbatim and it works").

The code is read from README.md at test time, never copied here: the fenced ``python`` and ``html``
blocks under ``## Quick start`` > ``### Flask`` / ``### Django`` / ``### FastAPI / Starlette``. What a
test adds is only what the README leaves to the reader's own project: a page showing the html snippet,
a way to log in, a session secret. A README block that does not run as printed fails its test.

Django runs in a subprocess, as a small project of its own (``DJANGO_SETTINGS_MODULE=myproject.settings``):
``tests/support/django_setup.py`` configures Django for this pytest process, and settings can be
configured only once per process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import flask
import jwt
import pytest
from fastapi import Request
from starlette.middleware.sessions import SessionMiddleware

from tests.support.parity import call_asgi, http_scope
from tests.support.tokens import JWT_TEXT as TOKEN
from tests.support.tokens import signing_secret

README = Path(__file__).resolve().parents[2] / "README.md"
KEY = signing_secret("readme-quickstart", 70)
#: The chart every quick start embeds (its html snippet names it).
RESOURCE = "top_airlines"
FENCE = re.compile(r"^```(\w*)\s*$")
#: How each quick start's snippet asks for the placeholder: Jinja's global, Django's tag, the f-string.
#: Only the current names: a quick start using a deprecated one fails here (warnings are errors).
PLACEHOLDER = re.compile(
    rf"{{{{ embed_placeholder\('{RESOURCE}'\) }}}}|{{% embed_placeholder \"{RESOURCE}\" %}}|{{token}}"
)
LOAD_TAG = "{% load embed %}"
HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")


def quickstart_blocks(framework: str) -> list[tuple[str, str]]:
    """``(language, code)`` of each fenced block under ``## Quick start`` > ``### <framework>``, up to
    the next heading (a ``#`` inside a fence is code, not a heading)."""
    section: list[str] = []
    blocks: list[tuple[str, str]] = []
    fence: tuple[str, list[str]] | None = None
    for line in README.read_text(encoding="utf-8").splitlines():
        opening = FENCE.match(line)
        if fence is not None:
            if line.rstrip() == "```":
                if section == ["Quick start", framework]:
                    blocks.append((fence[0], "\n".join(fence[1]) + "\n"))
                fence = None
            else:
                fence[1].append(line)
        elif opening:
            fence = (opening.group(1), [])
        elif heading := HEADING.match(line):
            level = len(heading.group(1))
            section = [*section[: level - 2], heading.group(2)] if level >= 2 else []
    assert blocks, f"README.md has no code under '## Quick start' > '### {framework}'"
    return blocks


def block(framework: str, language: str) -> str:
    (code,) = [code for lang, code in quickstart_blocks(framework) if lang == language]
    return code


def run_as_module(code: str, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Executes a README block as the module ``name`` (``__name__``, ``__file__`` and ``sys.modules``
    as an imported file would have them); tracebacks point at ``README.md``."""
    module = types.ModuleType(name)
    module.__file__ = str(tmp_path / f"{name}.py")
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(code, f"README.md (quick start: {name})", "exec"), module.__dict__)
    return module.__dict__


def the_token(body: str, html: str) -> str:
    """The page is the README's snippet with its placeholder (or Jinja's ``{{ embed_placeholder(...) }}``)
    replaced by one token; returns it."""
    tokens = TOKEN.findall(body)
    assert len(tokens) == 1, body
    assert body.strip() == PLACEHOLDER.sub(tokens[0], html.replace(LOAD_TAG, "").strip()), body
    return str(tokens[0])


def expect_claims(token: str, tenant: str) -> None:
    claims = jwt.decode(token, KEY, algorithms=["HS256"])
    assert (claims["sub"], claims["resource"]) == (tenant, RESOURCE), claims
    assert claims["exp"] - claims["iat"] == 600, "the quick starts ask for ttl=600"


@pytest.fixture
def signing_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("EMBED_SIGNING_KEY", KEY)
    return KEY


# -- Flask ---------------------------------------------------------------------------------------------


def flask_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The README's Flask module, its app, and a page rendering the README's template snippet."""
    module = run_as_module(block("Flask", "python"), "readme_flask_app", tmp_path, monkeypatch)
    app: flask.Flask = module["create_app"]() if "create_app" in module else module["app"]
    app.secret_key = "the reader's own session secret " + "s" * 32
    app.testing = True  # a README mistake raises here rather than as a bare 500
    html = block("Flask", "html")
    app.add_url_rule("/dashboard", "dashboard", lambda: flask.render_template_string(html))
    return app.test_client()


@pytest.mark.parametrize("org", ["acme", "globex"])
def test_flask_quickstart(
    org: str, signing_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = flask_client(tmp_path, monkeypatch)
    with client.session_transaction() as session:
        session["org_id"] = org  # what the README's current_tenant() reads
    response = client.get("/dashboard")
    assert response.status_code == 200
    expect_claims(the_token(response.get_data(as_text=True), block("Flask", "html")), org)
    assert response.headers["Cache-Control"] == "private, no-store"

    response = client.get(f"/embed/token?resource={RESOURCE}")  # the README's token_endpoint=
    assert response.status_code == 200, response.get_data(as_text=True)
    expect_claims(response.get_json()["token"], org)
    assert response.headers["Cache-Control"] == "private, no-store"


def test_flask_quickstart_without_a_tenant_has_no_token(
    signing_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = flask_client(tmp_path, monkeypatch)
    for org in (None, "initech"):  # nobody logged in; a session naming no known tenant
        if org is not None:
            with client.session_transaction() as session:
                session["org_id"] = org
        response = client.get("/dashboard")
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        assert '<iframe src="https://charts.example.com/embed?token=' in body
        assert not TOKEN.search(body), body
        assert client.get(f"/embed/token?resource={RESOURCE}").status_code == 401


# -- Django --------------------------------------------------------------------------------------------

#: What a reader's own project has around the README's lines: settings.py's other settings, a login that
#: gives request.user an org_id (an auth backend; no database), a view showing the snippet, urls.py.
DJANGO_SETTINGS = """\
SECRET_KEY = "the reader's own secret key " + "s" * 40
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "myproject"]
ROOT_URLCONF = "myproject.urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
AUTHENTICATION_BACKENDS = ["myproject.auth.OrgBackend"]
USE_TZ = True
"""
DJANGO_AUTH = """\
class OrgUser:
    is_authenticated = True
    is_active = True

    def __init__(self, pk):
        self.pk = self.id = pk
        self.org_id = int(pk)  # an integer key, as an ORM field would be


class OrgBackend:
    def get_user(self, user_id):
        return OrgUser(user_id)
"""
DJANGO_VIEWS = """\
from django.shortcuts import render

def dashboard(request):
    return render(request, "dashboard.html")
"""
DJANGO_URLS = """\
from django.urls import path
from myproject.views import dashboard

urlpatterns = [path("dashboard", dashboard)]
"""
#: Runs in the subprocess: each request anonymous and logged in as user 42 (org 42); prints the answers.
DJANGO_DRIVER = """\
import json, django
django.setup()
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, SESSION_KEY
from django.test import Client

answers = {}
for who in ("anonymous", "org 42"):
    client = Client()
    if who != "anonymous":
        session = client.session
        session[SESSION_KEY], session[BACKEND_SESSION_KEY] = "42", "myproject.auth.OrgBackend"
        session.save()
        client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    for path in ("/dashboard", "/embed/token?resource=top_airlines"):
        response = client.get(path)
        answers[f"{who} {path}"] = [response.status_code, dict(response.headers), response.content.decode()]
print(json.dumps(answers))
"""


def django_files(code: str) -> dict[str, str]:
    """The README's Django block, split at its ``# settings.py`` / ``# myproject/embed.py`` / ``# urls.py``
    comments into the files it belongs in."""
    files: dict[str, str] = {}
    name = None
    for line in code.splitlines(keepends=True):
        if marker := re.match(r"# ([\w/]+\.py)\b", line):
            name = marker.group(1).removeprefix("myproject/")
        assert name is not None, f"README's Django block has code before a '# <file>.py' comment: {line!r}"
        files[name] = files.get(name, "") + line
    assert sorted(files) == ["embed.py", "settings.py", "urls.py"], sorted(files)
    return files


def run_django_project(tmp_path: Path) -> dict[str, tuple[int, dict[str, str], str]]:
    readme = django_files(block("Django", "python"))
    project = tmp_path / "myproject"
    (project / "templates").mkdir(parents=True)
    (project / "templates" / "dashboard.html").write_text(block("Django", "html"))
    sources = {
        "__init__.py": "",
        "settings.py": DJANGO_SETTINGS + "\n" + readme["settings.py"],  # README's lines last: they win
        "embed.py": readme["embed.py"],
        "urls.py": DJANGO_URLS + "\n" + readme["urls.py"],
        "auth.py": DJANGO_AUTH,
        "views.py": DJANGO_VIEWS,
    }
    for name, source in sources.items():
        (project / name).write_text(source)
    repo = str(README.parent)
    env = {**os.environ, "EMBED_SIGNING_KEY": KEY, "DJANGO_SETTINGS_MODULE": "myproject.settings"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), repo, *filter(None, [os.environ.get("PYTHONPATH")])])
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", DJANGO_DRIVER],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"the README's Django quick start failed:\n{done.stderr}"
    answers: dict[str, tuple[int, dict[str, str], str]] = json.loads(done.stdout)
    return answers


def test_django_quickstart(tmp_path: Path) -> None:
    answers = run_django_project(tmp_path)
    status, headers, body = answers["org 42 /dashboard"]
    assert status == 200, body
    expect_claims(the_token(body, block("Django", "html")), "42")
    assert headers["Cache-Control"] == "private, no-store"

    status, headers, body = answers["org 42 /embed/token?resource=top_airlines"]
    assert status == 200, body
    expect_claims(json.loads(body)["token"], "42")
    assert headers["Cache-Control"] == "private, no-store"

    status, headers, body = answers["anonymous /dashboard"]
    assert status == 200, body
    assert '<iframe src="https://charts.example.com/embed?token=' in body
    assert not TOKEN.search(body), body
    assert answers["anonymous /embed/token?resource=top_airlines"][0] == 401


# -- FastAPI / Starlette -------------------------------------------------------------------------------


async def login(request: Request, org: str) -> dict[str, str]:
    """The reader's own login: puts the org in the session the README's view reads."""
    request.session["org_id"] = org
    return {"org_id": org}


def asgi_get(
    app: Any, path: str, method: str = "GET", cookie: str | None = None
) -> tuple[int, dict[str, str], str]:
    headers = [("cookie", cookie)] if cookie else []
    messages = asyncio.run(call_asgi(app, http_scope(path, method, headers)))
    head = {k.decode().lower(): v.decode() for k, v in messages[0]["headers"]}
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return messages[0]["status"], head, body.decode()


@pytest.mark.parametrize("org", ["acme", "globex"])
def test_fastapi_quickstart(
    org: str, signing_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = block("FastAPI / Starlette", "python")
    module = run_as_module(code, "readme_fastapi_app", tmp_path, monkeypatch)
    app = module["app"]
    # The README's ordering: SessionMiddleware is added after (so outside) the embed middleware.
    app.add_middleware(SessionMiddleware, secret_key="the reader's own session secret " + "s" * 32)
    app.add_api_route("/login", login, methods=["POST"])

    status, headers, body = asgi_get(app, f"/login?org={org}", "POST")
    assert status == 200, body
    cookie = headers["set-cookie"].split(";")[0]
    status, headers, body = asgi_get(app, "/dashboard", cookie=cookie)
    assert status == 200, body
    html = re.search(r"return f'(<iframe .*</iframe>)'", code)
    assert html, "the README's FastAPI view returns the iframe as one f-string"
    expect_claims(the_token(body, html.group(1)), org)
    assert headers["cache-control"] == "private, no-store"
