"""The matrix: which framework runs under which server, and where one cannot, why (in its own words)."""

from __future__ import annotations

from dataclasses import dataclass

from servers import SERVERS, Server


@dataclass(frozen=True)
class Framework:
    name: str
    interface: str
    target: str
    #: The README's one-line recipe for it.
    recipe: str
    #: Whether the framework itself states a Content-Length on a whole page (Sanic under ASGI does not).
    declares_length: bool = True


FRAMEWORKS = [
    Framework(
        "Flask",
        "wsgi",
        "flask_app:app",
        '`Embed(app, issuer=..., resolver=..., token_endpoint="/embed/token")` (wraps `app.wsgi_app`); the '
        "resolver runs in the request context, so sessions and Flask-Login work; compress in the server or "
        "a WSGI wrapper *outside* it",
    ),
    Framework(
        "Django (WSGI)",
        "wsgi",
        "django_app:wsgi",
        '`"embed_middleware.django.EmbedMiddleware"` in `MIDDLEWARE` *below* `CommonMiddleware`, '
        "`SessionMiddleware` and `AuthenticationMiddleware` (and below `GZipMiddleware`); route "
        "`embed_token_view` for the endpoint",
    ),
    Framework(
        "Bottle",
        "wsgi",
        "bottle_app:app",
        "`app = EmbedWSGIMiddleware(bottle_app, ...)`; views write "
        '`embed_placeholder(bottle.request.environ, "top")`; session wrappers (beaker) inside it, '
        "compression outside",
    ),
    Framework(
        "Pyramid",
        "wsgi",
        "pyramid_app:app",
        "`app = EmbedWSGIMiddleware(config.make_wsgi_app(), ...)`; views write `embed_placeholder(request, "
        '"top")`; put compression (a paste filter) outside it',
    ),
    Framework(
        "Falcon (WSGI)",
        "wsgi",
        "falcon_app:wsgi",
        "`app = EmbedWSGIMiddleware(falcon.App(...), ...)`; resources write `embed_placeholder(req.env, "
        '"top")`; Falcon answers HEAD only where a resource defines `on_head`',
    ),
    Framework(
        "Django (ASGI)",
        "asgi",
        "django_app:asgi",
        "as under WSGI: `EmbedMiddleware` in `MIDDLEWARE` below `CommonMiddleware`, sessions and auth; "
        "hooks run in Django's sync thread, so the ORM works in them",
    ),
    Framework(
        "Falcon (ASGI)",
        "asgi",
        "falcon_app:asgi",
        "`app = EmbedASGIMiddleware(falcon.asgi.App(...), ...)`; resources write "
        '`embed_placeholder(req.scope, "top")`',
    ),
    Framework(
        "Starlette",
        "asgi",
        "starlette_app:app",
        "`middleware=[Middleware(SessionMiddleware, ...), Middleware(EmbedASGIMiddleware, ...)]`: the list "
        "runs first to last on the way in, so the embed entry goes *after* sessions/auth and a "
        "`GZipMiddleware` *before* it; templates: `add_embed_globals(templates.env)`",
    ),
    Framework(
        "FastAPI",
        "asgi",
        "fastapi_app:app",
        "`app.add_middleware(EmbedASGIMiddleware, ...)` *first*, then `SessionMiddleware`, auth and "
        "`GZipMiddleware` (the last added runs first); routes that should answer HEAD need "
        '`methods=["GET", "HEAD"]`',
    ),
    Framework(
        "Quart",
        "asgi",
        "quart_app:app",
        "`app.asgi_app = EmbedASGIMiddleware(app.asgi_app, ...)` (Quart's sessions live inside its app, so "
        "they are decoded before the resolver runs); templates: `add_embed_globals(app.jinja_env)`",
    ),
    Framework(
        "Litestar",
        "asgi",
        "litestar_app:app",
        "`Litestar(..., middleware=[session_config.middleware, "
        "DefineMiddleware(EmbedASGIMiddleware, ...)])`: the list runs first to last, so the embed "
        "entry goes after sessions/auth (`compression_config` "
        "compresses outside every middleware); Litestar runs middleware only for routed paths, so mount "
        'the endpoint as a route: `asgi("/embed/token")(TokenEndpointASGI(...))`',
    ),
    Framework(
        "Sanic",
        "asgi",
        "sanic_app:app",
        "`app = EmbedASGIMiddleware(sanic_app, ...)` and serve it with an ASGI server that has lifespan; "
        'views write `embed_placeholder(request.scope, "top")`',
        declares_length=False,
    ),
]

#: Where the framework itself cannot run on the server, whatever the middleware does.
UNSUPPORTED = {
    (
        "Sanic",
        "daphne",
    ): "Sanic refuses to start without the ASGI lifespan protocol, which daphne does not implement",
}


@dataclass(frozen=True)
class Cell:
    framework: Framework
    server: Server

    @property
    def id(self) -> str:
        return f"{self.framework.name} | {self.server.name}"

    @property
    def unsupported(self) -> str | None:
        return UNSUPPORTED.get((self.framework.name, self.server.name))


CELLS = [Cell(f, s) for f in FRAMEWORKS for s in SERVERS if f.interface == s.interface]
