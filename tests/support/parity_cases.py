"""The table of behaviour cases (each a request, an app and what must come out), shared by the parity
suite and the Django tests, which run it through both adapters and both of Django's handlers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from embed_middleware import HeaderDelivery, Tenant, first_of, from_environ, from_header
from tests.support.app_placeholders import own
from tests.support.parity import Case, Result
from tests.support.tokens import TOKEN
from tests.support.wsgi_helpers import decode, test_issuer

HTML = "text/html; charset=utf-8"


def claims_in(result: Result) -> list[dict[str, Any]]:
    return [decode(t) for t in TOKEN.findall(result.body)]


def carries_no_token(result: Result) -> None:
    assert not TOKEN.search(result.body)
    assert not any(TOKEN.search(v.encode()) for v in result.headers.values())


def no_store(result: Result) -> None:
    assert result.header("Cache-Control") == "private, no-store"
    assert result.header("X-Accel-Expires") == "0", "nginx obeys X-Accel-Expires ahead of Cache-Control"


#: The nonce in one of the app's placeholders, for harnesses that do not report it (Django's).
NONCE_IN = re.compile(rb"(?::|%3[aA])([A-Za-z0-9_-]{22})(?:>|&gt;|&#62;|&#[xX]3[eE];|%3[eE])")


def signed(body: bytes, r: Result) -> bytes:
    """``body`` as the app sent it: its placeholders carrying the request's nonce (none drawn: as is)."""
    nonce = r.nonce
    if nonce is None and (found := NONCE_IN.search(r.body)):
        nonce = found.group(1).decode()  # a harness that reports no nonce: the one the page carries
    return body if nonce is None else own(body, nonce)


def exact_length(result: Result) -> None:
    assert result.header("Content-Length") == str(len(result.body))


async def async_resolver(request: Any) -> Tenant | None:
    return Tenant(request.headers["X-Tenant"]) if "X-Tenant" in request.headers else None


def raising_resolver(request: Any) -> Tenant:
    raise LookupError("tenant store down")


def endpoint_options(**more: Any) -> dict[str, Any]:
    # X-Tenant is any client's to send: an intercepting endpoint trusts it only when told a proxy in
    # front authenticates every caller (the start-up refusal is tested below).
    resolver = first_of(from_environ(), from_header("X-Tenant"))
    return {
        "resolver": resolver,
        "token_endpoint": "/embed/token",
        "token_endpoint_trusts_client_input": True,
        **more,
    }


def expect_bare_token(r: Result) -> None:
    assert r.status == 200
    (claims,) = claims_in(r)
    assert claims["sub"] == "acme" and "resource" not in claims
    assert r.body.startswith(b"<p>eyJ") and r.body.endswith(b"</p>")
    exact_length(r)
    no_store(r)
    assert r.header("Vary") == "Cookie"


def expect_named(r: Result) -> None:
    assert [c["resource"] for c in claims_in(r)] == ["top_airlines", "by_day", "top_airlines", "x:y"]
    tokens = TOKEN.findall(r.body)
    assert tokens[0] == tokens[2], "one token per (tenant, resource) per response"


def expect_streamed(r: Result) -> None:
    assert r.body.startswith(b"<html><iframe src='x?token=eyJ") and r.body.endswith(b"'></html>")
    assert claims_in(r)[0]["resource"] == "top"
    assert r.header("Content-Length") is None
    no_store(r)


def expect_untouched(body: bytes, length: bool = True) -> Callable[[Result], None]:
    """The body passes exactly as the app sent it (the app's own placeholders, nonce and all, when it
    wrote them): the response is not rewritten."""

    def check(r: Result) -> None:
        assert r.body == signed(body, r)
        carries_no_token(r)
        assert r.header("Cache-Control") is None and r.header("X-Accel-Expires") is None
        if length:
            exact_length(r)

    return check


def expect_headers_kept(r: Result) -> None:
    assert r.body == b"<p>no placeholder here</p>"
    assert r.header("ETag") == '"v1"' and r.header("Cache-Control") == "max-age=60"
    exact_length(r)


