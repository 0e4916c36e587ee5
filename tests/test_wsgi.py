"""The WSGI adapter, end to end, under wsgiref.validate and werkzeug's lint on both sides."""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any
from wsgiref.util import FileWrapper

import pytest
from webtest import TestApp

from embed_middleware import (
    ConfigurationError,
    HeaderDelivery,
    Tenant,
    embed_placeholder,
    from_environ,
)
from tests.support.app_placeholders import nonce_of, own
from tests.support.tokens import TOKEN
from tests.support.wsgi_helpers import (
    HTML,
    KEY,
    ClosingList,
    checked,
    decode,
    header,
    middleware,
    page_app,
    run,
    test_issuer,
)

pytestmark = pytest.mark.usefixtures("wsgi_checkers")


def tokens_in(body: bytes) -> list[dict[str, Any]]:
    return [decode(t) for t in TOKEN.findall(body)]


# -- rewriting and response headers -------------------------------------------------------------


def test_single_chunk_page_gets_a_token_exact_length_and_no_store() -> None:
    body = b'<iframe src="https://charts.example.com/embed?token=<JWT_TOKEN>"></iframe>'
    app, made = page_app(body, headers=[("ETag", '"v1"'), ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")])
    response = TestApp(checked(app)).get("/")
    assert b"<JWT_TOKEN>" not in response.body
    (claims,) = tokens_in(response.body)
    assert claims["sub"] == "acme"
    assert response.headers["Content-Length"] == str(len(response.body))
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Vary"] == "Cookie"
    assert "ETag" not in response.headers and "Last-Modified" not in response.headers
    assert made[0].closed


def test_named_placeholders_get_their_own_scope_and_one_token_per_resource() -> None:
    calls: list[str | None] = []

    def claims(tenant: Tenant, resource: str | None, request: Any) -> dict[str, Any]:
        calls.append(resource)
        return {"tenant": tenant.id, "scopes": [{"type": "PIPES:READ", "resource": resource}]}

    body = (
        b"a=<JWT_TOKEN:top_airlines> b=&lt;JWT_TOKEN:by_day&gt; "
        b"c=%3CJWT_TOKEN%3Atop_airlines%3E d=<JWT_TOKEN>"
    )
    app, _ = page_app(body)
    response = TestApp(checked(app, issuer=test_issuer(claims=claims))).get("/")
    found = TOKEN.findall(response.body)
    assert len(found) == 4
    assert found[0] == found[2], "the same resource reuses its token within one response"
    assert [decode(t)["scopes"][0]["resource"] for t in found] == [
        "top_airlines",
        "by_day",
        "top_airlines",
        None,
    ]
    assert sorted(calls, key=str) == sorted(["top_airlines", "by_day", None], key=str)


def test_placeholder_text_without_the_nonce_is_left_exactly_and_gets_no_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only the app's own placeholders are filled: a user's copy of one, beside it, stays as written."""
    user = b"<b>&lt;JWT_TOKEN:top_airlines&gt; <JWT_TOKEN> %3CJWT_TOKEN%3Atop_airlines%3Aguess%3E</b>"
    sent: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["embed.tenant"] = "acme"
        sent.append(own(b"<p><JWT_TOKEN:top_airlines></p>", nonce_of(environ)) + user)
        start_response("200 OK", [("Content-Type", HTML), ("Content-Length", str(len(sent[-1])))])
        return sent

    with caplog.at_level(logging.WARNING, logger="embed_middleware"):
        response = TestApp(checked(app)).get("/")
    (token,) = TOKEN.findall(response.body)
    assert response.body == b"<p>" + token + b"</p>" + user
    assert decode(token)["resource"] == "top_airlines"
    assert response.headers["Content-Length"] == str(len(response.body))
    assert len([r for r in caplog.records if "without this request's nonce" in r.getMessage()]) == 1


def test_a_page_whose_app_drew_no_nonce_is_not_rewritten_at_all() -> None:
    app, made = page_app(b"<p><JWT_TOKEN:top_airlines></p>", headers=[("ETag", '"v1"')], own=False)
    response = TestApp(checked(app)).get("/")
    assert response.body == b"<p><JWT_TOKEN:top_airlines></p>"
    assert response.headers["ETag"] == '"v1"' and "Cache-Control" not in response.headers
    assert made[0].closed


def test_unsafe_legacy_placeholders_fill_any_placeholder_and_warn_at_construction(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, _ = page_app(b"<p><JWT_TOKEN:top_airlines> &lt;JWT_TOKEN&gt;</p>", own=False)
    with caplog.at_level(logging.WARNING, logger="embed_middleware"):
        wrapped = checked(app, unsafe_legacy_placeholders=True)
    assert "unsafe_legacy_placeholders=True" in caplog.text
    body = TestApp(wrapped).get("/").body
    assert [c.get("resource") for c in tokens_in(body)] == ["top_airlines", None]
    assert b"JWT_TOKEN" not in body


def test_page_without_placeholder_keeps_its_headers_and_mints_nothing() -> None:
    calls: list[object] = []
    issuer = test_issuer(claims=lambda t, r, q: calls.append(r) or {})
    app, _ = page_app(b"<p>plain page</p>", headers=[("ETag", '"v1"'), ("Cache-Control", "max-age=60")])
    response = TestApp(checked(app, issuer=issuer)).get("/")
    assert response.body == b"<p>plain page</p>"
    assert response.headers["ETag"] == '"v1"'
    assert response.headers["Cache-Control"] == "max-age=60"
    assert response.headers["Content-Length"] == "17"
    assert calls == []


def test_app_cache_control_is_replaced_and_vary_merged() -> None:
    app, _ = page_app(b"<JWT_TOKEN>", headers=[("Cache-Control", "public, max-age=3600"), ("Vary", "Accept")])
    response = TestApp(checked(app)).get("/")
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Vary"] == "Accept, Cookie"


def test_vary_star_is_kept() -> None:
    app, _ = page_app(b"<JWT_TOKEN>", headers=[("Vary", "*")])
    assert TestApp(checked(app)).get("/").headers["Vary"] == "*"


def test_streamed_page_rewrites_split_placeholders_without_content_length() -> None:
    chunks = [b"<html><iframe src='x?token=<JWT_", b"TOKEN:top", b"_airlines>'>", b"</html>"]
    app, made = page_app(chunks, content_length=False)
    _status, headers, body = run(checked(app))
    assert body.startswith(b"<html><iframe src='x?token=eyJ") and body.endswith(b"'></html>")
    assert tokens_in(body)[0]["resource"] == "top_airlines"
    assert header(headers, "Content-Length") is None
    assert header(headers, "Cache-Control") == "private, no-store"
    assert made[0].closed


def test_first_chunk_leaves_before_the_app_produces_the_second() -> None:
    log: list[str] = []
    made: list[ClosingList] = []

    def app(environ: dict[str, Any], start_response: Any) -> ClosingList:
        environ["embed.tenant"] = "acme"
        chunks = [b"<html><p>first</p>", own(b"<JWT_TOKEN>", nonce_of(environ)), b"</html>"]
        start_response("200 OK", [("Content-Type", HTML)])
        made.append(ClosingList(chunks, log))
        return made[-1]

    status: list[str] = []
    result = middleware(app)(
        __import__("werkzeug.test", fromlist=["EnvironBuilder"]).EnvironBuilder().get_environ(),
        lambda s, h, e=None: status.append(s),
    )
    iterator = iter(result)
    first = next(iterator)
    log.append("client:first")
    rest = b"".join(iterator)
    result.close()  # type: ignore[attr-defined]
    assert first == b"<html><p>first</p>"
    assert log == ["app:1", "client:first", "app:2", "app:3"]
    assert status == ["200 OK"]
    assert tokens_in(rest)[0]["sub"] == "acme"
    assert made[0].closed


def test_declared_length_marks_a_generator_body_complete() -> None:
    # Flask/werkzeug hand back a generator but declare Content-Length: the body is known whole.
    app, _ = page_app([b"<p><JWT_TOKEN></p>"], content_length=True)

    def generator_app(environ: dict[str, Any], start_response: Any) -> Any:
        return (chunk for chunk in app(environ, start_response))

    response = TestApp(checked(generator_app)).get("/")
    assert response.headers["Content-Length"] == str(len(response.body))


def test_body_longer_than_declared_length_is_cut_at_the_declared_length() -> None:
    app, made = page_app(
        [b"<p>12345</p>", b"EXTRA"], headers=[("Content-Length", "12")], content_length=False
    )
    _status, headers, body = run(middleware(app))
    assert body == b"<p>12345</p>"
    assert header(headers, "Content-Length") == "12"
    assert made[0].closed


def test_body_shorter_than_declared_length_is_sent_without_a_length() -> None:
    app, _ = page_app([b"<p>", b"<JWT_TOKEN>"], headers=[("Content-Length", "999")], content_length=False)
    _status, headers, body = run(middleware(app))
    assert header(headers, "Content-Length") is None
    assert tokens_in(body)


@pytest.mark.parametrize(
    ("content_type", "status", "extra"),
    [
        ("application/json", "200 OK", []),
        ("text/event-stream", "200 OK", []),
        (HTML, "204 No Content", []),
        (HTML, "304 Not Modified", []),
        (HTML, "206 Partial Content", [("Content-Range", "bytes 0-10/100")]),
        (HTML, "200 OK", [("Content-Encoding", "gzip")]),
        ("text/plain", "200 OK", []),
    ],
)
def test_responses_not_ours_to_rewrite_pass_untouched(content_type: str, status: str, extra: list) -> None:
    no_body = status.startswith(("204", "304"))
    body = b"" if no_body else b"<JWT_TOKEN> stays"
    sent: list[bytes] = []
    made: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        # The app's own placeholder (it drew the nonce): still not ours to rewrite in such a response.
        sent.append(own(body, nonce_of(environ)))
        page, _ = page_app(sent[-1], content_type=content_type, status=status, headers=extra, own=False)
        made.append(page(environ, start_response))
        return made[-1]

    # The checkers (rightly) refuse a Content-Type on 204/304, which is exactly what we test here.
    got_status, headers, got_body = run(middleware(app) if no_body else checked(app))
    assert got_status == status
    assert got_body == sent[0]
    assert no_body or re.fullmatch(rb"<JWT_TOKEN:[A-Za-z0-9_-]{22}> stays", got_body)
    # A compressed page is the app's to fix (it is logged), but it has a slot for a token: personal.
    compressed = ("Content-Encoding", "gzip") in extra
    assert header(headers, "Cache-Control") == ("private, no-store" if compressed else None)
    assert made[0].closed


def test_passthrough_hands_the_apps_own_iterable_to_the_server() -> None:
    app, made = page_app(b'{"a": "<JWT_TOKEN>"}', content_type="application/json")
    from werkzeug.test import EnvironBuilder

    result = middleware(app)(EnvironBuilder().get_environ(), lambda s, h, e=None: None)
    assert result is made[0]


def test_file_wrapper_passes_through_for_sendfile(tmp_path: Any) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4 <JWT_TOKEN>")

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/pdf")])
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder().get_environ()
    environ["wsgi.file_wrapper"] = FileWrapper
    result = middleware(app)(environ, lambda s, h, e=None: None)
    assert isinstance(result, FileWrapper)
    assert b"".join(result) == b"%PDF-1.4 <JWT_TOKEN>"
    result.close()


def test_configured_content_types_are_rewritten() -> None:
    app, _ = page_app(b"token=<JWT_TOKEN>", content_type="text/plain")
    response = TestApp(checked(app, content_types=["text/plain"])).get("/")
    assert tokens_in(response.body)


def test_encoded_html_warns_once_that_compression_must_be_outside(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = page_app(b"\x1f\x8b<JWT_TOKEN>", headers=[("Content-Encoding", "gzip")])
    wrapped = checked(app)
    with caplog.at_level(logging.WARNING, logger="embed_middleware"):
        body = run(wrapped)[2]
        assert re.fullmatch(rb"\x1f\x8b<JWT_TOKEN:[A-Za-z0-9_-]{22}>", body), (
            "left exactly as the app sent it"
        )
        run(wrapped)
    warnings = [r for r in caplog.records if "compression" in r.getMessage()]
    assert len(warnings) == 1


def test_head_request_gets_get_like_headers_and_no_token() -> None:
    app, _ = page_app(b"", headers=[("ETag", '"v1"')], content_length=False)
    response = TestApp(checked(app)).head("/")
    assert response.body == b""
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "ETag" not in response.headers


# -- tenants: fail closed -----------------------------------------------------------------------


def test_no_tenant_empties_placeholders_and_issues_nothing() -> None:
    app, _ = page_app(b"<a href='x?t=<JWT_TOKEN>'>", tenant=None)
    response = TestApp(checked(app)).get("/")
    assert response.body == b"<a href='x?t='>"
    assert not TOKEN.search(response.body)
    assert response.headers["Content-Length"] == str(len(response.body))


def test_no_tenant_can_leave_placeholders() -> None:
    app, _ = page_app(b"<JWT_TOKEN>", tenant=None)
    response = TestApp(checked(app, missing_tenant="leave")).get("/")
    assert re.fullmatch(rb"<JWT_TOKEN:[A-Za-z0-9_-]{22}>", response.body), "the app's placeholder, as sent"


def test_no_tenant_can_answer_500() -> None:
    app, made = page_app(b"<JWT_TOKEN>", tenant=None)
    response = TestApp(checked(app, missing_tenant="error")).get("/", status=500)
    assert not TOKEN.search(response.body)
    assert response.headers["Cache-Control"] == "private, no-store"
    assert made[0].closed


def test_resource_the_tenant_may_not_embed_stays_empty() -> None:
    tenant = Tenant("acme", resources=frozenset({"allowed"}))
    app, _ = page_app(b"[<JWT_TOKEN:allowed>][<JWT_TOKEN:secret>]", tenant=tenant)
    body = TestApp(checked(app)).get("/").body
    assert body.endswith(b"][]")
    assert [c["resource"] for c in tokens_in(body)] == ["allowed"]


def test_tenant_locked_claims_win_over_request_derived_ones() -> None:
    def claims(tenant: Tenant, resource: str | None, request: Any) -> dict[str, Any]:
        return {"env": {"ACCT_ID": request.args.get("acct", ""), "REGION": request.args.get("region", "")}}

    tenant = Tenant("acme", locked_claims={"env": {"ACCT_ID": "1"}})
    app, _ = page_app(b"<JWT_TOKEN>", tenant=tenant)
    body = TestApp(checked(app, issuer=test_issuer(claims=claims))).get("/?acct=666&region=eu").body
    assert decode(body)["env"] == {"ACCT_ID": "1", "REGION": "eu"}


@pytest.mark.parametrize("failure", ["raises", "wrong_type", "claims_raise"])
def test_resolver_or_claims_failure_is_a_clean_500(failure: str, caplog: pytest.LogCaptureFixture) -> None:
    def resolver(request: Any) -> Any:
        if failure == "raises":
            raise LookupError("tenant database down")
        return b"acme" if failure == "wrong_type" else Tenant("acme")

    def claims(tenant: Tenant, resource: str | None, request: Any) -> dict[str, Any]:
        raise KeyError("missing workspace")

    issuer = test_issuer(claims=claims if failure == "claims_raise" else None)
    app, made = page_app(b"<html><JWT_TOKEN></html>")
    with caplog.at_level(logging.ERROR, logger="embed_middleware"):
        response = TestApp(checked(app, resolver=resolver, issuer=issuer)).get("/", status=500)
    assert not TOKEN.search(response.body)
    assert b"<html>" not in response.body, "never a half-written page"
    assert made[0].closed
    assert "answering 500" in caplog.text


def test_resolver_failure_on_a_streamed_page_is_a_500_before_any_header() -> None:
    def resolver(request: Any) -> Tenant:
        raise LookupError("down")

    # The placeholder only comes in the third chunk, after headers would have had to go out.
    app, made = page_app([b"<html>", b"<p>still streaming</p>", b"<JWT_TOKEN></html>"], content_length=False)
    response = TestApp(checked(app, resolver=resolver)).get("/", status=500)
    assert b"<html>" not in response.body
    assert made[0].closed


def test_logs_never_contain_a_token_or_the_key(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = page_app([b"<JWT_TOKEN>", b"x"], headers=[("Content-Encoding", "gzip")])
    issued: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for path in ("/", "/embed/token"):
            response = endpoint_app(page=b"<JWT_TOKEN>").get(path)
            issued.extend(t.decode() for t in TOKEN.findall(response.body))
        run(checked(app))
        run(checked(page_app(b"<JWT_TOKEN>")[0], resolver=lambda request: 1 / 0))
    assert len(issued) == 2
    for token in issued:
        assert token not in caplog.text
        assert token.split(".")[2] not in caplog.text
    assert KEY not in caplog.text


# -- header delivery ----------------------------------------------------------------------------


def test_header_delivery_on_selected_responses() -> None:
    def only_api(request: Any, status: int, headers: Any) -> bool:
        return request.path.startswith("/api")

    app, _ = page_app(b'{"ok": true}', content_type="application/json", headers=[("ETag", '"1"')])
    wrapped = TestApp(checked(app, header=HeaderDelivery(when=only_api, resource="top_airlines")))
    api = wrapped.get("/api/data")
    assert decode(api.headers["X-Embed-Token"])["resource"] == "top_airlines"
    assert api.headers["Cache-Control"] == "private, no-store"
    assert api.body == b'{"ok": true}'
    other = wrapped.get("/other")
    assert "X-Embed-Token" not in other.headers
    assert "Cache-Control" not in other.headers


def test_header_delivery_without_tenant_sends_no_header() -> None:
    app, _ = page_app(b"{}", content_type="application/json", tenant=None)
    response = TestApp(checked(app, header=HeaderDelivery(name="X-Chart-Token"))).get("/")
    assert "X-Chart-Token" not in response.headers


# -- token endpoint -----------------------------------------------------------------------------


def endpoint_app(tenant: str | Tenant | None = "acme", page: bytes = b"app page", **options: Any) -> TestApp:
    app, _ = page_app(page, tenant=tenant)

    def resolver(request: Any) -> Tenant | None:
        if tenant is None:
            return None
        return tenant if isinstance(tenant, Tenant) else Tenant(tenant)

    return TestApp(checked(app, resolver=resolver, token_endpoint="/embed/token", **options))


def test_token_endpoint_answers_json_for_the_tenant() -> None:
    midway = int(time.time()) + 0.5  # half a second into iat's second: 299.5 s are left
    issuer = test_issuer(ttl=300, clock=lambda: midway)
    response = endpoint_app(issuer=issuer).get("/embed/token?resource=top_airlines")
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["X-Accel-Expires"] == "0"
    claims = decode(response.json["token"])
    assert claims["sub"] == "acme" and claims["resource"] == "top_airlines"
    assert response.json["expires_at"] == claims["exp"]
    assert response.json["expires_in"] == 299, "rounded down: never promise more than is left"


NOT_ALLOWED = {"error": "unknown_resource", "reason": "not an allowed resource"}


@pytest.mark.parametrize(
    ("tenant", "query", "method", "status", "answer"),
    [
        (None, "", "GET", 401, {"error": "no_tenant"}),
        (Tenant("acme", resources=frozenset({"a"})), "?resource=b", "GET", 404, NOT_ALLOWED),
        ("acme", "?resource=not_listed", "GET", 404, NOT_ALLOWED),
        ("acme", "?resource=bad%20name", "GET", 400, {"error": "invalid_resource"}),
        ("acme", "?resource=" + "a" * 65, "GET", 400, {"error": "invalid_resource"}),
        ("acme", "", "POST", 405, {"error": "method_not_allowed"}),
    ],
)
def test_token_endpoint_refuses_without_a_token(
    tenant: Any, query: str, method: str, status: int, answer: dict[str, str]
) -> None:
    app = endpoint_app(tenant)
    response = app.request("/embed/token" + query, method=method, status=status)
    assert response.json == answer
    assert not TOKEN.search(response.body)
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["X-Accel-Expires"] == "0"


def test_token_endpoint_head_mints_nothing() -> None:
    issued: list[object] = []
    app = endpoint_app(issuer=test_issuer(on_issue=issued.append))
    response = app.head("/embed/token?resource=top_airlines")
    assert response.status_int == 200 and response.body == b""
    assert "Content-Length" not in response.headers
    assert response.headers["Cache-Control"] == "private, no-store"
    assert issued == [], "no token minted for a response nobody reads"
    refused = endpoint_app(None).head("/embed/token?resource=top_airlines", status=401)
    assert refused.body == b""
    assert endpoint_app().head("/embed/token?resource=not_listed", status=404).body == b""


def test_other_paths_reach_the_app() -> None:
    assert endpoint_app().get("/embed/token/other").body == b"app page"


# -- PEP 3333 corners ---------------------------------------------------------------------------


def test_legacy_write_callable_is_rewritten() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["embed.tenant"] = "acme"
        placeholder = embed_placeholder(environ, None).encode()  # <JWT_TOKEN:NONCE>
        write = start_response("200 OK", [("Content-Type", HTML)])
        write(b"<p>via write " + placeholder[:5])
        write(placeholder[5:] + b"</p>")
        return [b"<p>and the iterable</p>"]

    _status, headers, body = run(middleware(app))
    assert body.startswith(b"<p>via write eyJ") and body.endswith(b"</p><p>and the iterable</p>")
    assert header(headers, "Cache-Control") == "private, no-store"


def test_exc_info_before_headers_replaces_the_response() -> None:
    sent: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", HTML)])
        try:
            raise RuntimeError("template failed")
        except RuntimeError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        sent.append(b"error page " + embed_placeholder(environ, None).encode())
        return sent

    response = TestApp(checked(app)).get("/", status=500)
    assert response.body == sent[0], "the error page (text/plain) is not rewritten"


def test_exc_info_after_headers_reraises() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        environ["embed.tenant"] = "acme"
        start_response("200 OK", [("Content-Type", HTML)])
        yield b"<html>sent"
        try:
            raise RuntimeError("late failure")
        except RuntimeError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())

    with pytest.raises(RuntimeError, match="late failure"):
        run(middleware(app))


def test_start_response_twice_without_exc_info_is_an_error() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", HTML)])
        start_response("200 OK", [("Content-Type", HTML)])
        return [b""]

    with pytest.raises(AssertionError, match="second time"):
        run(middleware(app))


def test_client_disconnect_mid_stream_closes_the_apps_iterable() -> None:
    app, made = page_app([b"<p>one</p>", b"<p>two</p>", b"<p>three</p>"], content_length=False)
    from werkzeug.test import EnvironBuilder

    result = middleware(app)(EnvironBuilder().get_environ(), lambda s, h, e=None: None)
    iterator = iter(result)
    assert next(iterator) == b"<p>one</p>"
    result.close()  # type: ignore[attr-defined]
    assert made[0].closed


def test_list_bodies_are_known_complete() -> None:
    app, _ = page_app([b"<p>", b"<JWT_TOKEN>", b"</p>"], content_length=False, as_list=True)
    response = TestApp(checked(app)).get("/")
    # The first chunk is held until output exists; a list's last chunk is known to be last.
    assert response.body.startswith(b"<p>eyJ")


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"missing_tenant": "ignore"}, "missing_tenant must be one of"),
        ({"token_endpoint": "embed/token"}, "must be a path starting with '/'"),
        ({"content_types": "text/html"}, "content_types"),
        ({"placeholder_word": "JWT TOKEN"}, "placeholder word"),
        ({"max_resource_length": 0}, "max_resource_length"),
        ({"issuer": "secret"}, "issuer must be a TokenIssuer"),
        ({"resolver": "acme"}, "resolver must be a callable"),
        ({"header": "X-Token"}, "HeaderDelivery"),
    ],
)
def test_bad_options_fail_at_construction(options: dict[str, Any], message: str) -> None:
    app, _ = page_app(b"")
    with pytest.raises(ConfigurationError, match=message):
        middleware(app, **options)


def test_flask_app_marks_its_tenant_while_handling() -> None:
    flask = pytest.importorskip("flask", reason="flask is in the test extra")
    app = flask.Flask(__name__)

    @app.get("/dashboard")
    def dashboard() -> str:
        flask.request.environ["embed.tenant"] = Tenant("globex", locked_claims={"workspace_id": "ws-globex"})
        # Jinja autoescaping turns the placeholder into &lt;JWT_TOKEN:top:NONCE&gt;.
        own_placeholder = embed_placeholder(flask.request, "top")
        return flask.render_template_string('<iframe src="/embed?token={{ p }}">', p=own_placeholder)

    app.wsgi_app = middleware(app.wsgi_app, resolver=from_environ())  # type: ignore[method-assign]
    response = TestApp(app).get("/dashboard")
    claims = decode(TOKEN.search(response.body).group(0))  # type: ignore[union-attr]
    assert claims["sub"] == "globex" and claims["workspace_id"] == "ws-globex" and claims["resource"] == "top"
    assert response.headers["Content-Length"] == str(len(response.body))
    assert response.headers["Cache-Control"] == "private, no-store"


# -- regressions found in review --------------------------------------------------------------


def test_cdn_cache_headers_go_from_a_page_with_a_token() -> None:
    cdn = [
        ("CDN-Cache-Control", "max-age=600"),
        ("Fastly-CDN-Cache-Control", "max-age=9"),
        ("Surrogate-Control", "max-age=600"),
        ("Edge-Control", "max-age=600"),
        ("X-Accel-Expires", "600"),
        ("Akamai-Cache-Control", "max-age=600"),
        ("X-LiteSpeed-Cache-Control", "public,max-age=600"),
    ]
    app, _ = page_app(b"<JWT_TOKEN>", headers=cdn)
    _status, headers, body = run(checked(app))
    assert tokens_in(body)
    names = {name.lower() for name, _ in headers}
    assert not names & {
        "cdn-cache-control",
        "fastly-cdn-cache-control",
        "surrogate-control",
        "edge-control",
        "akamai-cache-control",
        "x-litespeed-cache-control",
    }
    assert [v for k, v in headers if k.lower() == "x-accel-expires"] == ["0"], "nginx: do not cache"


def test_every_vary_header_of_the_app_is_kept() -> None:
    app, _ = page_app(b"<JWT_TOKEN>", headers=[("Vary", "Accept-Encoding"), ("Vary", "Origin")])
    _status, headers, _body = run(checked(app))
    assert [v for k, v in headers if k == "Vary"] == ["Accept-Encoding, Origin, Cookie"]


def test_a_tenant_limited_to_named_resources_gets_no_bare_token() -> None:
    tenant = Tenant("acme", resources=frozenset({"top"}))
    app, _ = page_app(b"[<JWT_TOKEN>][<JWT_TOKEN:top>]", tenant=tenant)
    body = TestApp(checked(app)).get("/").body
    assert body.startswith(b"[][eyJ")
    response = endpoint_app(tenant).get("/embed/token", status=404)
    assert response.json == {"error": "unknown_resource", "reason": "an unscoped token is not allowed"}


def test_exc_info_restart_counts_the_new_body_from_zero() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        environ["embed.tenant"] = "acme"
        start_response("200 OK", [("Content-Type", HTML), ("Content-Length", "100")])
        # The start of the app's own placeholder, held back whole: no head has gone out yet.
        yield embed_placeholder(environ, "top_airlines").encode()[:18]
        try:
            raise RuntimeError("template blew up")
        except RuntimeError:
            error = b"<h1>Server Error</h1>"
            start_response(
                "500 Internal Server Error",
                [("Content-Type", HTML), ("Content-Length", str(len(error)))],
                sys.exc_info(),
            )
            yield error

    status, headers, body = run(middleware(app))
    assert status.startswith("500") and body == b"<h1>Server Error</h1>"
    assert header(headers, "Content-Length") == str(len(body))


def test_apps_iterable_is_closed_when_the_server_refuses_the_head() -> None:
    app, made = page_app(b"{}", content_type="application/json")
    from werkzeug.test import EnvironBuilder

    def refusing_start_response(status: str, headers: list, exc_info: Any = None) -> Any:
        raise ValueError("hop-by-hop header")

    # With a header token the middleware sends the head itself, after the app returned its iterable.
    with pytest.raises(ValueError, match="hop-by-hop"):
        middleware(app, header=HeaderDelivery())(EnvironBuilder().get_environ(), refusing_start_response)
    assert made[0].closed
    # Without one, the JSON response is not the middleware's: the app meets the server's refusal itself.
    with pytest.raises(ValueError, match="hop-by-hop"):
        middleware(app)(EnvironBuilder().get_environ(), refusing_start_response)
    assert len(made) == 1, "the app never got as far as making its iterable"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"vary": "Authorization"}, "vary must be a list"),
        ({"header": {"name": "X-Embed Token\n"}}, "not a valid HTTP field name"),
        ({"header": {"name": ""}}, "not a valid HTTP field name"),
        ({"header": {"when": "yes"}}, "must be a callable"),
        ({"header": {"resource": "a b"}}, "not a resource name"),
    ],
)
def test_more_bad_options_fail_at_construction(options: dict[str, Any], message: str) -> None:
    app, _ = page_app(b"")
    with pytest.raises(ConfigurationError, match=message):
        if "header" in options:
            HeaderDelivery(**options["header"])
        middleware(app, **options)


class _ClosableList(list[bytes]):
    """A list body with ``close()``, as some frameworks return: PEP 3333 says the server calls it."""

    closed = 0

    def close(self) -> None:
        self.closed += 1


@pytest.mark.parametrize("chunks", [1, 2])
def test_a_list_body_with_close_is_closed_once_when_rewritten(chunks: int) -> None:
    """The middleware hands the server its own list in place of the app's, so it closes the app's
    (one chunk: the one-step page path; two: the streaming path over a list)."""
    made: list[_ClosableList] = []

    def app(environ: dict[str, Any], start_response: Any) -> _ClosableList:
        environ["embed.tenant"] = "acme"
        start_response("200 OK", [("Content-Type", HTML)])
        body = own(b"<p><JWT_TOKEN:top></p>", nonce_of(environ))
        made.append(_ClosableList([body[:5], body[5:]] if chunks == 2 else [body]))
        return made[-1]

    response = TestApp(checked(middleware(app))).get("/")
    assert len(tokens_in(response.body)) == 1
    assert made[0].closed == 1
