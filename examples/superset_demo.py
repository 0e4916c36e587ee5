"""``make superset-demo``: a real Apache Superset, and a host app whose pages embed its dashboard.

The host app (Flask, wrapped by ``EmbedWSGIMiddleware``) logs a visitor in as one of two tenants and
serves a page that loads ``@superset-ui/embedded-sdk``. The page's first guest token is written into
it by the middleware (``embed_placeholder('sales')`` in a ``data-token`` attribute); the SDK asks for the
next ones, 5 s before each expires, at the middleware's token endpoint. Superset verifies every token
with the shared key and filters the dashboard's rows with the token's RLS clause: Acme sees Acme's
rows, Globex Globex's, from one shared table.

``create_app`` is the host app on its own (the browser test serves it with a short ttl);
``start_superset_demo`` starts Superset, provisions it, and serves the host app.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, redirect, render_template_string, request, send_file, session, url_for
from werkzeug.wrappers import Response

from embed_middleware import EmbedWSGIMiddleware, SupersetProfile, Tenant, TokenIssuer, first_of, from_environ
from embed_middleware.templating import add_embed_globals

from .demo import _serve, serve_until_stopped
from .host_app import session_tenant_resolver
from .superset_provision import Provisioned, provision
from .superset_stack import SDK_BUNDLE, Superset, setup

RESOURCE = "sales"
TENANTS: Mapping[str, Tenant] = {
    tid: Tenant(tid, resources=frozenset({RESOURCE})) for tid in ("acme", "globex")
}
DISPLAY_NAMES: Mapping[str, str] = {"acme": "Acme Travel", "globex": "Globex Holidays"}
TOKEN_ENDPOINT = "/embed/token"
#: Superset's own default guest-token lifetime; the SDK refreshes 5 s before the end.
DEFAULT_TTL = 300
#: The RLS clause on Superset's ``sales`` table: ``{tenant}`` is written as a quoted SQL literal.
RLS = "tenant = {tenant}"


def superset_profile(embedded: Mapping[str, str], audience: str) -> SupersetProfile:
    return SupersetProfile(dashboards={RESOURCE: embedded[RESOURCE]}, audience=audience, rls=RLS)


def create_app(
    profile: SupersetProfile, signing_key: str, superset_url: str, *, ttl: int = DEFAULT_TTL
) -> Flask:
    """The host app: ``/login`` picks a tenant, ``/`` embeds that tenant's Superset dashboard."""
    app = Flask(__name__)
    app.secret_key = secrets.token_urlsafe(32)
    # Cookies ignore ports: on 127.0.0.1, Superset's own "session" cookie would replace the host app's.
    app.config.update(
        SESSION_COOKIE_NAME="host_session", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax"
    )
    add_embed_globals(app.jinja_env)

    @app.before_request
    def mark_tenant() -> None:
        if session.get("tenant") in TENANTS:
            request.environ["embed.tenant"] = session["tenant"]

    @app.get("/")
    def index() -> Response | str:
        tenant = session.get("tenant")
        if not isinstance(tenant, str) or tenant not in TENANTS:
            return redirect(url_for("login"))
        return render_template_string(
            PAGE,
            name=DISPLAY_NAMES[tenant],
            dashboard=profile.dashboard_id(RESOURCE),
            superset_url=superset_url,
            endpoint=f"{TOKEN_ENDPOINT}?resource={RESOURCE}",
        )

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Response | str:
        if request.method == "POST" and request.form.get("tenant") in TENANTS:
            session.clear()
            session["tenant"] = request.form["tenant"]
            return redirect(url_for("index"))
        return render_template_string(LOGIN, tenants=DISPLAY_NAMES)

    @app.post("/logout")
    def logout() -> Response:
        session.clear()
        return redirect(url_for("login"))

    @app.get("/static/superset-embedded-sdk.js")
    def sdk() -> Response:
        return send_file(SDK_BUNDLE, mimetype="text/javascript", max_age=3600)

    app.wsgi_app = EmbedWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app,
        issuer=TokenIssuer(signing_key, ttl=ttl, claims=profile),
        resolver=first_of(from_environ(lookup=TENANTS), session_tenant_resolver(app, TENANTS)),
        token_endpoint=TOKEN_ENDPOINT,
    )
    return app