def expect_cache_rules(r: Result) -> None:
    no_store(r)
    assert r.header("Vary") == "Accept, Cookie"
    assert r.header("ETag") is None and r.header("Last-Modified") is None and r.header("Expires") is None
    for name in (
        "Surrogate-Control",
        "Akamai-Cache-Control",
        "X-LiteSpeed-Cache-Control",
        "CDN-Cache-Control",
    ):
        assert r.header(name) is None, f"a shared cache would keep the token page by {name}"


def expect_head(r: Result) -> None:
    assert r.status == 200 and r.body == b""
    no_store(r)
    assert r.header("ETag") is None
    carries_no_token(r)


def expect_emptied(r: Result) -> None:
    assert r.body == b"<p></p>"
    carries_no_token(r)
    exact_length(r)


def expect_left(r: Result) -> None:
    assert r.body == signed(b"<p><JWT_TOKEN></p>", r)
    carries_no_token(r)


def expect_clean_500(r: Result) -> None:
    assert r.status == 500
    assert b"<p>" not in r.body and b"<html>" not in r.body, "never a half-written page"
    carries_no_token(r)
    no_store(r)


def expect_header_token(r: Result) -> None:
    assert decode(r.headers["x-embed-token"])["resource"] == "top_airlines"
    assert r.body == b'{"ok": true}'
    no_store(r)


def expect_no_header(r: Result) -> None:
    assert "x-embed-token" not in r.headers
    carries_no_token(r)


def expect_allowed_only(r: Result) -> None:
    assert r.body.endswith(b"][]")
    assert [c["resource"] for c in claims_in(r)] == ["allowed"]


def expect_locked_claims(r: Result) -> None:
    (claims,) = claims_in(r)
    assert claims["env"] == {"ACCT_ID": "1", "REGION": "eu"}


def expect_endpoint(
    status: int, error: str | None = None, reason: str | None = None
) -> Callable[[Result], None]:
    def check(r: Result) -> None:
        assert r.status == status
        assert r.header("Content-Type") == "application/json"
        no_store(r)
        if error is None:
            claims = decode(TOKEN.search(r.body).group(0))  # type: ignore[union-attr]
            assert claims["sub"] == "globex" and claims["resource"] == "top"
        elif reason is None:
            assert r.body == b'{"error": "' + error.encode() + b'"}'
        else:
            assert r.body == b'{"error": "' + error.encode() + b'", "reason": "' + reason.encode() + b'"}'
        assert r.header("Content-Length") == str(len(r.body))

    return check


def expect_endpoint_head(r: Result) -> None:
    """HEAD mints nothing: GET's status and headers, no body, and no length claimed for one."""
    assert r.status == 200 and r.body == b""
    assert r.header("Content-Type") == "application/json"
    assert r.header("Content-Length") is None
    no_store(r)
    carries_no_token(r)
    for message in r.messages:
        assert message.get("body", b"") == b"", "nothing of a token went out, not even to be dropped"


#: What users put in a page the app shows (a comment, a display name, a reflected parameter): every
#: spelling of a placeholder, one with a guessed nonce. It must reach the client exactly as written.
USER_TEXT = (
    b"<!-- <JWT_TOKEN:top_airlines> &lt;JWT_TOKEN&gt; %3CJWT_TOKEN%3Aby_day%3E "
    b"<JWT_TOKEN:top_airlines:AAAAAAAAAAAAAAAAAAAAAA> <JWT_TOKEN:AAAAAAAAAAAAAAAAAAAAAA> -->"
)


def expect_only_the_apps_own(r: Result) -> None:
    """The app's placeholders get tokens; the same text without this request's nonce stays as written."""
    assert [c["resource"] for c in claims_in(r)] == ["top_airlines", "by_day"]
    first, second = TOKEN.findall(r.body)
    assert r.body == b"<p>" + first + b" " + second + b"</p>" + USER_TEXT
    exact_length(r)
    no_store(r)


def expect_written_page_untouched(r: Result) -> None:
    """The app drew no nonce, so nothing in the page is its placeholder: not scanned, headers kept."""
    assert r.nonce is None
    assert r.body == b"<p>a user wrote <JWT_TOKEN:top_airlines> and &lt;JWT_TOKEN&gt;</p>"
    carries_no_token(r)
    assert r.header("ETag") == '"v1"' and r.header("Cache-Control") == "max-age=60"
    assert r.header("X-Accel-Expires") is None
    exact_length(r)


