"""ASGI header fields in and out of the core, which works on ``(str, str)`` pairs as WSGI has them.

In: the app's fields decoded (latin-1, the one lossless mapping), plus a map back to the bytes the app
sent. Out: each field the head kept goes back as the app's own bytes, ours come encoded once per
process, anything else is encoded now; every name lowercase, as the ASGI spec wants.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._core.policy import REFERRER_POLICY, SET_ON_TOKEN

#: Decoded field -> the app's bytes for it.
AppFields = dict[tuple[str, str], tuple[bytes, bytes]]

#: The fields the core adds to a page's head, as ASGI bytes (built once, not per response).
_OURS: AppFields = {
    field: (field[0].lower().encode("latin-1"), field[1].encode("latin-1"))
    for field in (*SET_ON_TOKEN, ("Referrer-Policy", REFERRER_POLICY), ("Vary", "Cookie"))
}


def decoded_fields(raw: Sequence[tuple[bytes, bytes]]) -> tuple[list[tuple[str, str]], AppFields]:
    """The fields as ``str`` pairs, and the map back to the app's bytes: new tuples of immutable
    ``bytes`` only, so an app that changes its items after sending (ASGI allows ``[name, value]`` lists
    and bytearrays) cannot change what goes out; anything else is encoded anew on the way out."""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
    app_fields = {
        decoded: (name, value)
        for decoded, (name, value) in zip(headers, raw, strict=True)
        if type(name) is bytes and type(value) is bytes
    }
    return headers, app_fields


def encoded_fields(headers: Iterable[tuple[str, str]], app_fields: AppFields) -> list[tuple[bytes, bytes]]:
    """The head as ASGI has it (names lowercase: werkzeug and the policy write canonical case)."""
    encoded = []
    for field in headers:
        found = app_fields.get(field) or _OURS.get(field)
        if found is None:
            found = (field[0].lower().encode("latin-1"), field[1].encode("latin-1"))
        elif not found[0].islower():
            found = (found[0].lower(), found[1])
        encoded.append(found)
    return encoded
