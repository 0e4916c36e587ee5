"""Bad input through both adapters (issue 5, item 2): every case of bad_input_cases.CASES, WSGI and ASGI.

For each case and adapter the test asserts:

(a) the server keeps answering: what reaches the server is a well-formed response (PEP 3333, checked by
    wsgiref's validator, or a valid ASGI message sequence), or exactly the error a server expects to
    see; and a normal follow-up request through the same middleware still gets its page and token;
(b) no token goes to the wrong party: every token in the body or a header verifies and names the
    case's tenant, and none appears when the tenant is unknown; a token never leaves without
    ``Cache-Control: private, no-store``; no log line holds a token or the key;
(c) no byte of the app's output is lost or altered beyond the app's own placeholders: the body equals
    the app's body with the placeholders that carry this request's nonce substituted (by an independent
    regex and rule) by the tokens issued, each checked for its tenant and resource, and every other
    placeholder-like text (users' text, names outside the allowlist or beyond the bounds) left byte
    for byte; and at no time does the middleware hold back as much as the longest placeholder (bytes
    the app produced minus bytes the server got).

The drivers stand in for servers: the WSGI one behaves as wsgiref/gunicorn do (start_response, write,
iteration, close; a leaving client stops the iteration), the ASGI one as uvicorn does (sends after a
disconnect are dropped), and each request runs in a worker thread so a hang fails instead of blocking.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any
from wsgiref.validate import validator

import jwt
import pytest

from embed_middleware import ConfigurationError, EmbedASGIMiddleware, EmbedWSGIMiddleware
from embed_middleware.rewrite import NONCE_LENGTH, PlaceholderSyntax, StreamRewriter
from embed_middleware.tenants import from_environ
from tests.support.app_placeholders import TEST_RESOURCES, nonce_of
from tests.support.bad_input_cases import CASES, HANGING, NORMAL, SENTINEL, AppCrash, Case, Step, per
from tests.support.tokens import TOKEN
from tests.support.wsgi_helpers import KEY, test_issuer

MARK = b"\x00TOKEN\x00"
OWN_500 = b"Internal Server Error: could not prepare the embed.\n"
FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
ADAPTERS = ("wsgi", "asgi")
WHOLE = ("page", "untouched", "head", "500", "page+raises")
#: Every issuer in the table names TEST_RESOURCES and allows the unscoped token.
ALLOWED = frozenset(TEST_RESOURCES)
#: Room the engine makes in every name for the app's ":NONCE".
ROOM = 1 + NONCE_LENGTH


def signed(steps: tuple[Step, ...], nonce: str) -> tuple[Step, ...]:
    """The case's steps as the app performs them: ``SENTINEL`` replaced by this request's nonce in the
    body (ASCII, and UTF-16 for the UTF-16 page). The same length, so every chunk keeps its size."""
    parts = [s.data for s in steps if s.kind == "body" and isinstance(s.data, bytes)]
    body = b"".join(parts)
    for encoding in ("ascii", "utf-16-le"):
        body = body.replace(SENTINEL.encode(encoding), nonce.encode(encoding))
        assert SENTINEL.encode(encoding) not in body
    out, at = [], 0
    for step in steps:
        if step.kind == "body" and isinstance(step.data, bytes):
            step = replace(step, data=body[at : at + len(step.data)])
            at += len(step.data)
        out.append(step)
    return tuple(out)


@dataclass
class Probe:
    """Shared by a test app and its driver: bytes produced and delivered, the largest gap, closes."""

    produced: int = 0
    delivered: int = 0
    max_gap: int = 0
    closes: int = 0
    closable: bool = False

    def produce(self, data: bytes | str) -> None:
        self.max_gap = max(self.max_gap, self.produced - self.delivered)
        self.produced += len(data)


@dataclass
class Served:
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    complete: bool = False
    error: BaseException | None = None
    kinds: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    hung: bool = False


class Closing:
    """The app's iterable; ``close()`` counts, and raises when the case says so."""

    def __init__(self, chunks: Iterator[bytes], probe: Probe, raises: bool) -> None:
        self._chunks, self._probe, self._raises = chunks, probe, raises
        probe.closable = True

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._probe.closes += 1
        self._chunks.close()  # type: ignore[attr-defined]
        if self._raises:
            raise AppCrash("close() failed")


