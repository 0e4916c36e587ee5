"""What an analyst would click together in Superset, through its REST API: a SQLite data source with
every tenant's rows, a dataset on it, a table chart, two dashboards, and each dashboard embedded.

Login -> CSRF token -> database -> dataset -> chart (with its stored ``query_context``, which a guest's
data request must match) -> dashboard layout -> ``PUT /api/v1/dashboard/<id>/embedded``: about 2 s.
"""

from __future__ import annotations

import http.cookiejar
import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Every tenant's rows in one table, as in a real shared warehouse; RLS is all that keeps them apart.
#: Two tenants with hostile ids own rows too: their literals must match them exactly, nothing more.
SALES: Mapping[str, list[tuple[str, int]]] = {
    "acme": [("North", 110), ("South", 120)],
    "globex": [("East", 210), ("West", 220), ("Central", 230)],
    "o'hare": [("Gate K", 99)],
    "semi;colon -- /* c */": [("Nowhere", 42)],
}
COLUMNS = ["tenant", "region", "amount"]
#: The dashboards, by the resource names the host page's placeholders use. "other" is embedded too,
#: so that a token for "sales" can be shown to be refused there.
DASHBOARDS = ("sales", "other")


@dataclass(frozen=True)
class Provisioned:
    dataset: int
    chart: int
    dashboards: dict[str, int]
    #: Embedded uuids: what the SupersetProfile's ``dashboards=`` maps names to.
    embedded: dict[str, str]
    #: The chart's data request, as the embedded dashboard's frontend sends it for ``sales``.
    query: dict[str, Any]


def write_data(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sales (tenant TEXT NOT NULL, region TEXT NOT NULL, amount INTEGER NOT NULL)")
        rows = [(tenant, region, amount) for tenant, sales in SALES.items() for region, amount in sales]
        db.executemany("INSERT INTO sales VALUES (?, ?, ?)", rows)


class Api:
    """Superset's REST API as its admin (a bearer token; the CSRF token too, as the UI sends it)."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        # The CSRF token is bound to the session cookie that comes with it.
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.headers = {"Content-Type": "application/json", "Referer": url}
        body = {"username": username, "password": password, "provider": "db", "refresh": False}
        self.headers["Authorization"] = (
            "Bearer " + self.call("POST", "/api/v1/security/login", body)["access_token"]
        )
        self.headers["X-CSRFToken"] = self.call("GET", "/api/v1/security/csrf_token/")["result"]

    def call(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=self.headers)
        try:
            with self.opener.open(request, timeout=30) as reply:
                return json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as error:
            with error:
                raise RuntimeError(f"{method} {path}: {error.code} {error.read()[:500]!r}") from None


def _layout(chart: int) -> dict[str, Any]:
    """One row holding the chart: the dashboard's ``position_json``."""
    return {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": ["ROW-1"], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": "Sales"}},
        "ROW-1": {
            "type": "ROW",
            "id": "ROW-1",
            "children": ["CHART-1"],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        },
        "CHART-1": {
            "type": "CHART",
            "id": "CHART-1",
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID", "ROW-1"],
            "meta": {"chartId": chart, "width": 6, "height": 40, "sliceName": "Sales by region"},
        },
    }


def provision(url: str, password: str, data_db: Path, username: str = "admin") -> Provisioned:
    write_data(data_db)
    api = Api(url, username, password)
    database = api.call(
        "POST",
        "/api/v1/database/",
        {"database_name": "warehouse", "sqlalchemy_uri": f"sqlite:///{data_db}", "expose_in_sqllab": False},
    )["id"]
    dataset = api.call("POST", "/api/v1/dataset/", {"database": database, "table_name": "sales"})["id"]
    dashboards = {
        name: api.call("POST", "/api/v1/dashboard/", {"dashboard_title": name.title(), "published": True})[
            "id"
        ]
        for name in DASHBOARDS
    }
    form = {
        "datasource": f"{dataset}__table",
        "viz_type": "table",
        "query_mode": "raw",
        "all_columns": COLUMNS,
        "order_by_cols": [],
        "row_limit": 1000,
    }
    query = {"columns": COLUMNS, "metrics": [], "orderby": [], "row_limit": 1000, "filters": [], "extras": {}}
    context = {"datasource": {"id": dataset, "type": "table"}, "force": False, "queries": [query]}
    chart = api.call(
        "POST",
        "/api/v1/chart/",
        {
            "slice_name": "Sales by region",
            "viz_type": "table",
            "datasource_id": dataset,
            "datasource_type": "table",
            "params": json.dumps(form),
            "query_context": json.dumps(
                {**context, "form_data": form, "result_format": "json", "result_type": "full"}
            ),
            "dashboards": [dashboards["sales"]],
        },
    )["id"]
    api.call("PUT", f"/api/v1/dashboard/{dashboards['sales']}", {"position_json": json.dumps(_layout(chart))})
    embedded = {
        name: str(
            api.call("PUT", f"/api/v1/dashboard/{ident}/embedded", {"allowed_domains": []})["result"]["uuid"]
        )
        for name, ident in dashboards.items()
    }
    request_form = {**form, "slice_id": chart, "dashboardId": dashboards["sales"]}
    data_request = {**context, "form_data": request_form, "result_format": "json", "result_type": "full"}
    return Provisioned(dataset, chart, dashboards, embedded, data_request)
