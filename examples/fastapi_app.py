"""The Tinybird "Next.js + JWT" guide, in FastAPI and plain JavaScript, with no token code of our own.

In the guide a server action (``generateJWT``) signs a token, a React hook (``useFetcher``) passes it
as ``?token=`` to Tinybird's JSON API, fetches a new one on a 403 and retries once, and SWR polls the
endpoint every five seconds. Here ``EmbedASGIMiddleware`` does the signing, two ways at once:

* ``/api/me`` (a small JSON call the page makes on load) leaves the app with a fresh token in its
  ``X-Embed-Token`` response header (``HeaderDelivery``);
* ``/embed/token?resource=top_airlines`` is the middleware's token endpoint, answered without
  running the app: ``{"token", "expires_at", "expires_in"}``.

The page's script takes its first token from the header, then refreshes it from the endpoint shortly
before it expires (and at once if the dashboard server answers 403), so the chart never goes blank.

The tenant is the one picked at ``/login``, kept in Starlette's signed session cookie. Views mark it
with ``request.state.embed_tenant``; the token endpoint is answered before any view runs, so there
``session_tenant`` reads the session that ``SessionMiddleware`` (added last, so it runs first) has
already verified. Claims have the Tinybird shape, with ``tenant_id`` pinned in ``fixed_params``.
"""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware
from werkzeug.datastructures import Headers as WerkzeugHeaders
from werkzeug.wrappers import Request as WerkzeugRequest

from embed_middleware import (
    EmbedASGIMiddleware,
    HeaderDelivery,
    Tenant,
    TokenIssuer,
    first_of,
    from_environ,
)

from .dashboard_server import READ_SCOPE, WORKSPACE_ID
from .dashboard_server import TENANTS as DASHBOARD_TENANTS

#: The one pipe this page shows, as in the guide.
RESOURCE = "top_airlines"
#: Who may log in, and what each may embed: the token endpoint answers 404 for anything else.
TENANTS: Mapping[str, Tenant] = {
    tid: Tenant(tid, resources=frozenset({RESOURCE})) for tid in ("acme", "globex")
}
DISPLAY_NAMES: Mapping[str, str] = {tid: DASHBOARD_TENANTS[tid].name for tid in TENANTS}
TOKEN_ENDPOINT = "/embed/token"
TOKEN_HEADER = "X-Embed-Token"
SESSION_COOKIE = "embed_demo_session"
#: How long a login lasts; the session cookie's signature is refused after that.
SESSION_MAX_AGE = 8 * 60 * 60
#: The guide's SWR ``refreshInterval``.
POLL_SECONDS = 5
#: A login form is a few dozen bytes; anything much larger is not one.
MAX_FORM_BYTES = 4096
PAGE_CACHE_CONTROL = "private, no-store"


def tinybird_claims(tenant: Tenant, resource: str | None, request: WerkzeugRequest) -> dict[str, Any]:
    """The guide's payload (``workspace_id``, ``name``, ``scopes``), with the tenant pinned in
    ``fixed_params`` so the vendor filters rows by it whatever the page's URL says."""
    return {
        "workspace_id": WORKSPACE_ID,
        "name": f"embed_{tenant.id}",
        "scopes": [
            {"type": READ_SCOPE, "resource": resource or RESOURCE, "fixed_params": {"tenant_id": tenant.id}}
        ],
    }


def _tenant_in(session: object) -> Tenant | None:
    tenant_id = session.get("tenant") if isinstance(session, Mapping) else None
    return TENANTS.get(tenant_id) if isinstance(tenant_id, str) else None


async def session_tenant(request: WerkzeugRequest) -> Tenant | None:
    """The tenant in the session ``SessionMiddleware`` verified (signature and age) for this request.

    Used by the token endpoint, which runs before the app: SessionMiddleware is outside the embed
    middleware, so ``scope["session"]`` is already there, and holds nothing for a forged cookie.
    """
    scope = request.environ.get("asgi.scope")
    return _tenant_in(scope.get("session")) if isinstance(scope, Mapping) else None