def expect_outside_the_allowlist_left(r: Result) -> None:
    """A resource the issuer does not name is left as written (not emptied), the others filled."""
    (claims,) = claims_in(r)
    assert claims["resource"] == "top_airlines"
    token = TOKEN.findall(r.body)[0]
    assert r.body == b"[" + token + b"]" + signed(b"[<JWT_TOKEN:not_listed>]", r)
    exact_length(r)


def expect_unscoped_left(r: Result) -> None:
    """Without allow_unscoped the bare placeholder names no allowed scope: left as written."""
    assert [c["resource"] for c in claims_in(r)] == ["top"]
    token = TOKEN.findall(r.body)[0]
    assert r.body == signed(b"[<JWT_TOKEN>]", r) + b"[" + token + b"]"


def expect_capped(r: Result) -> None:
    """max_tokens_per_response=2: a third distinct resource is left as written; repeats reuse tokens."""
    assert [c["resource"] for c in claims_in(r)] == ["a", "b", "a"]
    a, b, again = TOKEN.findall(r.body)
    assert a == again
    assert r.body == b"[" + a + b"][" + b + b"][" + a + b"]" + signed(b"[<JWT_TOKEN:x>]", r)
    assert r.header("Content-Length") is None, "streamed"
    no_store(r)


def expect_async_tenant(r: Result) -> None:
    assert claims_in(r)[0]["sub"] == "initech"


def env_claims(tenant: Tenant, resource: str | None, request: Any) -> dict[str, Any]:
    return {"env": {"ACCT_ID": request.args.get("acct", ""), "REGION": request.args.get("region", "")}}


def only_api(request: Any, status: int, headers: Any) -> bool:
    return bool(request.path.startswith("/api"))


