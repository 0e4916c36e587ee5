"""The Flask apps the end-to-end rows serve under gunicorn: ``flask_raw`` and ``flask_wrapped``.

``python -m gunicorn benchmarks.serving_wsgi_app:flask_raw`` (or ``:flask_wrapped``). The routes and
pages are ``serving_app``'s, so every pair of rows compares the same responses. The wrapped app is set
up as the README's Flask quick start does it: the ``Embed`` extension, with ``resources=`` on the
issuer and a no-argument resolver that Flask calls in its ``after_request`` hook; each view writes its
placeholders with the extension's ``embed_placeholder(name)``, the very function a template's
``{{ embed_placeholder('top_airlines') }}`` calls, once per slot per request. The raw app runs the same views
writing a stand-in of the same length in each slot (no middleware, no nonce), so the ratio is the
middleware's cost alone, the extension's hook and helper included.

Views assemble a ``Response`` from the page's prebuilt parts rather than render a template: a template
would add the same cost to both sides and only dilute the ratio.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response

from embed_middleware import TokenIssuer
from embed_middleware.flask import Embed

from .serving_app import RESOURCES, REUSE_WINDOW, ROUTES, SIGNING_KEY, TENANT, Page, Writer, write_stand_in


def current_tenant() -> str:
    """The quick start's resolver: a session look-up there, the benchmark's one tenant here."""
    return TENANT


def _flask_app(*, embed: bool, reuse: int | None = None) -> Flask:
    app = Flask(__name__)
    write: Writer = write_stand_in
    if embed:
        extension = Embed(
            app, issuer=TokenIssuer(SIGNING_KEY, resources=RESOURCES, reuse=reuse), resolver=current_tenant
        )

        def write_token(holder: Any, name: str) -> str:
            return extension.embed_placeholder(name)

        write = write_token

    def route(path: str, content_type: str, page: Page) -> None:
        def view() -> Response:
            return Response(page.render(write, None), content_type=content_type)

        app.add_url_rule(path, endpoint=path, view_func=view, methods=["GET"])

    for path, served in ROUTES.items():
        route(path, served.content_type, served.page)
    return app


#: The floor of the Flask rows.
flask_raw = _flask_app(embed=False)
#: The same app with the extension.
flask_wrapped = _flask_app(embed=True)
#: The same with token reuse on (issue 15).
flask_wrapped_reuse = _flask_app(embed=True, reuse=REUSE_WINDOW)
