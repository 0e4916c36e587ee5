"""128-bit random values spelled in base64url: a page's nonce and a token's ``jti``.

What ``secrets.token_urlsafe(16)`` returns (the same ``os.urandom`` bytes, the same 22 characters of
``[A-Za-z0-9_-]``) without its three layers of calls, since every page draws one of each.
"""

from __future__ import annotations

from binascii import b2a_base64
from os import urandom

#: base64url's alphabet over standard base64's (RFC 4648 section 5).
URLSAFE = bytes.maketrans(b"+/", b"-_")
#: 16 bytes (128 bits, as the OWASP and CSP nonce guidance asks) are 22 base64url characters.
RANDOM_BYTES = 16
RANDOM_LENGTH = 22


def random_id() -> str:
    """A fresh 128-bit random value in 22 base64url characters, no padding."""
    return b2a_base64(urandom(RANDOM_BYTES), newline=False).translate(URLSAFE)[:RANDOM_LENGTH].decode("ascii")
