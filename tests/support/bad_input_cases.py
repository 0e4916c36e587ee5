"""The bad-input table: what an app, a client, a hook or a setting gets wrong, and what must happen.

Each ``Case`` is one request (or variants of it) that test_bad_input.py serves through both adapters.
The app is a script of ``Step``s meaning the same under WSGI and ASGI; ``expect`` says in words what
the case asserts and is part of the test id. A request to ``/ok`` always gets ``NORMAL``: that is the
follow-up request proving the server still answers.

The app's own placeholders are written with ``ours()``: they carry ``SENTINEL`` where the helpers put
the nonce, and the harness puts the request's real nonce in its place when the app runs (same length,
so every chunk boundary and declared Content-Length stays where the case put it, even inside the
nonce). Placeholder text written without ``ours()`` stands for what users put in a page: it must stay
exactly as written and earn no token.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import brotli
from werkzeug.wrappers import Request

from embed_middleware import (
    HeaderDelivery,
    SigningKey,
    Tenant,
    TenantKeys,
    TokenIssuer,
    from_cookie,
    from_environ,
    from_header,
    from_subdomain,
)
from embed_middleware.rewrite import PlaceholderSyntax
from tests.support.app_placeholders import TEST_RESOURCES, own, own_chunks
from tests.support.wsgi_helpers import KEY, test_issuer

#: Stands where the request's nonce goes in the app's own placeholders (22 characters, as the nonce).
SENTINEL = "app-nonce-stands-here_"


def ours(text: bytes) -> bytes:
    """``text`` with every placeholder made the app's own (the harness fills in the real nonce)."""
    return own(text, SENTINEL)


def ours_chunks(*chunks: bytes) -> list[bytes]:
    return own_chunks(chunks, SENTINEL)


HTML = "text/html; charset=utf-8"
PAGE = ours(b"<p><JWT_TOKEN></p>")
TENANTS = {"acme": Tenant("acme"), "globex": Tenant("globex")}
#: Events that hanging hooks wait on; the test sets them all once a case is over.
HANGING: list[threading.Event] = []
Options = Callable[[], dict[str, Any]]


class AppCrash(Exception):
    """What the test apps raise, distinct from anything the middleware or the drivers raise."""


@dataclass(frozen=True)
class Step:
    """One thing the app does; ``kind`` is one of:

    ``start``: WSGI ``start_response`` / ASGI ``http.response.start`` (``start2``: a second one);
    ``body``: a chunk of the WSGI iterable (``write()`` when ``write``) / an ASGI body message;
    ``iter``: under WSGI, the steps after it run inside the iterable; ``raise``: AppCrash;
    ``restart``: an error handler, WSGI ``start_response(..., exc_info)`` / ASGI re-raises (an ASGI
    framework cannot restart a response); ``hint``: ASGI early hints; ``listen``: ASGI ``receive()``,
    returning on ``http.disconnect``. Kinds that mean nothing to one protocol do nothing there.
    """

    kind: str
    data: bytes | str = b""
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    write: bool = False


def start(
    status: int = 200, ctype: str | None = HTML, *extra: tuple[str, str], length: int | None = None
) -> Step:
    headers = ((("Content-Type", ctype),) if ctype else ()) + extra
    return Step(
        "start",
        status=status,
        headers=headers + ((("Content-Length", str(length)),) if length is not None else ()),
    )


def page(
    *chunks: bytes,
    ctype: str = HTML,
    status: int = 200,
    extra: tuple[tuple[str, str], ...] = (),
    length: bool = True,
) -> tuple[Step, ...]:
    declared = sum(map(len, chunks)) if length else None
    return (start(status, ctype, *extra, length=declared), *(Step("body", c) for c in chunks))


def chunked(data: bytes, *sizes: int) -> tuple[Step, ...]:
    """A streamed page cut into chunks of ``sizes``, cycling (so every alignment is met)."""
    steps, at = [start()], 0
    while at < len(data):
        size = sizes[len(steps) % len(sizes)]
        steps.append(Step("body", data[at : at + size]))
        at += size
    return tuple(steps)