def _header_wanted(request: WerkzeugRequest, status: int, headers: WerkzeugHeaders) -> bool:
    """Only ``/api/me`` answers carry the header token: no other response needs one."""
    return request.path == "/api/me" and status == 200


def _current_tenant(request: Request) -> Tenant | None:
    """The logged-in tenant, marked for the embed middleware (read after the view has run)."""
    tenant = _tenant_in(request.session)
    if tenant is not None:
        request.state.embed_tenant = tenant
    return tenant


async def _form(request: Request) -> dict[str, str]:
    """A small ``application/x-www-form-urlencoded`` body (no python-multipart needed)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    return {name: values[0] for name, values in fields.items()}


def _no_store(response: Response) -> Response:
    """Per-user answers: no cache keeps them (SessionMiddleware adds ``Vary: Cookie`` itself)."""
    response.headers["Cache-Control"] = PAGE_CACHE_CONTROL
    return response


def create_app(
    signing_key: str, dashboard_url: str, ttl: int = 600, *, session_secret: str | None = None
) -> FastAPI:
    """The host app, wrapped in the embed middleware; ``dashboard_url`` is where the data lives.

    ``ttl`` is the tokens' lifetime in seconds (short ones show the page refreshing them).
    ``session_secret`` signs the session cookie; a random one (per process) when not given.
    """
    dashboard_url = dashboard_url.rstrip("/")
    parts = urlsplit(dashboard_url)
    dashboard_origin = f"{parts.scheme}://{parts.netloc}"
    app = FastAPI(title="Embed refresh demo", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    async def index(request: Request) -> Response:
        tenant = _current_tenant(request)
        if tenant is None:
            return RedirectResponse("/login", status_code=303)
        nonce = secrets.token_urlsafe(16)
        page = PAGE.format(
            tenant_name=html.escape(DISPLAY_NAMES[tenant.id]),
            nonce=nonce,
            config=_script_json(
                {
                    "dashboardUrl": dashboard_url,
                    "resource": RESOURCE,
                    "meUrl": "/api/me",
                    "tokenHeader": TOKEN_HEADER,
                    "tokenEndpoint": TOKEN_ENDPOINT,
                    "loginUrl": "/login",
                    "pollMs": POLL_SECONDS * 1000,
                }
            ),
        )
        response = _no_store(HTMLResponse(page))
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
            f"connect-src 'self' {dashboard_origin}; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'"
        )
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.get("/api/me")
    async def me(request: Request) -> Response:
        tenant = _current_tenant(request)
        if tenant is None:
            return _no_store(JSONResponse({"error": "not_logged_in"}, status_code=401))
        body = {"tenant": tenant.id, "name": DISPLAY_NAMES[tenant.id], "resource": RESOURCE}
        return _no_store(JSONResponse(body))

    @app.get("/login", response_class=HTMLResponse)
    async def login_form() -> Response:
        return _no_store(HTMLResponse(_login_page(error=None)))

    @app.post("/login")
    async def login(request: Request) -> Response:
        tenant = (await _form(request)).get("tenant", "")
        if tenant not in TENANTS:
            return _no_store(HTMLResponse(_login_page("Pick one of the tenants."), status_code=400))
        request.session.clear()
        request.session["tenant"] = tenant
        return RedirectResponse("/", status_code=303)

    # GET too, so that typing /logout works; logging someone out is all a forged request could do.
    @app.api_route("/logout", methods=["GET", "POST"])
    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # Starlette runs the middleware added last first: the session is decoded (and verified) before
    # the embed middleware's token endpoint needs it. (The ignore: EmbedASGIMiddleware's ``app``
    # parameter is not positional-only, which Starlette's middleware-factory protocol asks for.)
    app.add_middleware(
        EmbedASGIMiddleware,  # type: ignore[arg-type, unused-ignore]
        issuer=TokenIssuer(signing_key=signing_key, ttl=ttl, claims=tinybird_claims, resources=[RESOURCE]),
        resolver=first_of(from_environ(), session_tenant),
        header=HeaderDelivery(name=TOKEN_HEADER, when=_header_wanted, resource=RESOURCE),
        token_endpoint=TOKEN_ENDPOINT,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret or secrets.token_urlsafe(32),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
    )
    return app


def _script_json(value: Mapping[str, Any]) -> str:
    """JSON safe inside a ``<script>`` element: no ``</script>`` or ``<!--`` can close it."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _login_page(error: str | None) -> str:
    choices = "\n".join(
        f'  <p><label><input type="radio" name="tenant" value="{html.escape(tid)}"'
        f"{' checked' if index == 0 else ''}> {html.escape(name)} ({html.escape(tid)})</label></p>"
        for index, (tid, name) in enumerate(DISPLAY_NAMES.items())
    )
    alert = f'<p role="alert">{html.escape(error)}</p>\n' if error else ""
    return LOGIN.format(alert=alert, choices=choices)


