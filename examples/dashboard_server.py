"""A stand-in for Tinybird: the vendor's dashboard server that the host app's iframes point at.

It does what the real service does with an embed URL, and nothing more: ``GET /embed/<resource>
?token=...`` verifies the JWT with the shared signing key, checks that one of its scopes grants
``PIPES:READ`` on that resource, and draws the chart for the tenant pinned in the scope's
``fixed_params``. The tenant comes only from the signed token, never from the URL, which is why a
page can hand the URL to the browser: a user who edits it gets a 403, not another tenant's data.

Every failure is a 403 with a machine-readable reason (``expired``, ``invalid``, ``out_of_scope``)
so the demo's tests can tell the cases apart. The data is made up and fixed, so it is obvious at a
glance whose chart is on screen.

Like Chartio's usage statistics, it counts "queries run": a chart's queries run only when its URL
arrives with a *brand-new* token, and later requests with that token are served from the results
cache until it expires. Every chart page says how many have run for its tenant, and ``GET /stats``
answers ``{"queries_run": {tenant: n}}``. With the host app's token reuse off, every page view runs
the queries again; with it on, reloading the page runs none.

``GET /v0/pipes/<resource>.json?token=...`` serves the same rows as JSON in the shape of Tinybird's
API endpoints (``meta``, ``data``, ``rows``, ``statistics``), for pages that fetch the data and draw
it themselves, as in the Next.js guide. It is called cross-origin, so origins listed in
``allowed_origins`` get ``Access-Control-Allow-Origin`` on its answers, 403s included (a page cannot
read the status of a cross-origin answer without it, and needs the 403 to know to refresh).
"""

from __future__ import annotations

import hashlib
import html
import json
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

#: The workspace this server plays: tokens signed for any other workspace are rejected.
WORKSPACE_ID = "1f484a32-6966-4f63-9312-aadad64d3e12"
#: The scope type Tinybird checks before serving a pipe's data.
READ_SCOPE = "PIPES:READ"
#: Tokens are verified with this algorithm only: a token cannot choose a weaker one (or "none").
ALGORITHMS = ["HS256"]
#: The demo runs on loopback; a real vendor would list its customers' origins here.
DEFAULT_FRAME_ANCESTORS = "http://127.0.0.1:* http://localhost:*"


@dataclass(frozen=True)
class Chart:
    """One embeddable resource: what its title says and how its bars are labelled."""

    title: str
    unit: str
    #: The name of the label column in the JSON rows (``{"airline": "KLM", "bookings": 960}``).
    index: str = "label"


@dataclass(frozen=True)
class TenantData:
    """One customer's name, bar colour and series per chart."""

    name: str
    colour: str
    series: Mapping[str, tuple[tuple[str, int], ...]]


CHARTS: Mapping[str, Chart] = {
    "top_airlines": Chart("Top airlines by bookings", "bookings", index="airline"),
    "bookings_by_day": Chart("Bookings by day of week", "bookings", index="day"),
}

#: Deliberately disjoint: no airline, number or colour is shared, so a mix-up cannot go unnoticed.
TENANTS: Mapping[str, TenantData] = {
    "acme": TenantData(
        name="Acme Travel",
        colour="#e8590c",
        series={
            "top_airlines": (
                ("Lufthansa", 1840),
                ("Iberia", 1275),
                ("KLM", 960),
                ("TAP Air Portugal", 610),
                ("Aer Lingus", 385),
            ),
            "bookings_by_day": (
                ("Mon", 120),
                ("Tue", 135),
                ("Wed", 150),
                ("Thu", 142),
                ("Fri", 198),
                ("Sat", 240),
                ("Sun", 210),
            ),
        },
    ),
    "globex": TenantData(
        name="Globex Holidays",
        colour="#1c7ed6",
        series={
            "top_airlines": (
                ("Delta", 2310),
                ("United", 1985),
                ("JetBlue", 1120),
                ("Alaska Airlines", 760),
                ("Southwest", 540),
            ),
            "bookings_by_day": (
                ("Mon", 310),
                ("Tue", 295),
                ("Wed", 280),
                ("Thu", 330),
                ("Fri", 365),
                ("Sat", 180),
                ("Sun", 160),
            ),
        },
    ),
}