CASES: list[tuple[Case, Callable[[Result], None]]] = [
    (Case("bare placeholder"), expect_bare_token),
    (
        Case(
            "named placeholders in every form",
            chunks=(
                b"<JWT_TOKEN:top_airlines> &lt;JWT_TOKEN:by_day&gt; %3CJWT_TOKEN%3Atop_airlines%3E "
                b"&#x3C;JWT_TOKEN:x:y&#62;",
            ),
        ),
        expect_named,
    ),
    (
        Case(
            "placeholder split across chunks",
            chunks=(b"<html><iframe src='x?token=<JWT_", b"TOKEN:to", b"p>'>", b"</html>"),
            declare_length=False,
        ),
        expect_streamed,
    ),
    (
        Case(
            "page without placeholder keeps its headers",
            chunks=(b"<p>no placeholder here</p>",),
            headers=(("ETag", '"v1"'), ("Cache-Control", "max-age=60")),
        ),
        expect_headers_kept,
    ),
    (
        Case(
            "cache headers replaced",
            headers=(
                ("Cache-Control", "public, max-age=3600"),
                ("Vary", "Accept"),
                ("ETag", '"v1"'),
                ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
                ("Expires", "Mon, 01 Jan 2024 01:00:00 GMT"),
                ("X-Accel-Expires", "3600"),
                ("Surrogate-Control", "max-age=3600"),
                ("Akamai-Cache-Control", "max-age=3600"),
                ("X-LiteSpeed-Cache-Control", "public,max-age=3600"),
                ("CDN-Cache-Control", "max-age=3600"),
            ),
        ),
        expect_cache_rules,
    ),
    (
        Case("json passes", chunks=(b'{"a": "<JWT_TOKEN>"}',), content_type="application/json", own=False),
        expect_untouched(b'{"a": "<JWT_TOKEN>"}'),
    ),
    (
        Case(
            "event stream passes",
            chunks=(b"data: <JWT_TOKEN>\n\n",),
            content_type="text/event-stream",
            own=False,
        ),
        expect_untouched(b"data: <JWT_TOKEN>\n\n"),
    ),
    (
        Case(
            "gzip html passes",
            chunks=(b"\x1f\x8b<JWT_TOKEN>",),
            headers=(("Content-Encoding", "gzip"),),
            own=False,
        ),
        expect_untouched(b"\x1f\x8b<JWT_TOKEN>"),
    ),
    (
        Case("text/plain passes by default", chunks=(b"<JWT_TOKEN>",), content_type="text/plain", own=False),
        expect_untouched(b"<JWT_TOKEN>"),
    ),
    (
        Case("204 passes", chunks=(b"",), status=204, content_type=None, declare_length=False, lint=False),
        expect_untouched(b"", length=False),
    ),
    (
        Case(
            "304 passes",
            chunks=(b"",),
            status=304,
            headers=(("ETag", '"v1"'),),
            declare_length=False,
            content_type=None,
            lint=False,
        ),
        expect_untouched(b"", length=False),
    ),
    (
        Case(
            "206 passes",
            chunks=(b"<JWT_TOKEN>",),
            status=206,
            headers=(("Content-Range", "bytes 0-10/99"),),
            own=False,
        ),
        expect_untouched(b"<JWT_TOKEN>"),
    ),
    (Case("HEAD", method="HEAD", headers=(("ETag", '"v1"'),)), expect_head),
    (Case("no tenant empties", tenant=None), expect_emptied),
    (Case("no tenant leaves", tenant=None, options={"missing_tenant": "leave"}), expect_left),
    (Case("no tenant answers 500", tenant=None, options={"missing_tenant": "error"}), expect_clean_500),
    (Case("resolver raises", options={"resolver": raising_resolver}), expect_clean_500),
    (
        Case(
            "resolver raises on a streamed page",
            chunks=(b"<html>", b"<p>streaming</p>", b"<JWT_TOKEN></html>"),
            declare_length=False,
            options={"resolver": raising_resolver},
        ),
        expect_clean_500,
    ),
    (
        Case("resolver returns the wrong type", options={"resolver": lambda request: b"acme"}),
        expect_clean_500,
    ),
    (
        Case(
            "claims hook raises",
            options={"issuer": test_issuer(claims=lambda t, r, q: {}["missing"])},
        ),
        expect_clean_500,
    ),
    (
        Case(
            "header delivery on a JSON response",
            chunks=(b'{"ok": true}',),
            content_type="application/json",
            path="/api/data",
            options={"header": HeaderDelivery(when=only_api, resource="top_airlines")},
        ),
        expect_header_token,
    ),
    (
        Case(
            "header delivery without tenant",
            chunks=(b"{}",),
            content_type="application/json",
            tenant=None,
            options={"header": HeaderDelivery()},
        ),
        expect_no_header,
    ),
    (
        Case(
            "resource the tenant may not embed",
            chunks=(b"[<JWT_TOKEN:allowed>][<JWT_TOKEN:secret>]",),
            tenant=Tenant("acme", resources=frozenset({"allowed"})),
        ),
        expect_allowed_only,
    ),
    (
        Case(
            "tenant-locked claims win",
            path="/?acct=666&region=eu",
            tenant=Tenant("acme", locked_claims={"env": {"ACCT_ID": "1"}}),
            options={"issuer": test_issuer(claims=env_claims)},
        ),
        expect_locked_claims,
    ),
    (
        Case(
            "async resolver",
            tenant=None,
            request_headers=(("X-Tenant", "initech"),),
            options={"resolver": async_resolver},
        ),
        expect_async_tenant,
    ),
    (
        Case(
            "configured content type",
            chunks=(b"t=<JWT_TOKEN>",),
            content_type="text/plain",
            options={"content_types": ["text/plain"]},
        ),
        lambda r: claims_in(r)[0].__getitem__("sub"),
    ),
    (
        Case(
            "token endpoint",
            path="/embed/token?resource=top",
            tenant=None,
            request_headers=(("X-Tenant", "globex"),),
            options=endpoint_options(),
        ),
        expect_endpoint(200),
    ),
    (
        Case("token endpoint without tenant", path="/embed/token", tenant=None, options=endpoint_options()),
        expect_endpoint(401, "no_tenant"),
    ),
    (
        Case(
            "token endpoint, bad resource name",
            path="/embed/token?resource=a%20b",
            tenant=None,
            request_headers=(("X-Tenant", "globex"),),
            options=endpoint_options(),
        ),
        expect_endpoint(400, "invalid_resource"),
    ),
    (
        Case(
            "token endpoint, POST",
            path="/embed/token",
            method="POST",
            tenant=None,
            request_headers=(("X-Tenant", "globex"),),
            options=endpoint_options(),
        ),
        expect_endpoint(405, "method_not_allowed"),
    ),
    (
        Case(
            "token endpoint, resource outside the allowlist",
            path="/embed/token?resource=not_listed",
            tenant=None,
            request_headers=(("X-Tenant", "globex"),),
            options=endpoint_options(),
        ),
        expect_endpoint(404, "unknown_resource", "not an allowed resource"),
    ),
    (
        Case(
            "token endpoint, unscoped not allowed",
            path="/embed/token",
            tenant=None,
            request_headers=(("X-Tenant", "globex"),),
            options=endpoint_options(issuer=test_issuer(allow_unscoped=False)),
        ),
        expect_endpoint(404, "unknown_resource", "an unscoped token is not allowed"),
    ),
    (
        Case(
            "token endpoint, HEAD",
            path="/embed/token?resource=top",
            method="HEAD",
            tenant=None,
            request_headers=(("X-Tenant", "globex"),),
            options=endpoint_options(),
        ),
        expect_endpoint_head,
    ),
]
PASSING_THROUGH = {
    "json passes",
    "event stream passes",
    "gzip html passes",
    "text/plain passes by default",
    "206 passes",
}