def status_text(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


class Harness:
    """One middleware (one adapter) around an app playing the case's script; serves requests to it."""

    def __init__(self, case: Case, adapter: str) -> None:
        self.case, self.adapter, self.steps, self.probe = case, adapter, case.steps, Probe()
        #: What the app actually sent on the last request (its placeholders signed) and the nonce it drew.
        self.sent: tuple[Step, ...] = case.steps
        self.nonce: str | None = None
        options = {"issuer": test_issuer(), "resolver": from_environ(), **case.options()}
        if adapter == "wsgi":
            self.mw: Any = EmbedWSGIMiddleware(self.wsgi_app, **options)
        else:
            self.mw = EmbedASGIMiddleware(self.asgi_app, **options)

    def script(self, path: str, holder: dict[str, Any]) -> tuple[tuple[Step, ...], object, bool]:
        steps, mark, followup = (
            (NORMAL, "acme", True) if path == "/ok" else (self.steps, self.case.mark, False)
        )
        self.nonce = nonce_of(holder) if followup or self.case.draws else None
        self.sent = steps if self.nonce is None else signed(steps, self.nonce)
        return self.sent, mark, followup

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        steps, mark, followup = self.script(environ["PATH_INFO"], environ)
        if mark is not None:
            environ["embed.tenant"] = mark
        probe, writes = self.probe, []

        def perform(step: Step) -> Any:
            if step.kind in ("start", "start2"):
                writes.append(start_response(status_text(step.status), list(step.headers)))
            elif step.kind == "raise":
                raise AppCrash("the app failed")
            elif step.kind == "restart":
                try:
                    raise AppCrash("the app failed, and handles it")
                except AppCrash:
                    writes.append(
                        start_response(status_text(step.status), list(step.headers), sys.exc_info())
                    )
            elif step.kind == "body":
                probe.produce(step.data)
                if not step.write:
                    return step.data
                writes[-1](step.data)
            return None

        if self.case.wsgi_list and not followup:
            return [chunk for chunk in map(perform, steps) if chunk is not None]
        # Steps up to the first "iter" or iterable chunk run in the app call, the rest in its iterable.
        cut = next(
            (i for i, s in enumerate(steps) if s.kind == "iter" or (s.kind == "body" and not s.write)),
            len(steps),
        )
        for step in steps[:cut]:
            perform(step)

        def rest() -> Iterator[bytes]:
            for step in steps[cut:]:
                if (chunk := perform(step)) is not None:
                    yield chunk

        return Closing(rest(), probe, self.case.close_raises and not followup)

    async def asgi_app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        steps, mark, followup = self.script(scope["path"], scope)
        if mark is not None:
            scope.setdefault("state", {})["embed_tenant"] = mark
        finish = followup or self.case.finish
        ended = False
        for index, step in enumerate(steps):
            if step.kind in ("start", "start2"):
                headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in step.headers]
                await send({"type": "http.response.start", "status": step.status, "headers": headers})
            elif step.kind in ("raise", "restart"):
                raise AppCrash("the app failed")
            elif step.kind == "hint":
                await send({"type": "http.response.early_hint", "links": [b"</app.css>; rel=preload"]})
            elif step.kind == "listen" and (await receive())["type"] == "http.disconnect":
                return
            elif step.kind == "body":
                self.probe.produce(step.data)
                ended = finish and index == len(steps) - 1
                await send({"type": "http.response.body", "body": step.data, "more_body": not ended})
        if finish and not ended:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        if self.case.close_raises and not followup:
            raise AppCrash("cleanup after the response failed")

    def serve(self, case: Case, path: str = "/") -> Served:
        """One request, in a worker thread: past ``case.within`` it counts as hung and hooks are released."""
        served, self.probe = Served(), Probe()
        self.sent, self.nonce = (NORMAL if path == "/ok" else self.steps), None
        run = self._serve_wsgi if self.adapter == "wsgi" else self._serve_asgi

        def target() -> None:
            try:
                run(case, path, served)
            except BaseException as error:  # what reaches the server
                served.error = error

        worker = threading.Thread(target=target, daemon=True)
        began = time.monotonic()
        worker.start()
        worker.join(per(case.within, self.adapter))
        served.elapsed, served.hung = time.monotonic() - began, worker.is_alive()
        if served.hung:
            for event in HANGING:
                event.set()
            worker.join(10)
        return served

    def _serve_wsgi(self, case: Case, path: str, served: Served) -> None:
        probe, app = self.probe, validator(self.mw) if case.lint else self.mw
        environ: dict[str, Any] = {
            "REQUEST_METHOD": case.method, "SCRIPT_NAME": "", "PATH_INFO": path, "SERVER_NAME": "testserver",
            "QUERY_STRING": case.query.decode("latin-1"), "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
            "wsgi.errors": io.StringIO(), "wsgi.multithread": True, "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }  # fmt: skip
        for name, value in ((b"host", case.host), *case.headers):
            if value is not None:  # repeated fields are joined, as servers do
                key, text = "HTTP_" + name.decode().upper().replace("-", "_"), value.decode("latin-1")
                joiner = "; " if key == "HTTP_COOKIE" else ","
                environ[key] = environ[key] + joiner + text if key in environ else text
        sent = False

        def deliver(data: bytes) -> None:
            nonlocal sent
            assert type(data) is bytes and served.status is not None, "body bytes before start_response"
            sent, served.body = sent or bool(data), served.body + data
            probe.delivered += len(data)

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info is not None:
                try:
                    if sent:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif served.status is not None:
                raise AssertionError("start_response called a second time without exc_info")
            assert re.fullmatch(r"[1-5]\d\d [^\r\n]+", status), f"bad status line {status!r}"
            for name, value in headers:
                assert type(name) is str and FIELD_NAME.fullmatch(name), f"bad header name {name!r}"
                assert type(value) is str and not re.search("[\r\n\x00]", value), f"bad value {value!r}"
                value.encode("latin-1")
            served.status, served.headers = int(status[:3]), list(headers)
            return deliver

        result = app(environ, start_response)
        try:
            for chunk in result:
                deliver(chunk)
                if chunk and case.client != "stays":
                    break  # the client left: a server stops iterating, and closes
            else:
                served.complete = served.status is not None
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _serve_asgi(self, case: Case, path: str, served: Served) -> None:
        probe, requested, gone = self.probe, False, False
        fields = [(b"host", case.host)] if case.host is not None else []
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
            "method": case.method, "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": case.query, "headers": fields + list(case.headers), "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
        }  # fmt: skip

        async def receive() -> dict[str, Any]:
            nonlocal requested, gone
            if case.client == "hangs up" and served.body:
                gone = True
                return {"type": "http.disconnect"}
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.sleep(30)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if gone:
                return  # uvicorn drops what is sent after the client left
            kind = message["type"]
            if kind == "http.response.body" and case.client == "leaves" and served.body:
                raise OSError("the client went away")
            check_message(message, served)
            served.kinds.append(kind)
            probe.delivered += len(message.get("body", b""))
            served.body += message.get("body", b"")

        # A server's loop outlives the request: closing this one must not wait for a resolver thread
        # the middleware abandoned after its timeout (asyncio.run would join the default executor).
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(asyncio.wait_for(self.mw(scope, receive, send), 20))
        finally:
            loop.close()


