"""What the end-to-end rows serve: the responses (scenarios) and the pairs of apps, raw and wrapped.

Each pair names its two apps as ``module:attribute`` for the server's command line, the modules it
needs, and which scenarios it runs: FastAPI with ``from_environ()`` and Flask's quick start run every
response with a target; the other resolver kinds (issue 16), the bare ASGI app and the reuse pairs
(issue 15) run the page (and the JSON where cheap), to keep ``make bench`` near ten minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .serving_app import COMMENTS_PATH, JSON_PATH, PAGE5_PATH, PAGE_PATH, PLAIN_PATH


@dataclass(frozen=True)
class Scenario:
    label: str
    path: str
    #: The least wrapped/raw req/s ratio accepted for a framework pair; None: information only.
    target: float | None


SCENARIOS = (
    Scenario("2 KB HTML page, 1 placeholder", PAGE_PATH, 0.90),
    Scenario("2 KB HTML page, 5 named placeholders", PAGE5_PATH, None),
    Scenario("2 KB HTML page, no placeholder", PLAIN_PATH, None),
    Scenario("4 KB page, user content: 4 placeholder-like + 1 own", COMMENTS_PATH, 0.90),
    Scenario("JSON passed through", JSON_PATH, 0.98),
)


PAGE_ROW, PAGE5_ROW, PLAIN_ROW, COMMENTS_ROW, JSON_ROW = SCENARIOS
#: The rows a pair runs when it is there to compare one thing (a resolver kind, reuse), not all five.
PAGE_AND_JSON = (PAGE_ROW, JSON_ROW)
#: The rows with a target.
TARGETED = (PAGE_ROW, COMMENTS_ROW, JSON_ROW)
PAGE_ONLY = (PAGE_ROW,)


@dataclass(frozen=True)
class Pair:
    """A raw app and the same app wrapped, served alike; ``needs`` are the modules it takes."""

    label: str
    server: str
    raw: str
    wrapped: str
    needs: tuple[str, ...]
    #: Whether the scenarios' targets apply (a framework app) or every row is information.
    targeted: bool
    #: Whether ``raw``/``wrapped`` name factories rather than apps.
    factory: bool = False
    #: The responses timed for this pair.
    scenarios: tuple[Scenario, ...] = SCENARIOS
    #: The "wrapped" side is ``serving_floor``'s mint-only middleware, not ours: checked for its header
    #: token and the raw body, and shown as the floor of the framework's page rows.
    floor: bool = False


_UVICORN_FASTAPI = ("uvicorn", "fastapi")

PAIRS = (
    Pair(
        "FastAPI (uvicorn), from_environ()",
        "uvicorn",
        "benchmarks.serving_fastapi:fastapi_raw",
        "benchmarks.serving_fastapi:fastapi_wrapped",
        _UVICORN_FASTAPI,
        targeted=True,
        factory=True,
    ),
    # Issue 16: every resolver kind end to end, on the page and (for a built-in) the JSON.
    Pair(
        "FastAPI (uvicorn), from_header('X-Tenant')",
        "uvicorn",
        "benchmarks.serving_fastapi:fastapi_raw",
        "benchmarks.serving_fastapi:fastapi_wrapped_header",
        _UVICORN_FASTAPI,
        targeted=True,
        factory=True,
        scenarios=PAGE_AND_JSON,
    ),
    Pair(
        "FastAPI (uvicorn), async def resolver",
        "uvicorn",
        "benchmarks.serving_fastapi:fastapi_raw",
        "benchmarks.serving_fastapi:fastapi_wrapped_async",
        _UVICORN_FASTAPI,
        targeted=True,
        factory=True,
        scenarios=PAGE_ONLY,
    ),
    Pair(
        "FastAPI (uvicorn), plain def resolver",
        "uvicorn",
        "benchmarks.serving_fastapi:fastapi_raw",
        "benchmarks.serving_fastapi:fastapi_wrapped_def",
        _UVICORN_FASTAPI,
        targeted=True,
        factory=True,
        scenarios=PAGE_ONLY,
    ),
    # Issue 16: what one fresh token per request costs each framework with nothing else done.
    Pair(
        "FastAPI (uvicorn), floor: a middleware that only mints one token",
        "uvicorn",
        "benchmarks.serving_fastapi:fastapi_raw",
        "benchmarks.serving_floor:fastapi_mint_only",
        _UVICORN_FASTAPI,
        targeted=False,
        factory=True,
        scenarios=PAGE_ONLY,
        floor=True,
    ),
    Pair(
        "Flask (gunicorn), floor: a middleware that only mints one token",
        "gunicorn",
        "benchmarks.serving_wsgi_app:flask_raw",
        "benchmarks.serving_floor:flask_mint_only",
        ("gunicorn", "flask"),
        targeted=False,
        scenarios=PAGE_ONLY,
        floor=True,
    ),
    Pair(
        "Flask (gunicorn), Embed extension, def resolver",
        "gunicorn",
        "benchmarks.serving_wsgi_app:flask_raw",
        "benchmarks.serving_wsgi_app:flask_wrapped",
        ("gunicorn", "flask"),
        targeted=True,
        scenarios=TARGETED,
    ),
    Pair(
        "bare ASGI app (uvicorn), from_environ()",
        "uvicorn",
        "benchmarks.serving_app:raw",
        "benchmarks.serving_app:wrapped",
        ("uvicorn",),
        targeted=False,
        scenarios=PAGE_AND_JSON,
    ),
    # Issue 15: the same pages with token reuse on (a window's tokens served from the cache).
    Pair(
        "bare ASGI app (uvicorn), reuse on",
        "uvicorn",
        "benchmarks.serving_app:raw",
        "benchmarks.serving_app:wrapped_reuse",
        ("uvicorn",),
        targeted=False,
        scenarios=PAGE_ONLY,
    ),
    Pair(
        "Flask (gunicorn), reuse on",
        "gunicorn",
        "benchmarks.serving_wsgi_app:flask_raw",
        "benchmarks.serving_wsgi_app:flask_wrapped_reuse",
        ("gunicorn", "flask"),
        targeted=False,
        scenarios=PAGE_ONLY,
    ),
)