class Rejected(Exception):
    """A token that does not open this chart; ``reason`` is what the 403 body says."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify(token: str | None, resource: str, key: str | bytes, workspace_id: str = WORKSPACE_ID) -> str:
    """The tenant a token may read ``resource`` for, or ``Rejected``.

    The signature is checked before the expiry (PyJWT's order), so ``expired`` is only ever said
    of a token this server really signed.
    """
    if not token:
        raise Rejected("invalid")
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=ALGORITHMS, options={"require": ["exp", "iat"]}
        )
    except jwt.ExpiredSignatureError:
        raise Rejected("expired") from None
    except jwt.InvalidTokenError:
        raise Rejected("invalid") from None
    scopes = claims.get("scopes")
    if claims.get("workspace_id") != workspace_id or not isinstance(scopes, list):
        raise Rejected("invalid")
    for scope in scopes:
        if not isinstance(scope, dict):
            continue
        if scope.get("type") != READ_SCOPE or scope.get("resource") != resource:
            continue
        fixed = scope.get("fixed_params")
        tenant = fixed.get("tenant_id") if isinstance(fixed, dict) else None
        # A scope without a pinned tenant would read every tenant's rows: not something we serve.
        if isinstance(tenant, str) and tenant in TENANTS:
            return tenant
    raise Rejected("out_of_scope")


def render_chart(tenant_id: str, resource: str, queries_run: int | None = None) -> str:
    """A whole HTML page holding one inline SVG bar chart of ``tenant_id``'s data."""
    tenant = TENANTS[tenant_id]
    chart = CHARTS[resource]
    title = f"{chart.title} — {tenant.name}"
    svg = _bar_chart(title, tenant.series[resource], tenant.colour, tenant_id, resource, chart.unit)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        "<style>html,body{margin:0;background:#fff;font-family:system-ui,sans-serif}</style>\n"
        f"</head>\n<body>\n{svg}\n{_usage(queries_run)}</body>\n</html>\n"
    )


def _usage(queries_run: int | None) -> str:
    if queries_run is None:
        return ""
    return (
        '<p id="queries-run" style="margin:0 8px;font-size:12px;color:#868e96">'
        f"Queries run for this tenant (brand-new tokens): {queries_run}</p>\n"
    )


def pipe_rows(tenant_id: str, resource: str) -> dict[str, Any]:
    """``tenant_id``'s rows of one chart, shaped like a Tinybird API endpoint's JSON answer."""
    started = time.perf_counter()
    chart = CHARTS[resource]
    rows = [{chart.index: label, chart.unit: value} for label, value in TENANTS[tenant_id].series[resource]]
    return {
        "meta": [{"name": chart.index, "type": "String"}, {"name": chart.unit, "type": "UInt64"}],
        "data": rows,
        "rows": len(rows),
        "statistics": {"elapsed": time.perf_counter() - started, "rows_read": len(rows)},
    }