def check_message(message: dict[str, Any], served: Served) -> None:
    """What an ASGI server relies on: hints, one start, bodies, the last one final, nothing after."""
    kind = message["type"]
    assert not served.complete, f"{kind} after the final body message"
    started = "http.response.start" in served.kinds
    if kind == "http.response.early_hint":
        assert not started, "early hints after the start"
    elif kind == "http.response.start":
        assert not started, "a second http.response.start reached the server"
        status, headers = message["status"], message.get("headers", [])
        assert type(status) is int and 100 <= status <= 599, status
        for name, value in headers:
            assert type(name) is bytes and type(value) is bytes, (name, value)
            assert FIELD_NAME.fullmatch(name.decode("latin-1")) and name == name.lower(), name
            assert not re.search(rb"[\r\n\x00]", value), value
        served.status, served.headers = (
            status,
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
        )
    elif kind == "http.response.body":
        assert started and type(message.get("body", b"")) is bytes, "a body before the start, or not bytes"
        served.complete = not message.get("more_body", False)
    else:
        raise AssertionError(f"unexpected message {kind}")


def placeholders(max_name: int) -> re.Pattern[bytes]:
    """An independent spelling of the three placeholder families the README promises; ``max_name`` counts
    the whole name, the app's ":NONCE" included."""
    name = rb"([A-Za-z0-9_.:\-]{1,%d})" % max_name
    percent = rb"((?:[A-Za-z0-9_.:\-]|%%3[aA]){1,%d})" % max_name
    return re.compile(
        rb"<JWT_TOKEN(?::" + name + rb")?>|(?:&lt;|&#60;|&#[xX]3[cC];)JWT_TOKEN(?::" + name + rb")?"
        rb"(?:&gt;|&#62;|&#[xX]3[eE];)"
        rb"|%3[cC]JWT_TOKEN(?:(?::|%3[aA])" + percent + rb")?%3[eE]"
    )


