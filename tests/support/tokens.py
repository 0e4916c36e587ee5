"""What many test modules need to look at a token: its shape in a body, a key to sign it, its claims.

The token patterns were once copied into a dozen modules, each slightly different; one definition keeps
"a token leaked" meaning the same thing everywhere. Keys stay distinct per suite (a test that decodes
with the wrong suite's key must fail), so they come from a factory rather than one shared constant.
"""

from __future__ import annotations

import re
from typing import Any

import jwt

#: A compact JWS in a body, as bytes: three base64url parts, the header starting ``{"`` (``eyJ``).
TOKEN = re.compile(rb"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")
#: The same, in text (a page read by a browser, a header value); empty middle parts allowed, so that a
#: mangled token still counts as one.
JWT_TEXT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


def signing_secret(suite: str, length: int = 57) -> str:
    """An HMAC secret of ``length`` characters (at least 32), named after the suite that uses it."""
    if length < 32:
        raise ValueError("HS256 secrets shorter than 32 bytes are refused by the issuer")
    return f"{suite}-signing-key-".ljust(length, suite[0])[:length]


def decode_token(token: str | bytes, key: Any, algorithm: str = "HS256", **options: bool) -> dict[str, Any]:
    """The claims of a token, checked with PyJWT (signature, exp, nbf), never with our own code."""
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=[algorithm], options=dict(options))
    return claims
