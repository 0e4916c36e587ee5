"""The customer's own Flask app, as in the Tinybird "charts with iframes and JWTs" guide, minus its JS.

In the guide the page loads with an empty iframe, its JavaScript calls ``/generate-token`` and then
sets the iframe's ``src``. Here the template writes the iframe's final URL with ``embed_url()`` /
``embed_placeholder()``, which put this request's placeholder (carrying a per-request nonce) where the token
goes, and ``EmbedWSGIMiddleware`` fills in a fresh token for the logged-in tenant as the page leaves
the app: the chart loads with the page, and a page without a tenant carries no token at all. The
page also shows a note anyone can edit: placeholder text typed there stays text and gets no token.
The only script left reloads each chart with a fresh token before the page's one expires.

The tenant is the one picked at ``/login`` and kept in Flask's signed session cookie. The app marks
it in ``request.environ["embed.tenant"]`` while handling a request; the middleware reads it after
the app has run. The middleware's token endpoint answers without running the app, so there the
same session cookie is verified directly (see ``session_tenant_resolver``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, redirect, render_template_string, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadData
from werkzeug.wrappers import Request, Response

from embed_middleware import (
    EmbedWSGIMiddleware,
    Resolver,
    Tenant,
    TokenIssuer,
    first_of,
    from_cookie,
    from_environ,
)
from embed_middleware.templating import add_embed_globals

from .dashboard_server import READ_SCOPE, WORKSPACE_ID

#: The charts this app embeds: the vendor's pipe names, which are also the placeholders' names.
RESOURCES = frozenset({"top_airlines", "bookings_by_day"})
#: Who may log in, and what each may embed; a placeholder for anything else is left empty.
TENANTS: Mapping[str, Tenant] = {tid: Tenant(tid, resources=RESOURCES) for tid in ("acme", "globex")}
DISPLAY_NAMES: Mapping[str, str] = {"acme": "Acme Travel", "globex": "Globex Holidays"}
#: Ten minutes (the guide's example says 48 hours): enough to load a page, and a leaked URL dies soon.
TOKEN_TTL = 600
#: Served by the middleware itself; the page's script refreshes tokens from it before they expire.
TOKEN_ENDPOINT = "/embed/token"


def tinybird_claims(tenant: Tenant, resource: str | None, request: Request) -> dict[str, Any]:
    """Tinybird's JWT shape: read access to one pipe (all of them for a bare placeholder), with
    ``tenant_id`` pinned in ``fixed_params`` so the vendor filters rows by it whatever the URL says."""
    names = [resource] if resource is not None else sorted(RESOURCES)
    return {
        "workspace_id": WORKSPACE_ID,
        "name": f"embed_{tenant.id}",
        "scopes": [
            {"type": READ_SCOPE, "resource": name, "fixed_params": {"tenant_id": tenant.id}} for name in names
        ],
    }


def session_tenant_resolver(app: Flask, tenants: Mapping[str, Tenant] = TENANTS) -> Resolver:
    """The tenant in the app's signed session cookie, verified exactly as Flask would.

    Only the token endpoint needs this: it is answered before the app runs, so nothing has marked
    ``embed.tenant`` yet. The cookie is signed with the app's secret, so a client cannot forge it.
    ``from_cookie`` hands ``lookup`` the raw cookie (up to 8 KiB), which it verifies here.
    """

    def lookup(raw: str) -> Tenant | None:
        interface = app.session_interface
        if not isinstance(interface, SecureCookieSessionInterface):
            return None
        serializer = interface.get_signing_serializer(app)
        if serializer is None:
            return None
        try:
            data = serializer.loads(raw, max_age=int(app.permanent_session_lifetime.total_seconds()))
        except BadData:
            return None
        tenant = data.get("tenant") if isinstance(data, dict) else None
        return tenants.get(tenant) if isinstance(tenant, str) else None

    return from_cookie(app.config["SESSION_COOKIE_NAME"], lookup=lookup)


def create_app(signing_key: str, dashboard_url: str, *, reuse_window: int | None = None) -> Flask:
    """The host app, wrapped in the embed middleware; ``dashboard_url`` is where the charts live.

    ``reuse_window`` (seconds) turns token reuse on: every page view in a window gets the same
    tokens, so the dashboard server runs its queries once per window instead of once per view."""
    app = Flask(__name__)
    app.secret_key = os.environ.get("FLASK_SECRET_KEY") or secrets.token_urlsafe(32)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    dashboard_url = dashboard_url.rstrip("/")
    add_embed_globals(app.jinja_env)  # {{ embed_url(...) }} and {{ embed_placeholder(...) }} in templates
    #: A note shown to every visitor and editable by all of them: user content, as in any real app.
    notes: dict[str, str] = {"text": "Welcome! Edit this note: try <JWT_TOKEN:top_airlines> in it."}

    @app.before_request
    def mark_tenant() -> None:
        # Only a tenant we know: a stale session naming a removed tenant gets no token.
        tenant = session.get("tenant")
        if tenant in TENANTS:
            request.environ["embed.tenant"] = tenant

    @app.get("/")
    def index() -> Response | str:
        tenant = session.get("tenant")
        if not isinstance(tenant, str) or tenant not in TENANTS:
            return redirect(url_for("login"))
        return render_template_string(
            PAGE,
            tenant_name=DISPLAY_NAMES[tenant],
            dashboard_url=dashboard_url,
            token_endpoint=TOKEN_ENDPOINT,
            ttl=TOKEN_TTL,
            note=notes["text"],
            reuse_window=reuse_window,
        )

    @app.post("/note")
    def edit_note() -> Response:
        if session.get("tenant") in TENANTS:
            notes["text"] = request.form.get("note", "")[:2000]
        return redirect(url_for("index"))

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Response | tuple[str, int] | str:
        if request.method == "POST":
            tenant = request.form.get("tenant", "")
            if tenant not in TENANTS:
                error = "Pick one of the tenants."
                return render_template_string(LOGIN, tenants=DISPLAY_NAMES, error=error), 400
            session.clear()
            session["tenant"] = tenant
            return redirect(url_for("index"))
        return render_template_string(LOGIN, tenants=DISPLAY_NAMES, error=None)

    # GET too, so that typing /logout works; logging someone out is all a forged request could do.
    @app.route("/logout", methods=["GET", "POST"])
    def logout() -> Response:
        session.clear()
        return redirect(url_for("login"))

    app.wsgi_app = EmbedWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app,
        issuer=TokenIssuer(
            signing_key=signing_key,
            ttl=TOKEN_TTL,
            claims=tinybird_claims,
            resources=RESOURCES,
            reuse=reuse_window,
        ),
        resolver=first_of(from_environ(lookup=TENANTS), session_tenant_resolver(app)),
        token_endpoint=TOKEN_ENDPOINT,
        # embed_url() writes placeholders only into URLs of the dashboard server.
        embed_origins=[dashboard_url],
    )
    return app


LOGIN = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Log in</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto}</style></head>
<body>
<h1>Log in</h1>
{% if error %}<p role="alert">{{ error }}</p>{% endif %}
<form method="post">
  {% for id, name in tenants.items() %}
  <p><label><input type="radio" name="tenant" value="{{ id }}"{% if loop.first %} checked{% endif %}>
    {{ name }} ({{ id }})</label></p>
  {% endfor %}
  <button type="submit">Log in</button>
</form>
</body>
</html>
"""

