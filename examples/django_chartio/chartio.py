"""A stand-in for embed.chartio.com: ``/chartio/d/<dashboard>/<token>`` draws a dashboard from its JWT.

Like Chartio, it trusts nothing in the URL but the signed token: the organisation and dashboard must
match, the rows are those of the token's ``env.ACCT_ID``, filtered by its other ``env`` values. A bad
token gets a 403 with the verifier's reason (``expired``, ``invalid_signature``…).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.http import JsonResponse  # type: ignore[import-untyped]
from django.shortcuts import render  # type: ignore[import-untyped]
from django.views.decorators.clickjacking import xframe_options_sameorigin  # type: ignore[import-untyped]

from embed_middleware import SigningKey, TokenRejected, Verifier

#: Flights per Chartio account (date, origin, destination, passengers); disjoint, so whose is obvious.
FLIGHTS: Mapping[str, list[tuple[str, str, str, int]]] = {
    "1": [
        ("2024-01-05", "SFO", "JFK", 180),
        ("2024-01-12", "SFO", "SEA", 95),
        ("2024-02-02", "JFK", "MIA", 210),
        ("2024-02-20", "JFK", "SFO", 160),
    ],
    "2": [
        ("2024-01-07", "LHR", "CDG", 120),
        ("2024-01-19", "CDG", "LHR", 110),
        ("2024-02-03", "LHR", "FRA", 75),
        ("2024-02-25", "CDG", "FCO", 140),
    ],
}
AIRPORTS = sorted({row[1] for rows in FLIGHTS.values() for row in rows})


@xframe_options_sameorigin  # type: ignore[untyped-decorator]
def dashboard(request: Any, dashboard: int, token: str) -> Any:
    verifier = Verifier(SigningKey(settings.CHARTIO_SECRET), algorithms=["HS256"])
    try:
        claims = verifier.verify(token).claims
    except TokenRejected as rejected:
        return JsonResponse({"error": rejected.reason}, status=403)
    if claims.get("organization") != settings.CHARTIO_ORGANIZATION or claims.get("dashboard") != dashboard:
        return JsonResponse({"error": "out_of_scope"}, status=403)
    env = claims.get("env") or {}
    rows = [row for row in FLIGHTS.get(str(env.get("ACCT_ID")), []) if _selected(row, env)]
    context = {"env": sorted(env.items()), "rows": rows, "total": sum(row[3] for row in rows)}
    return render(request, "django_chartio/chart.html", context)


def _selected(row: tuple[str, str, str, int], env: Mapping[str, Any]) -> bool:
    day, origin = row[0], row[1]
    return bool(
        env.get("ORIGIN", origin) == origin
        and env.get("DATE_FROM", day) <= day  # ISO dates compare as strings
        and day <= env.get("DATE_TO", day)
    )