LOGIN = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Log in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto}}</style></head>
<body>
<h1>Log in</h1>
{alert}<form method="post" action="/login">
{choices}
  <button type="submit">Log in</button>
</form>
</body>
</html>
"""

# str.format template: literal braces are doubled. The script follows the guide's useFetcher: fetch
# with ?token=, on a 403 get a new token and retry once; and, unlike the guide, it also refreshes the
# token a little before it expires, so polling never hits the 403 in the first place.
PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Analytics for {tenant_name}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;max-width:46rem}}
header{{display:flex;gap:1rem;align-items:baseline}}
#chart text{{font-size:13px;fill:#495057}}
#chart rect{{fill:#1c7ed6}}
#status{{color:#495057;font-size:.9rem}}
#error{{color:#c92a2a}}
</style></head>
<body>
<header>
  <h1>Analytics for {tenant_name}</h1>
  <form method="post" action="/logout"><button type="submit">Log out</button></form>
</header>
<h2>Top airlines by bookings</h2>
<p>Ranked from highest to lowest; refreshed every few seconds.</p>
<svg id="chart" role="img" aria-label="Top airlines by bookings" width="560" height="40"></svg>
<p id="status" aria-live="polite">Loading…</p>
<p id="error" role="alert" hidden></p>
<script type="application/json" id="embed-config">{config}</script>
<script nonce="{nonce}">
(function () {{
  "use strict";
  var config = JSON.parse(document.getElementById("embed-config").textContent);
  var SVG = "http://www.w3.org/2000/svg";
  var token = null;         // never written to the page, the URL bar or the console
  var expiresAt = 0;        // by this page's clock, in ms
  var refreshTimer = null;
  var pending = null;       // one token request at a time

  function failed(status) {{
    if (status === 401) {{ location.assign(config.loginUrl); }}
    return new Error("token request failed: " + status);
  }}

  // The lifetime from the token itself (exp - iat), counted from now: immune to clock skew.
  function lifetimeOf(jwt) {{
    var part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    var claims = JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
    return claims.exp - claims.iat;
  }}

  function useToken(value, lifetime) {{
    // iat and exp are whole seconds, so up to one second of the lifetime may be gone already.
    var usable = Math.max(lifetime - 1, 1);
    token = value;
    expiresAt = Date.now() + usable * 1000;
    // Refresh a quarter of that (at most a minute) before it ends: 14.25 s into a 20 s token.
    var lead = Math.min(60, usable / 4);
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {{
      refreshToken().catch(showError);
    }}, Math.max(usable - lead, 0.5) * 1000);
    return token;
  }}

  // First token: the X-Embed-Token header the middleware put on /api/me.
  function tokenFromHeader() {{
    return fetch(config.meUrl, {{credentials: "same-origin", cache: "no-store"}}).then(function (r) {{
      var value = r.headers.get(config.tokenHeader);
      if (!r.ok || !value) {{ throw failed(r.status); }}
      return useToken(value, lifetimeOf(value));
    }});
  }}

  // Every later one: the token endpoint, which says how long the token lives.
  function refreshToken() {{
    if (!pending) {{
      var url = config.tokenEndpoint + "?resource=" + encodeURIComponent(config.resource);
      pending = fetch(url, {{credentials: "same-origin", cache: "no-store"}})
        .then(function (r) {{
          if (!r.ok) {{ throw failed(r.status); }}
          return r.json();
        }})
        .then(function (data) {{ return useToken(data.token, data.expires_in); }})
        .finally(function () {{ pending = null; }});
    }}
    return pending;
  }}

  function query(current) {{
    var url = config.dashboardUrl + "/v0/pipes/" + encodeURIComponent(config.resource) +
      ".json?token=" + encodeURIComponent(current);
    return fetch(url, {{cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer"}});
  }}

  // The guide's useFetcher: on a 403 (expired, say) get a new token and retry, once.
  function load() {{
    var ready = token ? Promise.resolve(token) : tokenFromHeader();
    return ready.then(query).then(function (r) {{
      if (r.status !== 403) {{ return r; }}
      return refreshToken().then(query);
    }}).then(function (r) {{
      return r.json().then(function (body) {{
        if (!r.ok) {{ throw new Error(body.error || ("HTTP " + r.status)); }}
        return body;
      }});
    }});
  }}

  function draw(rows) {{
    var chart = document.getElementById("chart");
    var rowHeight = 28, labelWidth = 150, barSpace = 320;
    var largest = rows.reduce(function (m, row) {{ return Math.max(m, row.bookings); }}, 1);
    while (chart.firstChild) {{ chart.removeChild(chart.firstChild); }}
    chart.setAttribute("height", String(rows.length * rowHeight + 8));
    rows.forEach(function (row, i) {{
      var y = i * rowHeight, width = Math.max(1, Math.round(barSpace * row.bookings / largest));
      var group = document.createElementNS(SVG, "g");
      group.setAttribute("data-label", row.airline);
      var label = document.createElementNS(SVG, "text");
      label.setAttribute("x", String(labelWidth - 8));
      label.setAttribute("y", String(y + 17));
      label.setAttribute("text-anchor", "end");
      label.textContent = row.airline;
      var bar = document.createElementNS(SVG, "rect");
      bar.setAttribute("x", String(labelWidth));
      bar.setAttribute("y", String(y + 4));
      bar.setAttribute("width", String(width));
      bar.setAttribute("height", String(rowHeight - 8));
      bar.setAttribute("rx", "3");
      var value = document.createElementNS(SVG, "text");
      value.setAttribute("x", String(labelWidth + width + 6));
      value.setAttribute("y", String(y + 17));
      value.textContent = String(row.bookings);
      group.appendChild(label);
      group.appendChild(bar);
      group.appendChild(value);
      chart.appendChild(group);
    }});
  }}

  function showError(error) {{
    var box = document.getElementById("error");
    box.textContent = "Oops, something happened: " + error.message;
    box.hidden = false;
  }}

  function tick() {{
    load().then(function (body) {{
      draw(body.data);
      document.getElementById("error").hidden = true;
      var left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
      var latency = body.statistics ? (body.statistics.elapsed * 1000).toFixed(2) + " ms" : "n/a";
      document.getElementById("status").textContent = "Updated " + new Date().toLocaleTimeString() +
        "; latency " + latency + "; this token expires in " + left + " s.";
    }}).catch(showError).finally(function () {{
      setTimeout(tick, config.pollMs);
    }});
  }}

  tick();
}})();
</script>
</body>
</html>
"""