def spelled(body: bytes, max_name: int, decide: Callable[[str | None], bytes | None]) -> bytes:
    """``body`` with each placeholder (by the independent regex) replaced by ``decide(name)``, or left
    exactly as written where that is None."""

    def substitute(match: re.Match[bytes]) -> bytes:
        raw = next((g for g in match.groups() if g is not None), None)
        name = None if raw is None else raw.replace(b"%3A", b":").replace(b"%3a", b":").decode()
        replacement = decide(name)
        return match.group(0) if replacement is None else replacement

    return placeholders(max_name).sub(substitute, body)


def reference(
    body: bytes, case: Case, nonce: str | None, max_resource: int, cap: int
) -> tuple[bytes, list[str | None]]:
    """The app's body as the client must get it: each of the app's own placeholders (its name ends with
    ``:`` and this request's nonce) replaced by MARK when a token is due, or removed when the tenant has
    none for it; everything else left as written: text without the nonce, a resource longer than
    ``max_resource`` or outside the allowlist, and distinct resources beyond ``cap``."""
    due: list[str | None] = []
    distinct: list[str | None] = []

    def decide(name: str | None) -> bytes | None:
        if name is None or nonce is None:
            return None
        head, colon, tail = name.rpartition(":")
        if tail != nonce:
            return None
        resource = head if colon else None
        if resource is not None and (len(resource) > max_resource or resource not in ALLOWED):
            return None
        if resource not in distinct:
            if len(distinct) >= cap:
                return None
            distinct.append(resource)
        if case.tenant is None or (case.resources is not None and resource not in case.resources):
            return b""
        due.append(resource)
        return MARK

    return spelled(body, max_resource + ROOM, decide), due


def check(h: Harness, case: Case, served: Served) -> list[bytes]:
    """Every assertion on one served request; returns the tokens it carried."""
    steps = h.sent  # as the app performed them: its placeholders carry the request's nonce
    adapter, outcome, where = h.adapter, per(case.outcome, h.adapter), f"[{h.adapter}] {case.name}"
    limit = per(case.within, adapter)
    assert not served.hung, f"{where}: still waiting after {limit} s (then released by the test)"
    assert served.elapsed <= limit, f"{where}: answered after {served.elapsed:.2f} s, limit {limit} s"
    # (a) what reaches the server
    if outcome in ("raises", "page+raises"):
        assert isinstance(served.error, case.raises), f"{where}: expected {case.raises}, got {served.error!r}"
    elif served.error is not None:
        raise AssertionError(f"{where}: {served.error!r} reached the server") from served.error
    assert served.complete == (outcome in WHOLE), f"{where}: complete={served.complete}, outcome {outcome}"
    if adapter == "wsgi" and h.probe.closable:
        assert h.probe.closes == 1, f"{where}: the app's iterable was closed {h.probe.closes} times"
    headers = {k.lower(): v for k, v in served.headers}
    starts = [s for s in steps if s.kind in ("start", "start2", "restart")]
    own = {k.lower() for k, _ in starts[-1].headers} if starts else set()
    if {"transfer-encoding", "content-length"} <= headers.keys():
        assert "content-length" in own, f"{where}: Content-Length added beside Transfer-Encoding"
    length = headers.get("content-length")
    if served.complete and length is not None and case.method != "HEAD" and outcome != "untouched":
        assert int(length) == len(served.body), f"{where}: Content-Length {length}, body {len(served.body)}"
    # (c) the body: the app's bytes, placeholders substituted
    app_body = b"".join(s.data for s in steps if s.kind == "body" and isinstance(s.data, bytes))
    if case.cut is not None:
        app_body = app_body[: case.cut]
    config = h.mw.config
    fixed = {"500": (OWN_500, []), "untouched": (app_body, []), "head": (b"", [])}.get(outcome)
    expected, due = fixed or reference(
        app_body, case, h.nonce, config.syntax.max_resource_length, config.max_tokens_per_response
    )
    got = TOKEN.sub(MARK, served.body)
    if outcome in WHOLE:
        assert got == expected, f"{where}: body differs\n got {got[:300]!r}\nwant {expected[:300]!r}"
        if outcome != "untouched":
            want = 500 if outcome == "500" else starts[-1].status
            assert served.status == want, f"{where}: status {served.status}, not {want}"
    else:
        assert expected.startswith(got), f"{where}: what went out is no prefix of the page: {got[:300]!r}"
    if outcome == "page" and not (adapter == "wsgi" and case.wsgi_list):
        bound = h.mw.config.syntax.max_length
        assert h.probe.max_gap < bound, f"{where}: held back {h.probe.max_gap} bytes, bound {bound}"
    # (b) tokens: the right tenant, the right resource, never cached
    in_body = TOKEN.findall(served.body)
    found = in_body + [t for _, v in served.headers for t in TOKEN.findall(v.encode("latin-1"))]
    if case.tenant is None:
        assert not found, f"{where}: a token went out though no tenant may have one"
    for token in found:
        claims = jwt.decode(token, KEY, algorithms=["HS256"])
        assert claims["tid"] == case.tenant, f"{where}: a token for {claims['tid']!r}, not {case.tenant!r}"
    named = [jwt.decode(t, KEY, algorithms=["HS256"]).get("resource") for t in in_body]
    assert named == due[: len(named)], f"{where}: tokens for resources {named}, due {due}"
    if found:
        assert headers.get("cache-control") == "private, no-store", f"{where}: a token without no-store"
        assert headers.get("x-accel-expires") == "0", f"{where}: a token nginx may cache"
    return found


