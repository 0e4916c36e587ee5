"""Flask: the extension wraps ``app.wsgi_app``; templates write ``{{ embed_placeholder('top') }}``."""

from __future__ import annotations

from common import (
    DATA,
    ISSUER,
    PAGE_TEMPLATE,
    PLAIN,
    PLAIN_HEADERS,
    session_tenant,
    slow_chunks,
    stream_chunks,
)
from flask import Flask, Response, render_template_string, request

from embed_middleware import Tenant, embed_placeholder
from embed_middleware.flask import Embed

app = Flask(__name__)


def current_tenant() -> Tenant | None:
    return session_tenant(request.cookies.get("sid", ""))


current_tenant.vary = ("Cookie",)  # type: ignore[attr-defined]
Embed(app, issuer=ISSUER, resolver=current_tenant, token_endpoint="/embed/token")


@app.get("/page")
def page() -> str:
    return render_template_string(PAGE_TEMPLATE)


@app.get("/stream")
def stream() -> Response:
    return Response(iter(stream_chunks(embed_placeholder(request, "top"))), mimetype="text/html")


@app.get("/slow")
def slow() -> Response:
    return Response(slow_chunks(embed_placeholder(request, "top")), mimetype="text/html")


@app.get("/plain")
def plain() -> Response:
    return Response(PLAIN, mimetype="text/html", headers=PLAIN_HEADERS)


@app.get("/data.json")
def data() -> Response:
    return Response(DATA, mimetype="application/json")