NORMAL = page(PAGE)
RAISE, ITER, LISTEN = Step("raise"), Step("iter"), Step("listen")
ERROR_PAGE = Step("restart", status=500, headers=(("Content-Type", HTML),))
SECOND_START = Step("start2", status=500, headers=(("Content-Type", HTML),))
STREAM = (
    start(),
    Step("body", b"<html><p>first</p>"),
    LISTEN,
    Step("body", ours(b"<JWT_TOKEN>")),
    Step("body", b"</x>"),
)
MIXED = ours(b"<a href='x?t=<JWT_TOKEN:top>'>&lt;JWT_TOKEN&gt; %3CJWT_TOKEN%3Aby_day%3E</a>")
LATE = (start(), Step("body", b"<html>" + b"x" * 300), Step("body", ours(b"<JWT_TOKEN></html>")))
#: What users wrote into the page: every spelling, and guessed nonces of the right length. None of it
#: is the app's, so all of it stays as written.
USER_TEXT = (
    b"<!-- <JWT_TOKEN:top> &lt;JWT_TOKEN&gt; %3CJWT_TOKEN%3Aby_day%3E <JWT_TOKEN:top:AAAAAAAAAAAAAAAAAAAAAA>"
    b" <JWT_TOKEN:AAAAAAAAAAAAAAAAAAAAAA> &#x3C;JWT_TOKEN:by_day:0123456789abcdefghijkl&#x3E; -->"
)
#: The longest placeholder the default syntax can still complete (the held-back bound, in bytes).
LONGEST = PlaceholderSyntax().max_length
#: More distinct resources than the default max_tokens_per_response (16) allows in one response.
MANY = ours(b"".join(b"<i><JWT_TOKEN:%s></i>" % name.encode() for name in TEST_RESOURCES[:20]))


@dataclass(frozen=True)
class Case:
    name: str
    expect: str
    steps: tuple[Step, ...] = NORMAL
    #: When set, the bad request is served once per variant (one middleware), each fully checked.
    variants: tuple[tuple[Step, ...], ...] = ()
    #: What the app marks as its tenant while handling (``environ`` / ``scope["state"]``).
    mark: object = "acme"
    method: str = "GET"
    query: bytes = b""
    host: bytes | None = b"testserver"
    headers: tuple[tuple[bytes, bytes], ...] = ()
    options: Options = dict
    #: "page" (whole, placeholders substituted), "untouched" (the app's bytes exactly), "head" (the head
    #: of a page, none of the app's bytes), "500" (our clean
    #: 500), "raises" (``raises`` reaches the server; what went out is a prefix), "page+raises" (whole,
    #: then ``raises``), "cut" (the client left: a prefix, nothing raised); or one per adapter.
    outcome: str | Mapping[str, str] = "page"
    raises: tuple[type[BaseException], ...] = (AppCrash,)
    #: Whose tokens the response may carry (None: nobody's), and which resources they may name.
    tenant: str | None = "acme"
    resources: frozenset[str] | None = None
    #: "stays"; "leaves": ASGI send raises OSError, the WSGI server stops iterating and closes;
    #: "hangs up": ASGI receive says http.disconnect (later sends are dropped, as uvicorn does).
    client: str = "stays"
    close_raises: bool = False
    #: Whether the ASGI app sends its final body message.
    finish: bool = True
    #: Whether the app asks for the request's nonce (as writing any placeholder of its own does).
    draws: bool = True
    wsgi_list: bool = False
    #: The app's declared length: both adapters drop what goes beyond it, as a server must.
    cut: int | None = None
    lint: bool = True
    #: A log line that must appear exactly once per middleware (per adapter, or None for none).
    logs: str | Mapping[str, str | None] | None = None
    runs: int = 1
    within: float | Mapping[str, float] = 10.0
    #: The tenant of the follow-up request's token (None when the case's resolver cannot find one).
    followup: str | None = "acme"
    #: A configuration mistake: ``startup(adapter_class, monkeypatch)`` must raise ConfigurationError
    #: whose message contains every ``fix`` and never ``secret``.
    startup: Callable[[type, Any], object] | None = None
    fix: tuple[str, ...] = ()
    secret: str = ""