#: Cases that wait on purpose (a resolver that hangs past a timeout) for over a second each.
SLOW = {"sync resolver hangs"}


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=f"{c.name} -- {c.expect}", marks=[pytest.mark.slow] if c.name in SLOW else [])
        for c in CASES
    ],
)
def test_bad_input(
    case: Case, adapter: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, logger="embed_middleware")
    if case.startup is not None:
        cls = EmbedWSGIMiddleware if adapter == "wsgi" else EmbedASGIMiddleware
        with pytest.raises(ConfigurationError) as raised:
            case.startup(cls, monkeypatch)
        for fix in case.fix:
            assert fix in str(raised.value), f"the message does not say {fix!r}: {raised.value}"
        if case.secret:
            assert case.secret not in f"{raised.value}{raised.value!r}{caplog.text}", "the key was revealed"
        return
    seen: list[bytes] = []
    try:
        harness = Harness(case, adapter)
        for steps in case.variants or (case.steps,) * case.runs:
            harness.steps = steps
            seen += check(harness, case, harness.serve(case))
        after = replace(Case("follow-up", "the normal page"), tenant=case.followup, within=2.0)
        normal = check(harness, after, harness.serve(after, "/ok"))
        assert len(normal) == (case.followup is not None), "the app's own placeholder on the normal page"
        seen += normal
    finally:
        for event in HANGING:
            event.set()
        HANGING.clear()
    wanted = per(case.logs, adapter)
    if wanted is not None:
        lines = [r.getMessage() for r in caplog.records if wanted in r.getMessage()]
        assert len(lines) == 1, f"expected one log line with {wanted!r}, got {lines}"
    assert KEY not in caplog.text and not any(t.decode() in caplog.text for t in seen), "a secret was logged"


def test_bad_input_cases_per_adapter() -> None:
    """The suite's size, as the lead asked for it: printed with ``-s``."""
    counted = {adapter: len(CASES) for adapter in ADAPTERS}
    requests = sum(max(len(c.variants), c.runs) for c in CASES if c.startup is None)
    assert all(n >= 40 for n in counted.values()), counted
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"
    print(f"\nbad-input cases: {len(CASES)} per adapter, both adapters ({requests} bad requests each)")


def test_the_reference_spelling_agrees_with_the_rewriter() -> None:
    """The independent regex finds what the library's rewriter replaces, in every body of the table."""
    longest = 64 + ROOM
    too_long, at_the_bound = (
        b"<JWT_TOKEN:" + b"z" * (longest + 1) + b">",
        b"<JWT_TOKEN:" + b"z" * longest + b">",
    )
    own_one = b"&lt;JWT_TOKEN:top:" + SENTINEL.encode() + b"&gt;"
    bodies = [
        b"&#60;JWT_TOKEN&gt; <JWT_TOKEN:a.b> %3CJWT_TOKEN%3Ax%3ay%3E " + too_long + at_the_bound + own_one
    ]
    bodies += [b"".join(s.data for s in c.steps if isinstance(s.data, bytes)) for c in CASES]
    for body in bodies:
        replaced: list[str | None] = []
        rewriter = StreamRewriter(PlaceholderSyntax(), lambda r, seen=replaced: seen.append(r) or MARK)
        named: list[str | None] = []

        def every(name: str | None, seen: list[str | None] = named) -> bytes:
            seen.append(name)
            return MARK

        expected = spelled(body, longest, every)
        assert (rewriter.feed(body) + rewriter.flush(), replaced) == (expected, named), body[:80]
