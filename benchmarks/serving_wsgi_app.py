"""The Flask apps the end-to-end rows serve under gunicorn: ``flask_raw`` and ``flask_wrapped``.

``python -m gunicorn benchmarks.serving_wsgi_app:flask_raw`` (or ``:flask_wrapped``). The routes and
bodies are ``serving_app``'s, so every pair of rows compares the same responses. The wrapped app is
set up as the README's Flask quick start does it: ``app.wsgi_app`` replaced by the middleware, the
view naming the tenant in ``request.environ["embed.tenant"]``, ``from_environ()`` reading it. The raw
app runs the very same views (tenant marked too), so the ratio is the middleware's cost alone.

Views return a prebuilt ``Response`` rather than render a template: a template would add the same
cost to both sides and only dilute the ratio.
"""

from __future__ import annotations

from flask import Flask, Response, request

from embed_middleware import EmbedWSGIMiddleware, TokenIssuer, from_environ

from .serving_app import ROUTES, SIGNING_KEY, TENANT


def _flask_app(*, embed: bool) -> Flask:
    app = Flask(__name__)

    def route(path: str, content_type: str, body: bytes, mark: bool) -> None:
        def view() -> Response:
            if mark:
                request.environ["embed.tenant"] = TENANT
            return Response(body, content_type=content_type)

        app.add_url_rule(path, endpoint=path, view_func=view, methods=["GET"])

    for path, (content_type, body, mark) in ROUTES.items():
        route(path, content_type, body, mark)
    if embed:
        app.wsgi_app = EmbedWSGIMiddleware(  # type: ignore[method-assign]
            app.wsgi_app, issuer=TokenIssuer(SIGNING_KEY), resolver=from_environ()
        )
    return app


#: The floor of the Flask rows.
flask_raw = _flask_app(embed=False)
#: The same app behind the middleware.
flask_wrapped = _flask_app(embed=True)