@dataclass(frozen=True)
class RunningSupersetDemo:
    host_url: str
    superset: Superset
    provisioned: Provisioned
    stop: Callable[[], None]


def start_superset_demo(run_dir: Path, *, host_port: int = 0, ttl: int = DEFAULT_TTL) -> RunningSupersetDemo:
    """Superset on a free port with this run's secrets, provisioned, and the host app in front."""
    setup()
    key, audience = secrets.token_urlsafe(48), f"embed-demo-{secrets.token_hex(4)}"
    superset = Superset(run_dir, guest_key=key, audience=audience).start()
    try:
        provisioned = provision(superset.url, superset.admin_password, run_dir / "warehouse.db")
        app = create_app(superset_profile(provisioned.embedded, audience), key, superset.url, ttl=ttl)
        host, stop_host = _serve(app, host_port, "superset-demo-host")
    except BaseException:
        superset.stop()
        raise

    def stop() -> None:
        stop_host()
        superset.stop()

    return RunningSupersetDemo(f"http://127.0.0.1:{host.server_port}", superset, provisioned, stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.superset_demo", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_HOST_PORT", 5163)))
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL, help="guest-token lifetime, 10 to 300 s")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="superset-demo-") as run_dir:
        demo = start_superset_demo(Path(run_dir), host_port=args.port, ttl=args.ttl)
        return serve_until_stopped(
            demo.stop,
            [
                f"Superset {demo.superset.url} (pid {demo.superset.pid}; its log: {demo.superset.log_path})",
                "Guest-token key and admin password: generated for this run, never printed",
                f"Open {demo.host_url}/ and log in as acme or globex (a private window for the other one)",
            ],
        )


LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto}</style></head>
<body><h1>Log in</h1>
{% for id, name in tenants.items() %}
<form method="post" action="/login"><input type="hidden" name="tenant" value="{{ id }}">
  <button type="submit" name="as" value="{{ id }}">Log in as {{ name }} ({{ id }})</button></form>
{% endfor %}
</body></html>
"""

# The middleware fills data-token (this page's first token); the SDK's later calls fetch the endpoint.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sales for {{ name }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem}
header{display:flex;gap:1rem;align-items:baseline}
#dashboard iframe{width:100%;height:520px;border:1px solid #dee2e6;border-radius:6px}
</style></head>
<body>
<header><h1>Sales for {{ name }}</h1>
  <form method="post" action="/logout"><button type="submit">Log out</button></form></header>
<p>The dashboard below is Apache Superset's, embedded with a guest token that this app signed for
{{ name }}; Superset shows only {{ name }}'s rows.</p>
<div id="dashboard" data-token="{{ embed_placeholder('sales') }}" data-dashboard="{{ dashboard }}"
  data-superset="{{ superset_url }}" data-endpoint="{{ endpoint }}"></div>
<p id="token-status" aria-live="polite"></p>
<script src="/static/superset-embedded-sdk.js"></script>
<script>
(function () {
  var mount = document.getElementById("dashboard");
  var first = mount.dataset.token;
  mount.removeAttribute("data-token");
  var status = document.getElementById("token-status");
  function fetchGuestToken() {
    if (first) { var token = first; first = null; return Promise.resolve(token); }
    return fetch(mount.dataset.endpoint, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error("token endpoint: " + r.status); } return r.json(); })
      .then(function (data) {
        status.textContent = "Token refreshed at " + new Date().toLocaleTimeString();
        return data.token;
      });
  }
  supersetEmbeddedSdk.embedDashboard({
    id: mount.dataset.dashboard,
    supersetDomain: mount.dataset.superset,
    mountPoint: mount,
    fetchGuestToken: fetchGuestToken,
    dashboardUiConfig: {hideTitle: false, filters: {expanded: false}}
  });
})();
</script>
</body></html>
"""

if __name__ == "__main__":
    sys.exit(main())
