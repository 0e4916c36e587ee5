"""The host app's pages: log in as a user of one tenant, the dashboard with its filters, log out.

No view knows about tokens: the dashboard template writes a placeholder, and the middleware fills it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.shortcuts import redirect, render  # type: ignore[import-untyped]
from django.views.decorators.http import require_http_methods  # type: ignore[import-untyped]

from .embed import TENANT_NAMES, USERS, FilterForm


def dashboard(request: Any) -> Any:
    tenant = request.session.get("tenant")
    if tenant not in TENANT_NAMES:
        return redirect("login")
    context = {
        "user": request.session["user"],
        "tenant_name": TENANT_NAMES[tenant],
        "form": FilterForm(request.GET),
        "chart_url": f"{settings.CHARTIO_EMBED_BASE}{settings.CHARTIO_DASHBOARDS['flights']}",
    }
    return render(request, "django_chartio/dashboard.html", context)


@require_http_methods(["GET", "POST"])  # type: ignore[untyped-decorator]
def login(request: Any) -> Any:
    choices = {user: TENANT_NAMES[tenant] for user, (tenant, _) in USERS.items()}
    if request.method == "POST":
        user = request.POST.get("user", "")
        if user not in USERS:
            return render(request, "django_chartio/login.html", {"users": choices, "error": True}, status=400)
        request.session.flush()  # a new session: nothing of the last user's carries over
        tenant, account = USERS[user]
        request.session.update({"user": user, "tenant": tenant, "ACCT_ID": account})
        return redirect("dashboard")
    return render(request, "django_chartio/login.html", {"users": choices})


@require_http_methods(["POST"])  # type: ignore[untyped-decorator]
def logout(request: Any) -> Any:
    request.session.flush()
    return redirect("login")