def _bar_chart(
    title: str,
    rows: Iterable[tuple[str, int]],
    colour: str,
    tenant_id: str,
    resource: str,
    unit: str,
) -> str:
    """Horizontal bars scaled to the largest value; labels and values are escaped text."""
    rows = list(rows)
    width, label_width, bar_space, row_height, top = 520, 140, 300, 28, 44
    height = top + row_height * len(rows) + 8
    largest = max(value for _, value in rows)
    esc = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-title" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'data-tenant="{esc(tenant_id)}" data-resource="{esc(resource)}">',
        f'<title id="chart-title">{esc(title)}</title>',
        f'<text x="8" y="26" font-size="16" font-weight="600" fill="#212529">{esc(title)}</text>',
    ]
    for index, (label, value) in enumerate(rows):
        y = top + index * row_height
        bar = max(1, round(bar_space * value / largest))
        parts.append(
            f'<g class="bar" data-label="{esc(label)}" data-value="{value}">'
            f'<text x="{label_width - 8}" y="{y + 17}" font-size="13" text-anchor="end" '
            f'fill="#495057">{esc(label)}</text>'
            f'<rect x="{label_width}" y="{y + 4}" width="{bar}" height="{row_height - 8}" '
            f'rx="3" fill="{esc(colour)}"><title>{esc(label)}: {value} {esc(unit)}</title></rect>'
            f'<text x="{label_width + bar + 6}" y="{y + 17}" font-size="12" fill="#495057">{value}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


class DashboardServer:
    """The WSGI app. Every response says ``no-store``: a chart is one tenant's data."""

    def __init__(
        self,
        signing_key: str | bytes,
        *,
        workspace_id: str = WORKSPACE_ID,
        frame_ancestors: str = DEFAULT_FRAME_ANCESTORS,
        allowed_origins: Collection[str] = (),
    ) -> None:
        self._key = signing_key
        self._workspace_id = workspace_id
        self._frame_ancestors = frame_ancestors
        #: Exact origins (``http://127.0.0.1:5162``) whose pages may read the JSON endpoint.
        self._allowed_origins = frozenset(allowed_origins)
        #: Tokens already seen (their results are "cached"), and queries run per tenant.
        self._seen: set[str] = set()
        self.queries_run: dict[str, int] = dict.fromkeys(TENANTS, 0)
        self._lock = threading.Lock()
        self._routes = Map(
            [
                Rule("/embed/<resource>", endpoint="embed", methods=["GET"]),
                Rule("/v0/pipes/<resource>.json", endpoint="pipe", methods=["GET"]),
                Rule("/stats", endpoint="stats", methods=["GET"]),
            ]
        )

    def __repr__(self) -> str:  # the key stays out of reprs and tracebacks
        return f"DashboardServer(workspace_id={self._workspace_id!r})"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, values = self._routes.bind_to_environ(environ).match()
            if endpoint == "pipe":
                response = self._pipe(request, str(values["resource"]))
            elif endpoint == "stats":
                with self._lock:
                    response = _json(200, {"queries_run": dict(self.queries_run)})
            else:
                response = self._embed(request, str(values["resource"]))
        except Rejected as rejected:
            response = _json(403, {"error": rejected.reason})
        except MethodNotAllowed as error:
            response = _json(405, {"error": "method_not_allowed"})
            response.headers["Allow"] = ", ".join(error.valid_methods or ())
        except NotFound:
            response = _json(404, {"error": "not_found"})
        except HTTPException as error:  # pragma: no cover - routing raises only the two above
            response = _json(error.code or 500, {"error": "bad_request"})
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        # The token is in this page's URL: never send it on to anything the page links to.
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.path.startswith("/v0/"):
            self._allow_origin(request, response)
        return response(environ, start_response)

    def _allow_origin(self, request: Request, response: Response) -> None:
        """CORS for the JSON endpoint: only listed origins, and never with credentials."""
        response.vary.add("Origin")
        origin = request.headers.get("Origin")
        if origin is not None and origin in self._allowed_origins:
            response.headers["Access-Control-Allow-Origin"] = origin

    def _embed(self, request: Request, resource: str) -> Response:
        # The token first: an unauthenticated caller learns nothing, not even which charts exist.
        tenant = verify(request.args.get("token"), resource, self._key, self._workspace_id)
        if resource not in CHARTS:
            raise NotFound()
        queries = self._run_queries(tenant, request.args["token"])
        response = Response(render_chart(tenant, resource, queries), content_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors {self._frame_ancestors}"
        )
        return response

    def _pipe(self, request: Request, resource: str) -> Response:
        tenant = verify(request.args.get("token"), resource, self._key, self._workspace_id)
        if resource not in CHARTS:
            raise NotFound()
        self._run_queries(tenant, request.args["token"])
        return _json(200, pipe_rows(tenant, resource))

    def _run_queries(self, tenant: str, token: str) -> int:
        """Counts a query run when ``token`` is brand new (as Chartio does); returns the tenant's total.
        Seen tokens are kept by hash only: the demo's memory holds no live credential."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            if digest not in self._seen:
                self._seen.add(digest)
                self.queries_run[tenant] += 1
            return self.queries_run[tenant]


def _json(status: int, payload: Mapping[str, Any]) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")