def per(value: Any, adapter: str) -> Any:
    return value[adapter] if isinstance(value, Mapping) else value


def req(name: str, expect: str, tenant: str | None = None, **more: Any) -> Case:
    """A case about the request: the app marks nothing (nor, unless said, finds the follow-up a tenant)."""
    return Case(name, expect, mark=None, tenant=tenant, **{"followup": None, **more})


def untouched(name: str, expect: str, steps: tuple[Step, ...], **more: Any) -> Case:
    return Case(name, expect, steps=steps, outcome="untouched", tenant=None, **more)


# -- resolvers and hooks: bad on the case's request, normal on the /ok follow-up -------------------


def ok(request: Request) -> bool:
    return request.path == "/ok"


def resolver(bad: Callable[[Request], Any]) -> Options:
    return lambda: {"resolver": lambda request: Tenant("acme") if ok(request) else bad(request)}


def async_resolver(bad: Callable[[Request], Any]) -> Options:
    async def resolve(request: Request) -> Any:
        return Tenant("acme") if ok(request) else bad(request)

    return lambda: {"resolver": resolve}


def down(*_: Any) -> Any:
    raise AppCrash("store down")


def hang(asynchronous: bool) -> Options:
    """A resolver stuck (until released, at most 1.5 s sync / 3 s async) on the case's request."""

    def options() -> dict[str, Any]:
        HANGING.append(event := threading.Event())

        async def stuck(request: Request) -> Tenant:
            deadline = time.monotonic() + 3
            while not ok(request) and not event.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return Tenant("acme")

        def blocked(request: Request) -> Tenant:
            if not ok(request):
                event.wait(1.5)
            return Tenant("acme")

        return {"resolver": stuck if asynchronous else blocked, "resolver_timeout": 0.2}

    return options


def query_resolver(request: Request) -> Tenant | None:
    """Reads every argument, as a Chartio-style hook does, then the tenant from ``t``."""
    arguments = dict(request.args.items())
    return Tenant("acme") if ok(request) else TENANTS.get(arguments.get("t", ""))


def claims(bad: Callable[..., Any]) -> Options:
    def hook(tenant: Tenant, resource: str | None, request: Request) -> Any:
        return {"sub": tenant.id} if ok(request) else bad(tenant, resource, request)

    return lambda: {"issuer": test_issuer(claims=hook)}


def failing_audit(event: Any) -> None:
    if event.tenant.id == "initech":
        raise AppCrash("audit log full")


def when_raises(request: Request, status: int, headers: Any) -> bool:
    return False if ok(request) else down()


def other_tenant_keys() -> dict[str, Any]:
    keys = TenantKeys({"acme": SigningKey(KEY, kid="acme-1")})
    lying = TokenIssuer(
        keys,
        claims=lambda t, r, q: {} if ok(q) else {"tid": "globex"},
        resources=TEST_RESOURCES,
        allow_unscoped=True,
    )
    return {"issuer": lying}


def sub(lookup: Any = TENANTS) -> Options:
    return lambda: {"resolver": from_subdomain("example.com", lookup=lookup)}


def header(lookup: Any = None) -> Options:
    return lambda: {"resolver": from_header("X-Tenant", lookup=lookup)}


def cookie(lookup: Any = TENANTS) -> Options:
    return lambda: {"resolver": from_cookie("org", lookup=lookup)}