# The first iframe's URL comes from embed_url() (percent-encoded placeholder, origin checked); the
# second's placeholder from embed_placeholder() (raw). The middleware fills both, and nothing in the note.
PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Analytics for {{ tenant_name }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem}
header{display:flex;gap:1rem;align-items:baseline}
iframe{border:1px solid #dee2e6;border-radius:6px;margin:0 1rem 1rem 0}
</style></head>
<body>
<header>
  <h1>Analytics for {{ tenant_name }}</h1>
  <form method="post" action="{{ url_for('logout') }}"><button type="submit">Log out</button></form>
</header>
<p>Both charts come from the dashboard server at {{ dashboard_url }}. Their URLs carry a token
that was signed for {{ tenant_name }} and expires {{ ttl // 60 }} minutes after it was issued.
{% if reuse_window %}Token reuse is on: every view within {{ reuse_window }} s gets the same tokens, so
reloading runs no new queries (the count under each chart stays put).{% else %}Token reuse is off: every
view gets brand-new tokens, so each reload runs the charts' queries again (watch the count under each
chart).{% endif %}</p>
<iframe title="Top airlines" data-resource="top_airlines" width="540" height="200"
  src="{{ embed_url(dashboard_url ~ '/embed/top_airlines', 'top_airlines') }}"></iframe>
<iframe title="Bookings by day" data-resource="bookings_by_day" width="540" height="260"
  src="{{ dashboard_url }}/embed/bookings_by_day?token={{ embed_placeholder('bookings_by_day') }}"></iframe>
<section aria-label="Team note">
  <h2>Team note</h2>
  <p id="note">{{ note }}</p>
  <form method="post" action="{{ url_for('edit_note') }}">
    <input name="note" size="60" aria-label="New note"> <button type="submit">Save note</button>
  </form>
</section>
<script>
// Reload each chart with a fresh token a minute before the current one expires.
(function () {
  function refresh(frame) {
    fetch("{{ token_endpoint }}?resource=" + encodeURIComponent(frame.dataset.resource),
          {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw r.status; } return r.json(); })
      .then(function (data) {
        var url = new URL(frame.src);
        url.searchParams.set("token", data.token);
        frame.src = url.toString();
        setTimeout(function () { refresh(frame); }, Math.max(data.expires_in - 60, 30) * 1000);
      })
      .catch(function (status) { if (status === 401) { location.assign("{{ url_for('login') }}"); } });
  }
  document.querySelectorAll("iframe[data-resource]").forEach(function (frame) {
    setTimeout(function () { refresh(frame); }, Math.max({{ ttl }} - 60, 30) * 1000);
  });
  // Restored from the back/forward cache (Back after logout, on a shared computer): ask the server
  // again, so a page with tokens never comes back without a session behind it.
  addEventListener("pageshow", function (event) { if (event.persisted) { location.reload(); } });
})();
</script>
</body>
</html>
"""
