"""The host app's pages, the Chartio stand-in, and the token endpoint as a routed view."""

from __future__ import annotations

from django.urls import path  # type: ignore[import-untyped]

from embed_middleware.django import embed_token_view

from . import chartio, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("chartio/d/<int:dashboard>/<str:token>", chartio.dashboard, name="chartio-dashboard"),
    # For pages that refresh their token without reloading (this one reloads with its form instead):
    # GET /embed/token?resource=flights -> {"token", "expires_at", "expires_in"}.
    path("embed/token", embed_token_view, name="embed-token"),
]