def build(*, env: tuple[str, str] | None = None, **options: Any) -> Callable[[type, Any], object]:
    def make(adapter: type, monkeypatch: Any) -> object:
        if env is not None:
            monkeypatch.setenv(*env) if env[1] else monkeypatch.delenv(env[0], raising=False)
        rest = {k: v for k, v in options.items() if k != "key"}
        scoped: dict[str, Any] = {"resources": TEST_RESOURCES, "allow_unscoped": True}
        issuer = (
            TokenIssuer(key_env=env[0], **scoped) if env else TokenIssuer(options.get("key", KEY), **scoped)
        )
        return adapter(lambda *a: None, issuer=issuer, resolver=from_environ(), **rest)

    return make


SHORT = "s3cret-but-short-0123456789"  # 27 bytes
LIMITED = Tenant("acme", resources=frozenset({"top"}))
MEGA = 1 << 20
SIZES = (1, 5, 13, 61, 211, 1024)
CE = "Content-Encoding"
QUERY: Options = lambda: {"resolver": query_resolver}  # noqa: E731

# fmt: off
CASES: list[Case] = [
    # -- the request: Host, headers, cookies, query, tenant ids ---------------------------------------
    req("missing Host", "no Host: no tenant from the subdomain, emptied, no token", host=None, options=sub()),
    req("malformed Host", "'ac me.example.com' is no known tenant: no token", host=b"ac me.example.com",
        options=sub()),
    req("Host with userinfo", "'evil.com@acme.example.com' is not acme's: no token",
        host=b"evil.com@acme.example.com", options=sub(None)),
    req("Host with port", "'ACME.example.com:8443' is acme's: a token for acme", "acme",
        host=b"ACME.example.com:8443", options=sub()),
    req("IPv6 Host", "'[::1]:8000' is nobody's subdomain: no token", host=b"[::1]:8000", options=sub(None)),
    req("two Host fields", "acme's and globex's Host at once name nobody: no token", host=b"acme.example.com",
        headers=((b"host", b"globex.example.com"),), options=sub(None)),
    req("64 KiB cookie value", "a 64 KiB tenant cookie never reaches the lookup: no token",
        headers=((b"cookie", b"org=" + b"a" * 65536),), options=cookie()),
    req("64 KiB of other cookies", "org=acme after 64 KiB of other cookies: a token for acme", "acme",
        headers=((b"cookie", b"junk=" + b"j" * 65536 + b"; org=acme"),), options=cookie()),
    req("100 cookies", "org=globex as the 100th cookie: a token for globex", "globex", options=cookie(),
        headers=((b"cookie", b"; ".join(b"c%d=v" % i for i in range(99)) + b"; org=globex"),)),
    req("invalid cookie", "garbage pairs are skipped, org=acme still found", "acme", options=cookie(),
        headers=((b"cookie", b'=; ;; a=b=c; "x; org=acme'),)),
    req("64 KiB tenant header", "a 64 KiB X-Tenant is no tenant id: no token", options=header(),
        headers=((b"x-tenant", b"a" * 65536),)),
    req("quotes in tenant id (header)", "X-Tenant 'ac\"me': the token names exactly that tenant", 'ac"me',
        headers=((b"x-tenant", b'ac"me'),), options=header()),
    req("quotes and angle brackets in tenant id (cookie)", "org=\"<ac\\\"me>\" unquotes to <ac\"me>",
        '<ac"me>', headers=((b"cookie", b'org="<ac\\"me>"'),), options=cookie(None)),
    req("CRLF in tenant id (cookie)", "org=\"acme\\015\\012\" unquotes to 'acme\\r\\n': no tenant, no token",
        headers=((b"cookie", b'org="acme\\015\\012"'),), options=cookie(None)),
    Case("quotes and angle brackets in tenant id (environ)", "the app marks '<a \"b\">': the token names it",
         mark='<a "b">', tenant='<a "b">'),
    req("CRLF in tenant id (header)", "control characters: no tenant, no token, nothing injected",
        headers=((b"x-tenant", b"acme\r\nX-Injected: 1"),), options=header()),
    Case("CRLF in tenant id (environ)", "the app marks 'acme\\r\\n': no tenant, no token", mark="acme\r\n",
         tenant=None),
    req("non-ASCII tenant id (header)", "UTF-8 'acmé' read as Latin-1 (PEP 3333) by both adapters", "acmÃ©",
        headers=((b"x-tenant", "acmé".encode()),), options=header()),
    req("NEL in tenant id (header)", "UTF-8 NEL (C2 85) read as Latin-1 is a C1 control: no token",
        headers=((b"x-tenant", b"acme\xc2\x85"),), options=header()),
    Case("non-ASCII tenant id (environ)", "the app marks 'acmé': the token names 'acmé'", mark="acmé",
         tenant="acmé"),
    req("non-ASCII tenant id (cookie)", "org=acmé is not the lookup's acme: no token",
        headers=((b"cookie", "org=acmé".encode()),), options=cookie()),
    Case("mark of the wrong type", "the app marks 42: no tenant, no token", mark=42, tenant=None),
    Case("257-character tenant id", "an over-long id is no tenant: no token", mark="x" * 257, tenant=None),
    req("invalid percent-encoding in the query", "?t=ac%6De&x=%ZZ%&y=%E9%FF: the resolver reads t=acme",
        "acme", query=b"t=ac%6De&x=%ZZ%&y=%E9%FF", options=QUERY, followup="acme"),
    req("raw non-ASCII bytes in the query", "?t=acme&q=\\xff\\xfe: the resolver reads t=acme (both adapters)",
        "acme", query=b"t=acme&q=\xff\xfe", options=QUERY, followup="acme"),
    # -- resolvers and hooks ------------------------------------------------------------------------
    Case("resolver raises", "a clean 500 before any header", options=resolver(down), outcome="500"),
    Case("resolver returns a str", "a str is a tenant id: acme's token", options=resolver(lambda r: "acme")),
    Case("async resolver returns a str", "a str is a tenant id: globex's token",
         options=async_resolver(lambda r: "globex"), tenant="globex"),
    Case("resolver returns an empty str", "names nobody: no token", options=resolver(lambda r: ""),
         tenant=None),
    Case("resolver returns a str with CR LF", "no valid id: no token",
         options=resolver(lambda r: "acme\r\nX-Evil: 1"), tenant=None),
    Case("resolver returns bytes", "a resolver bug: a clean 500", options=resolver(lambda r: b"acme"),
         outcome="500"),
    Case("async resolver raises", "a clean 500", options=async_resolver(down), outcome="500"),
    Case("async resolver returns a dict", "a clean 500", options=async_resolver(lambda r: {}), outcome="500"),
    Case("async resolver hangs", "resolver_timeout=0.2: a clean 500 within 1.5 s, both adapters",
         options=hang(asynchronous=True), outcome="500", within=1.5),
    Case("sync resolver hangs", "ASGI: a 500 after resolver_timeout, later requests unaffected; WSGI: the "
         "worker waits for the call, then the page", options=hang(asynchronous=False),
         outcome={"wsgi": "page", "asgi": "500"}, within={"wsgi": 3.0, "asgi": 1.0}),
    req("resolver names another tenant", "X-Tenant acme looked up as globex: the token carries globex",
        "globex", headers=((b"x-tenant", b"acme"),), options=header(lambda raw: TENANTS["globex"])),
    Case("claims hook raises", "a clean 500", options=claims(down), outcome="500"),
    Case("claims hook returns a list", "a clean 500", options=claims(lambda *a: ["sub"]), outcome="500"),
    Case("claims hook raises mid-stream", "head already sent: placeholder emptied and logged, page intact",
         steps=LATE, options=claims(down), tenant=None, logs="placeholder left empty"),
    Case("audit hook raises", "a clean 500, no token", mark="initech", outcome="500",
         options=lambda: {"issuer": test_issuer(on_issue=failing_audit)}),
    Case("claims hook names another tenant", "refused under per-tenant keys: a clean 500",
         options=other_tenant_keys, outcome="500"),
    Case("header predicate raises", "a clean 500", outcome="500",
         options=lambda: {"header": HeaderDelivery(when=when_raises)}),
    Case("unknown resource for a limited tenant", "only 'top' gets a token; 'other' and the bare one emptied",
         steps=page(ours(b"<JWT_TOKEN:top>|<JWT_TOKEN:other>|<JWT_TOKEN>")), mark=LIMITED,
         resources=LIMITED.resources),
    Case("resource names with .., / and %00", "'..' is in no allowlist: left as written; malformed names "
         "stay text", steps=page(ours(b"<JWT_TOKEN:..>|<JWT_TOKEN:top>|<JWT_TOKEN:../etc>|<JWT_TOKEN:a%00b>|"
                                       b"%3CJWT_TOKEN%3Aa%00%3E")),
         mark=LIMITED, resources=LIMITED.resources),
    Case("resource longer than max_resource_length", "max_resource_length=3: the app's 'top_airlines' is "
         "left as written, 'top' filled", steps=page(ours(b"<JWT_TOKEN:top_airlines>|<JWT_TOKEN:top>")),
         options=lambda: {"max_resource_length": 3}),
    Case("placeholders users wrote beside the app's", "only the app's get tokens; the users' text (every "
         "spelling, guessed nonces) stays byte for byte",
         steps=page(ours(b"<p><JWT_TOKEN:top></p>") + USER_TEXT)),
    Case("placeholders users wrote, app drew no nonce", "never scanned: no 500 for the missing tenant, the "
         "page passes as written", steps=page(USER_TEXT), draws=False, mark=None, tenant=None,
         options=lambda: {"missing_tenant": "error"}),
    Case("20,000 placeholders users wrote", "the app's one filled; the users' all left as written, one "
         "warning, bounded hold-back",
         steps=chunked(ours(b"<JWT_TOKEN:top>") + b"<JWT_TOKEN:top>&lt;JWT_TOKEN&gt;" * 10_000, 4096),
         logs="without this request's nonce"),
    Case("more distinct resources than max_tokens_per_response", "the first 16 get tokens, the other 4 are "
         "left as written, one warning", steps=page(MANY), logs="max_tokens_per_response"),
    Case("missing_tenant=error, placeholder after the head", "fails closed: emptied, the 200 goes on",
         steps=LATE, mark=None, tenant=None, options=lambda: {"missing_tenant": "error"}),
    # -- the response -------------------------------------------------------------------------------
    Case("non-UTF-8 body", "Latin-1 and invalid UTF-8 around the placeholder pass unchanged",
         steps=page(ours(b"\xff\xfe caf\xe9 <JWT_TOKEN:top> \xc3\x28 \x80\x00"))),
    Case("UTF-16 body", "the app's placeholder is not ASCII bytes: left byte for byte, no token",
         steps=page(PAGE.decode("ascii").encode("utf-16"))),
    Case("body longer than its Content-Length", "both adapters drop the excess (logged), as a server must; "
         "Content-Length matches",
         steps=(start(length=len(PAGE)), Step("body", PAGE + b"MORE" + ours(b"<JWT_TOKEN>"))),
         cut=len(PAGE), wsgi_list=True, logs="more than its own Content-Length"),
    Case("body shorter than its Content-Length", "Content-Length becomes the body actually sent",
         steps=(start(length=500), Step("body", PAGE))),
    Case("body on HEAD", "dropped: a HEAD answer has none, and a server could count it into a length "
         "(granian) or send it (waitress); no token minted", steps=NORMAL, method="HEAD", outcome="head",
         tenant=None),
    untouched("body on 204", "passed untouched, no token", page(PAGE, status=204), lint=False),
    untouched("body on 304", "passed untouched, no token", page(PAGE, status=304), lint=False),
    untouched("1xx status with a body", "103 is never rewritten: untouched", page(PAGE, status=103)),
    Case("early hints before the page", "ASGI forwards the hint first; the page is rewritten",
         steps=(Step("hint"), *NORMAL)),
    Case("app raises before start_response", "the error reaches the server, nothing sent", steps=(RAISE,),
         outcome="raises", tenant=None),
    Case("app raises before its first chunk", "the error reaches the server before any header went out",
         steps=(start(), ITER, RAISE), outcome="raises", tenant=None),
    Case("app raises after its first chunk", "the error reaches the server; what went out is intact",
         steps=(start(), Step("body", ours(b"<html><JWT_TOKEN><p>one</p>")), RAISE), outcome="raises"),
    Case("exc_info before headers", "WSGI: the app's error page replaces the page; ASGI: the error reaches "
         "the server", steps=(start(), ITER, ERROR_PAGE, Step("body", b"<h1>error</h1>")),
         outcome={"wsgi": "page", "asgi": "raises"}),
    Case("exc_info after headers sent", "the error reaches the server; what went out is intact",
         steps=(start(), Step("body", b"<html><p>sent</p>"), ERROR_PAGE, Step("body", b"oops")),
         outcome="raises"),
    Case("start twice", "the second start is refused with an error, as a bare server would (PEP 3333, "
         "uvicorn)", steps=(start(), SECOND_START, Step("body", PAGE)),
         outcome="raises", raises=(AssertionError, RuntimeError), tenant=None),
    Case("close() raises", "the whole page goes out, then the error reaches the server (ASGI: raised after "
         "the final message)", close_raises=True, outcome="page+raises"),
    Case("client leaves (send raises)", "ASGI: OSError reaches the app and the server; WSGI: the server "
         "stops and closes the iterable once", steps=STREAM, client="leaves",
         outcome={"wsgi": "cut", "asgi": "raises"}, raises=(OSError,)),
    Case("client leaves (http.disconnect)", "the app stops: nothing raised, the iterable closed once",
         steps=STREAM, client="hangs up", outcome="cut"),
    Case("app never ends its body", "ASGI: the middleware ends it; held-back bytes are not lost",
         steps=(start(), Step("body", ours(b"<p>tail <JWT_TOKEN> ") + b"<JWT_")), finish=False),
    Case("app yields str", "the TypeError reaches the server, no token", steps=(start(), Step("body", "<p>")),
         outcome="raises", raises=(TypeError,), tenant=None),
    Case("<JWT_TOKEN: and 1 MiB of name characters", "never a placeholder: passed on, less than the longest "
         "placeholder held back at any time", steps=chunked(b"<JWT_TOKEN:" + b"a" * MEGA + b">", *SIZES)),
    Case("&lt;JWT_TOKEN: and 1 MiB, max_resource_length=16", "held back stays under the configured bound",
         steps=chunked(b"&lt;JWT_TOKEN:" + b"b" * MEGA, *SIZES), options=lambda: {"max_resource_length": 16}),
    Case("%3CJWT_TOKEN%3A and 1 MiB of %3A", "held back stays under the longest placeholder",
         steps=chunked(b"%3CJWT_TOKEN%3A" + b"%3A" * (MEGA // 3), *SIZES)),
    Case("longest partial placeholder, byte by byte", f"{LONGEST - 1} bytes held back, never {LONGEST} (the "
         "bound)", steps=chunked(b"<p>%3CJWT_TOKEN%3A" + b"%3A" * (64 + 1 + 22) + b"%3" + b"x</p>", 1)),
    untouched("placeholder in JSON", "untouched",
              page(ours(b'{"t": "<JWT_TOKEN>"}'), ctype="application/json")),
    untouched("placeholder in CSS", "untouched", page(ours(b"a{content:'<JWT_TOKEN>'}"), ctype="text/css")),
    untouched("placeholder in text/plain", "untouched", page(PAGE, ctype="text/plain")),
    untouched("gzip HTML", "untouched, one warning for two requests", runs=2, logs=CE,
              steps=page(gzip.compress(ours(b"<html><JWT_TOKEN></html>")), extra=((CE, "gzip"),))),
    untouched("brotli HTML", "untouched, one warning for two requests", runs=2, logs=CE,
              steps=page(brotli.compress(ours(b"<html><JWT_TOKEN></html>")), extra=((CE, "br"),))),
    Case("Content-Encoding: identity", "identity is no encoding: rewritten",
         steps=page(PAGE, extra=((CE, "identity"),))),
    untouched("Range request, 206", "a byte range is never rewritten", headers=((b"range", b"bytes=0-9"),),
              steps=page(PAGE[:10], status=206, extra=(("Content-Range", f"bytes 0-9/{len(PAGE)}"),))),
    Case("Range request, app answers 200", "the whole page is rewritten", headers=((b"range", b"bytes=0-"),)),
    Case("placeholder split at every byte boundary", "every variant rewritten exactly", variants=tuple(
        (start(), Step("body", MIXED[:i]), Step("body", MIXED[i:])) for i in range(1, len(MIXED)))),
    Case("one-byte chunks", "every boundary at once: rewritten exactly", steps=chunked(MIXED, 1)),
    Case("10,000 tiny chunks", "rewritten exactly, one token per resource",
         steps=chunked(ours(b"<i><JWT_TOKEN:r1>|&lt;JWT_TOKEN&gt;</i>") * 118, 1)),
    Case("empty body", "a well-formed empty page", steps=page(b"")),
    Case("empty chunks between", "empty chunks change nothing", steps=(start(), *(
        Step("body", c) for c in ours_chunks(b"", b"<p>", b"", b"<JWT_", b"", b"TOKEN>", b"</p>", b"")))),
    Case("odd Content-Type spelling", "'TEXT/HTML ;charset=\"utf-8\";;' is HTML: rewritten",
         steps=page(PAGE, ctype='TEXT/HTML ;charset="utf-8";;')),
    untouched("malformed Content-Type", "'text/html/x; =;' is not HTML", page(PAGE, ctype="text/html/x; =;")),
    untouched("duplicate Content-Type", "text/html then application/json: not rewritten (fail safe)",
              page(PAGE, extra=(("Content-Type", "application/json"),))),
    Case("Transfer-Encoding set by the app", "rewritten; never both Transfer-Encoding and Content-Length",
         steps=page(PAGE, extra=(("Transfer-Encoding", "chunked"),), length=False)),
    Case("write() callable", "a placeholder split between write() and the iterable is rewritten",
         steps=(start(), *(Step("body", c, write=not i) for i, c in enumerate(ours_chunks(b"<p><JWT_TO",
                                                                                          b"KEN:top></p>"))))),
    Case("start_response inside the iterable", "a lazy start is honoured: rewritten", steps=(ITER, *NORMAL)),
    # -- start-up -------------------------------------------------------------------------------------
    Case("signing key missing", "ConfigurationError naming the variable and the length to use",
         startup=build(env=("EMBED_TEST_NO_KEY", "")), fix=("EMBED_TEST_NO_KEY", "at least 32 bytes")),
    Case("signing key too short (argument)", "ConfigurationError with the fix, never the key",
         startup=build(key=SHORT), fix=("27 bytes", "at least 32", "longer random secret"), secret=SHORT),
    Case("signing key too short (environment)", "ConfigurationError with the fix, never the key",
         startup=build(env=("EMBED_TEST_SHORT_KEY", SHORT)), fix=("27 bytes", "at least 32"), secret=SHORT),
    Case("resolver_timeout of 0", "ConfigurationError saying the allowed range",
         startup=build(resolver_timeout=0), fix=("resolver_timeout", "between 0 and 300")),
]
# fmt: on