#: Cases only the parity harness plays (users' text after the app's, the nonce reported): bodies that keep
#: the app's nonce, which differs from one request to the next. First, the passthrough cases again with
#: the placeholder the app's own (it drew the nonce, so the body would be scanned if it were rewritable).
def expect_personal_but_untouched(r: Result) -> None:
    """A compressed page with the app's placeholder in it: left as it is (the middleware cannot see
    into gzip), but it has a slot for a token, so no cache may keep it for the next visitor."""
    assert r.body == signed(b"\x1f\x8b<JWT_TOKEN>", r)
    carries_no_token(r)
    no_store(r)


PARITY_ONLY: list[tuple[Case, Callable[[Result], None]]] = [
    (
        replace(case, name=f"{case.name}, the app's own placeholder", own=True),
        expect_personal_but_untouched if case.name == "gzip html passes" else expect,
    )
    for case, expect in CASES
    if case.name in PASSING_THROUGH
] + [
    (
        Case(
            "user text beside the app's placeholders",
            chunks=(b"<p><JWT_TOKEN:top_airlines> %3CJWT_TOKEN%3Aby_day%3E</p>",),
            user_text=USER_TEXT,
        ),
        expect_only_the_apps_own,
    ),
    (
        Case(
            "placeholder text the app did not write",
            chunks=(b"<p>a user wrote <JWT_TOKEN:top_airlines> and &lt;JWT_TOKEN&gt;</p>",),
            headers=(("ETag", '"v1"'), ("Cache-Control", "max-age=60")),
            own=False,
        ),
        expect_written_page_untouched,
    ),
    (
        Case(
            "resource outside the allowlist", chunks=(b"[<JWT_TOKEN:top_airlines>][<JWT_TOKEN:not_listed>]",)
        ),
        expect_outside_the_allowlist_left,
    ),
    (
        Case(
            "unscoped placeholder without allow_unscoped",
            chunks=(b"[<JWT_TOKEN>][<JWT_TOKEN:top>]",),
            options={"issuer": test_issuer(allow_unscoped=False)},
        ),
        expect_unscoped_left,
    ),
    (
        Case(
            "more distinct tokens than max_tokens_per_response",
            chunks=(b"[<JWT_TOKEN:a>][<JWT_", b"TOKEN:b>][<JWT_TOKEN:a>][<JWT_TOKEN:x>]"),
            options={"max_tokens_per_response": 2},
        ),
        expect_capped,
    ),
]


ALL_CASES = CASES + PARITY_ONLY
