"""The apps the browser row loads, each under its own gunicorn: the host app and the vendor stand-in.

``gunicorn 'benchmarks.browser_app:host()'`` serves one Flask app, wrapped once in
``EmbedWSGIMiddleware``, with both ways of getting a token into an iframe:

* ``/rewritten``: the iframe's final URL is in the HTML with the app's placeholder where the token goes,
  written for each request by ``embed_placeholder(request, "top_airlines")`` (so it carries the
  request's nonce, ``<JWT_TOKEN:top_airlines:NONCE>``); the middleware fills it in as the page leaves
  the app.
* ``/seeds``: the seeds' pattern. The iframe has no ``src``; on ``DOMContentLoaded`` the page's script
  fetches ``/generate-token`` (JSON ``{"token": ...}``) and then sets the ``src``.
* ``/generate-token``: mints with the very issuer the middleware holds, for the same tenant and
  resource, so both pages' tokens cost the same to make and carry the same claims.

Both pages share everything else byte for byte (head, filler, iframe attributes), so what the row
compares is only where the token comes from. The issuer names the one pipe pages may embed
(``TinybirdProfile(..., pipes=["top_airlines"])``), as the middleware requires.
``gunicorn 'benchmarks.browser_app:dashboard()'`` is ``examples.dashboard_server``, which verifies
the token the iframe asks with.

Configuration comes from the environment, because gunicorn imports the factories in its worker:
``EMBED_SIGNING_KEY`` (read by ``TokenIssuer`` itself) and ``BENCH_DASHBOARD_URL``.
"""

from __future__ import annotations

import html
import os

from flask import Flask, jsonify, request
from werkzeug.wrappers import Response

from embed_middleware import (
    EmbedWSGIMiddleware,
    Tenant,
    TinybirdProfile,
    TokenIssuer,
    embed_placeholder,
    from_environ,
)
from examples.dashboard_server import WORKSPACE_ID, DashboardServer

KEY_ENV = "EMBED_SIGNING_KEY"
DASHBOARD_URL_ENV = "BENCH_DASHBOARD_URL"
RESOURCE = "top_airlines"
TENANT = Tenant("acme", resources=frozenset({RESOURCE}))
REWRITTEN_PATH = "/rewritten"
SEEDS_PATH = "/seeds"
TOKEN_PATH = "/generate-token"
#: The iframe's id in both pages; the seeds' script finds it by this id.
FRAME_ID = "tinybird-chart"

_HEAD = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Tinybird Charts</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}iframe{border:none}</style></head>
<body>
<h1>Analytics</h1>
<p>Top airlines by bookings, drawn by the dashboard server from this tenant's rows only.</p>
"""
_FRAME = '<iframe id="{id}" title="Top airlines" width="540" height="200"{src}></iframe>\n'
#: The seeds' script (the Tinybird charts guide), pointed at this app's own token endpoint.
_SCRIPT = """<script>
document.addEventListener("DOMContentLoaded", function () {
  const iframe = document.getElementById("%(id)s");
  const iframeBaseUrl = "%(base)s";
  fetch("%(endpoint)s")
    .then(function (response) {
      if (!response.ok) { throw new Error("Network response was not ok " + response.statusText); }
      return response.json();
    })
    .then(function (data) { iframe.src = iframeBaseUrl + data.token; })
    .catch(function (error) { console.error("There has been a problem with your fetch operation:", error); });
});
</script>
"""
_TAIL = "</body>\n</html>\n"


def embed_base(dashboard_url: str) -> str:
    """The embed URL up to the token, the same string in both pages."""
    return f"{dashboard_url.rstrip('/')}/embed/{RESOURCE}?token="


#: Where the rewritten page's placeholder goes; the view writes the request's own there.
_SLOT = "\x00"


def pages(dashboard_url: str) -> tuple[tuple[str, str], str]:
    """The rewritten page, as the text before and after its placeholder, and the seeds' page (empty
    iframe and its script)."""
    base = embed_base(dashboard_url)
    src = f' src="{html.escape(base)}{_SLOT}"'
    before, after = (_HEAD + _FRAME.format(id=FRAME_ID, src=src) + _TAIL).split(_SLOT)
    script = _SCRIPT % {"id": FRAME_ID, "base": base, "endpoint": TOKEN_PATH}
    seeds = _HEAD + _FRAME.format(id=FRAME_ID, src="") + script + _TAIL
    return (before, after), seeds


def claims() -> TinybirdProfile:
    """The guide's Tinybird claims, with the tenant pinned in ``fixed_params`` as the vendor requires."""
    return TinybirdProfile(
        WORKSPACE_ID, fixed_params=lambda tenant, pipe, req: {"tenant_id": tenant.id}, pipes=[RESOURCE]
    )


def create_host(signing_key: str, dashboard_url: str) -> Flask:
    """The host app: two pages and the seeds' token endpoint, all behind one middleware."""
    app = Flask(__name__)
    issuer = TokenIssuer(signing_key, ttl=600, claims=claims())
    (before, after), seeds = pages(dashboard_url)

    @app.get(REWRITTEN_PATH)
    def rewritten_page() -> str:
        request.environ["embed.tenant"] = TENANT  # what a view does for the logged-in user
        return before + embed_placeholder(request, RESOURCE) + after

    @app.get(SEEDS_PATH)
    def seeds_page() -> str:
        return seeds  # no placeholder: the middleware reads the page and hands it on as it is

    @app.get(TOKEN_PATH)
    def generate_token() -> Response:
        token = issuer.issue(TENANT, RESOURCE, request).token
        return jsonify({"token": token})

    app.wsgi_app = EmbedWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, issuer=issuer, resolver=from_environ()
    )
    return app


def host() -> Flask:
    """gunicorn's factory for the host app."""
    return create_host(os.environ[KEY_ENV], os.environ[DASHBOARD_URL_ENV])


def dashboard() -> DashboardServer:
    """gunicorn's factory for the vendor stand-in, verifying with the same key."""
    return DashboardServer(os.environ[KEY_ENV])
