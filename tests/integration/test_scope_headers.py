"""The ASGI request's headers (issue 16, item 7): the one-pass build agrees with the joining one and
with what a WSGI server would present.

``ScopeRequest.headers`` takes the raw scope fields as they are when no name repeats and no value
carries CR, LF or NUL, and otherwise joins repeats and drops forbidden fields. Both paths must give the
same fields, and resolvers must read the same values as from asgiref's environ of the same scope.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from werkzeug.wrappers import Request

from embed_middleware.scope_request import ScopeRequest, _headers, _joined_fields, environ_from_scope

NAMES = st.sampled_from([b"Host", b"host", b"cookie", b"Cookie", b"x-tenant", b"X-Tenant", b"accept"])
CLEAN_VALUES = st.binary(max_size=12).filter(lambda v: not any(c in v for c in b"\r\n\0"))
VALUES = st.one_of(CLEAN_VALUES, st.sampled_from([b"a\rb", b"a\nb", b"a\0b", b"\r\n", b"caf\xe9"]))


def _scope(fields: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": "/",
        "root_path": "",
        "query_string": b"",
        "headers": fields,
    }


@given(st.lists(st.tuples(NAMES, VALUES), max_size=6))
def test_the_one_pass_build_gives_the_joined_fields(fields: list[tuple[bytes, bytes]]) -> None:
    assert list(_headers(_scope(fields)).items()) == _joined_fields(fields)


@given(st.lists(st.tuples(NAMES, CLEAN_VALUES), max_size=6))
def test_resolvers_read_what_a_wsgi_server_would_present(fields: list[tuple[bytes, bytes]]) -> None:
    scope = _scope(fields)
    ours = ScopeRequest(scope)
    theirs = Request(environ_from_scope(scope))
    for name in ("host", "cookie", "x-tenant", "accept", "absent"):
        assert ours.headers.get(name) == theirs.headers.get(name)
    assert ours.cookies.to_dict() == theirs.cookies.to_dict()


def test_a_forbidden_byte_drops_only_its_field() -> None:
    headers = ScopeRequest(
        _scope([(b"x-tenant", b"acme\r\nX-Evil: 1"), (b"host", b"acme.example.com")])
    ).headers
    assert headers.get("x-tenant") is None
    assert headers.get("host") == "acme.example.com"


def test_repeats_join_as_a_server_joins_them() -> None:
    headers = ScopeRequest(
        _scope([(b"cookie", b"a=1"), (b"Cookie", b"b=2"), (b"accept", b"x"), (b"Accept", b"y")])
    )
    assert headers.headers.get("cookie") == "a=1; b=2"
    assert headers.headers.get("accept") == "x,y"
    assert headers.cookies.to_dict() == {"a": "1", "b": "2"}
