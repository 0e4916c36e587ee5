"""Rewriting rows: throughput of ``StreamRewriter`` over realistic pages, against ``bytes.replace``.

Each page is 1 MB or 10 MB of table-heavy HTML, in two kinds of text: ASCII, and UTF-8 with
accents, Cyrillic, CJK and emoji in every row (over a quarter of its bytes belong to multi-byte
characters, and chunk boundaries fall inside them, as they do when a server cuts a body). Ten of the
app's own placeholders are spread over it in four forms, each written by the real helper for one
request (``EmbedContext.placeholder``, what ``embed_placeholder``/``embed_token`` call, so each carries
that request's 22-character nonce), covering every family the engine recognises, named and bare:
``<JWT_TOKEN:NONCE>``, ``<JWT_TOKEN:top_airlines:NONCE>``, the same escaped by Jinja2's autoescape
(``&lt;…&gt;``) and percent-encoded as ``embed_url`` writes it (``%3CJWT_TOKEN%3Atop_airlines%3A…%3E``).
The first one straddles a chunk boundary.

**The raw engine, with the exchange's decision.** These rows drive ``StreamRewriter`` directly (no
adapter, no request, no signature), so only scanning is timed. Its replacement callback does what
``Exchange._replacement`` does for each candidate: split the name at its last ``:``, compare the tail
with the request's nonce in constant time (``EmbedContext.matches``, the very method the exchange
calls), check the resource against the issuer's allowlist and the per-response cap, and return that
resource's token, memoised per response (a constant here, so that no signing is timed: see the
minting rows). Signing, tenant resolution and headers are measured end to end by the serving rows.

**The floor** is **one** ``bytes.replace`` of the app's raw named placeholder, nonce included, over
the whole body: a single C pass that builds a new body, the least work any rewriter could do. Before
the nonce the floor replaced the bare ``<JWT_TOKEN>``; a hand-rolled rewriter doing that now would
fill placeholders users wrote too, so the honest floor replaces only the exact string the app wrote
for this request. That needle is 47 bytes instead of 11, and a longer needle lets CPython's search
skip further: the floor itself runs faster than before (about 1.4x to 2.8x here) while the engine,
which still looks for the word ``JWT_TOKEN`` and decides trust per candidate, does not. So the ratio
is lower than with the old floor for the same engine speed. The floor still does less than the engine
(one of the four forms, the body as one piece, no chunk boundary, no trust decision), so the ratio is
conservative. Correctness is checked apart from timing: before
timing, each row checks that the engine's output equals, byte for byte, a reference that replaces
every form (one ``bytes.replace`` per form).

The 64 KiB rows carry the target; the 4 KiB rows show the per-chunk overhead a server with small
writes would pay, for information.
"""

from __future__ import annotations

import functools
import html
import random
from collections.abc import Sequence
from typing import Literal
from urllib.parse import quote

from embed_middleware.config import DEFAULT_MAX_TOKENS_PER_RESPONSE
from embed_middleware.placeholders import EmbedContext, PlaceholderRules
from embed_middleware.rewrite import PlaceholderSyntax, StreamRewriter

from .report import Row
from .timing import interleave

MB = 1_000_000
TARGET_RATIO = 0.7
Text = Literal["ascii", "utf-8"]
#: About the size of a real Tinybird JWT with one scope; constant so that only rewriting is timed.
TOKEN = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + b"e" * 130 + b"." + b"s" * 43
RESOURCE = "top_airlines"
#: What the issuer allows: the named chart, and the bare token (``TokenIssuer(allow_unscoped=True)``).
ALLOWED: frozenset[str | None] = frozenset({RESOURCE, None})
PLACEHOLDERS = 10
#: (before, placeholder, after): one per form, cycled through by the ten placeholders.
Snippet = tuple[bytes, bytes, bytes]

_AIRPORTS = ("SFO", "JFK", "LHR", "CDG", "NRT", "MAD", "BCN", "AMS", "FRA", "SYD", "GRU", "YYZ")
_CITIES = (
    "San Francisco",
    "New York",
    "London",
    "Paris",
    "Tokyo",
    "Madrid",
    "Barcelona",
    "Amsterdam",
    "Frankfurt",
    "Sydney",
    "Sao Paulo",
    "Toronto",
)
#: The same airports as named on a localised page: accented Latin, Greek, Cyrillic, CJK, Hangul.
_CITIES_UTF8 = (
    "São Paulo",
    "Zürich",
    "Kraków",
    "Reykjavík",
    "東京 成田",
    "北京 首都",
    "서울 인천",
    "Москва",
    "Αθήνα",
    "Málaga",
    "Genève",
    "香港 赤鱲角",
)
_NOTES = (
    "on time: the crew reports a smooth flight and light winds over the ocean",
    "delayed: late arrival of the inbound aircraft, new departure at half past six",
    "boarding at gate twelve, please have your passport ready, priority first",
    "cancelled because of a storm; passengers are rebooked on the next morning flight",
    "departed early, expected at the destination twenty minutes before schedule",
    "diverted to the alternate airport because of fog, buses will take passengers on",
)
#: The same remarks on a localised page: CJK and Hangul (3 bytes a character), Cyrillic and Greek
#: (2), accented Latin, and emoji (4).
_NOTES_UTF8 = (
    "✈️ à l'heure : équipage serein, vent léger au-dessus de l'océan 🌊, arrivée prévue à l'heure",
    "⏱ 遅延、到着便の遅れのため、出発は十八時三十分に変更されました。ご迷惑をおかけします 🙇",
    "🛫 搭乗中、十二番ゲートへお越しください。パスポートをご用意ください 🛂 登机口十二号",
    "❌ 航班取消、由于暴风雨、旅客已改签至明天早上的航班 ⛈️ 결항: 폭풍으로 인해 내일 아침 항공편으로 변경",
    "🛬 Прибыл раньше на двадцать минут — спасибо, что выбрали нас 😊 Αφίχθη νωρίτερα",
    "↪️ umgeleitet wegen Nebel 🌫️ — Busse bringen die Fluggäste weiter; Ausweichflughafen Zürich",
)
_ROW = (
    '<tr data-id="{i}"><td class="origin" title="{ca}">{a}</td><td class="dest" title="{cb}">{b}</td>'
    '<td class="num">{n:,}</td><td class="num">{p:.1f}%</td><td class="note">{note}</td>'
    '<td><a href="/flights/{i}?from={a}&amp;to={b}" title="{a} &rarr; {b}">details</a></td></tr>\n'
)
_HEAD = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Airline report</title>\n'
    "<style>table{border-collapse:collapse}td{padding:2px 6px}.num{text-align:right}</style>\n"
    '</head><body><nav><a href="/">Home</a> | <a href="/reports">Reports</a></nav>\n<table>\n'
)


def _boundary(data: bytes, at: int) -> int:
    """The nearest UTF-8 character boundary at or before ``at`` (ASCII: ``at`` itself)."""
    while 0 < at < len(data) and data[at] & 0xC0 == 0x80:
        at -= 1
    return at


@functools.lru_cache(maxsize=4)
def filler(size: int, seed: int = 1, text: Text = "ascii") -> bytes:
    """About ``size`` bytes (never more) of table-heavy HTML with varied rows (not one row repeated),
    cut at a character boundary; cached, since four rows share each page."""
    rng = random.Random(seed)
    cities, notes = (_CITIES, _NOTES) if text == "ascii" else (_CITIES_UTF8, _NOTES_UTF8)
    parts = [_HEAD]
    length = len(_HEAD)
    index = 0
    while length < size:
        a, b = rng.randrange(len(_AIRPORTS)), rng.randrange(len(_AIRPORTS))
        row = _ROW.format(
            i=index,
            a=_AIRPORTS[a],
            b=_AIRPORTS[b],
            ca=cities[a],
            cb=cities[b],
            n=rng.randrange(100_000),
            p=rng.random() * 100,
            note=rng.choice(notes),
        )
        parts.append(row)
        length += len(row)  # characters, not bytes: enough to pass ``size`` bytes
        index += 1
    encoded = "".join(parts).encode()
    return encoded[: _boundary(encoded, size)]


def request_context(syntax: PlaceholderSyntax) -> EmbedContext:
    """One request's nonce holder, as the middleware leaves it at ``environ["embed.nonce"]``."""
    return EmbedContext(PlaceholderRules(syntax.word, syntax.max_resource_length))


def snippets(context: EmbedContext) -> tuple[Snippet, ...]:
    """The four forms as the app writes them for this request, through the helper."""
    bare, named = context.placeholder(None), context.placeholder(RESOURCE)
    return (
        (b'<iframe src="https://ui.example/embed?token=', bare.encode(), b'"></iframe>\n'),
        (b'<div class="chart" data-token="', named.encode(), b'"></div>\n'),
        # A plain str through Jinja2's autoescape; embed_url percent-encodes with quote(safe="").
        (b"<script>const token = '", html.escape(named).encode(), b"';</script>\n"),
        (b'<a href="/dashboards/view?t=', quote(named, safe="").encode(), b'">open</a>\n'),
    )


class Filler:
    """The exchange's decision for each candidate the engine finds (``Exchange._replacement``): only a
    placeholder carrying this request's nonce, for a resource the issuer allows, within the cap, gets
    its resource's token, one per resource per response. Anything else is left as written (None)."""

    __slots__ = ("_context", "_tokens")

    def __init__(self, context: EmbedContext) -> None:
        self._context = context
        self._tokens: dict[str | None, bytes] = {}

    def __call__(self, name: str | None) -> bytes | None:
        if name is None:
            return None  # no nonce at all: never the app's
        head, colon, tail = name.rpartition(":")
        if not self._context.matches(tail):
            return None
        resource = head if colon else None
        if resource not in ALLOWED:
            return None
        token = self._tokens.get(resource)
        if token is None:
            if len(self._tokens) >= DEFAULT_MAX_TOKENS_PER_RESPONSE:
                return None
            token = self._tokens[resource] = TOKEN  # the exchange mints here: a constant, not timed
        return token


def page(size: int, chunk: int, forms: Sequence[Snippet], text: Text = "ascii") -> bytes:
    """A page of about ``size`` bytes with 10 placeholders spread evenly, each inserted at a character
    boundary, the first beginning 4 bytes before the first chunk boundary."""
    body = filler(size, text=text)
    cuts = [_boundary(body, (i + 1) * size // (PLACEHOLDERS + 1)) for i in range(PLACEHOLDERS)]
    straddle = chunk - len(forms[0][0]) - 4
    cuts[0] = _boundary(body, straddle)
    pad = b" " * (straddle - cuts[0])  # keeps the split exact when the cut had to step back
    pieces: list[bytes] = []
    previous = 0
    for number, cut in enumerate(cuts):
        before, placeholder, after = forms[number % len(forms)]
        pieces += [body[previous:cut], pad if number == 0 else b"", before, placeholder, after]
        previous = cut
    pieces.append(body[previous:])
    return b"".join(pieces)


def stream(syntax: PlaceholderSyntax, context: EmbedContext, chunks: Sequence[bytes]) -> StreamRewriter:
    """Feeds each chunk, then flushes, discarding the output as a server would after writing it."""
    rewriter = StreamRewriter(syntax, Filler(context))
    feed = rewriter.feed
    for chunk in chunks:
        feed(chunk)
    rewriter.flush()
    return rewriter


def replace_own(body: bytes, placeholder: bytes) -> bytes:
    """The timed floor: one ``bytes.replace`` over the whole body of the app's raw named placeholder."""
    return body.replace(placeholder, TOKEN)


def replace_all(body: bytes, forms: Sequence[Snippet]) -> bytes:
    """The correctness reference: one ``bytes.replace`` over the whole body per distinct form."""
    for _, form, _ in forms:
        body = body.replace(form, TOKEN)
    return body


def check_rewrites(
    syntax: PlaceholderSyntax,
    context: EmbedContext,
    forms: Sequence[Snippet],
    body: bytes,
    chunks: Sequence[bytes],
) -> None:
    """Refuses to time two sides that do different work: the ratio would be meaningless."""
    rewriter = StreamRewriter(syntax, Filler(context))
    ours = b"".join([*(rewriter.feed(chunk) for chunk in chunks), rewriter.flush()])
    reference = replace_all(body, forms)
    growth = sum(len(TOKEN) - len(forms[i % len(forms)][1]) for i in range(PLACEHOLDERS))
    if len(reference) != len(body) + growth or b"JWT_TOKEN" in reference:
        raise RuntimeError("the reference missed a placeholder")
    if rewriter.replacements != PLACEHOLDERS or ours != reference:
        raise RuntimeError(
            f"rewriter replaced {rewriter.replacements} of {PLACEHOLDERS} placeholders "
            f"and its output {'equals' if ours == reference else 'differs from'} the reference's"
        )


def measure(size: int, chunk: int, text: Text, rounds: int, target: bool) -> Row:
    syntax = PlaceholderSyntax()
    context = request_context(syntax)
    forms = snippets(context)
    body = page(size, chunk, forms, text)
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    check_rewrites(syntax, context, forms, body, chunks)
    own = forms[1][1]  # the raw named placeholder, nonce included

    def ours() -> None:
        stream(syntax, context, chunks)

    def floor() -> None:
        replace_own(body, own)

    paired = interleave(ours, floor, rounds)
    ratio = 1 / paired.time_ratio  # throughput ratio: same bytes, so the inverse of the time ratio
    kind = "ASCII" if text == "ascii" else "UTF-8"
    return Row(
        benchmark=f"rewrite {size // MB} MB {kind} page, {chunk // 1024} KiB chunks (MB/s)",
        ours=f"{len(body) / paired.ours * 1e9 / MB:,.0f} MB/s",
        floor=f"{len(body) / paired.floor * 1e9 / MB:,.0f} MB/s",
        ratio=f"{ratio:.2f}x",
        target=f">= {TARGET_RATIO:.1f}x" if target else "info",
        met=ratio >= TARGET_RATIO if target else None,
    )


def run(*, quick: bool) -> list[Row]:
    """Eight rows: both kinds of text, 1 MB and 10 MB, 64 KiB (targeted) and 4 KiB (information)."""
    small, large = (30, 10) if quick else (300, 80)
    texts: tuple[Text, ...] = ("ascii", "utf-8")
    rows = [
        measure(size, chunk * 1024, text, small if size == MB else large, target=chunk == 64)
        for text in texts
        for size in (MB, 10 * MB)
        for chunk in (64, 4)
    ]
    filler.cache_clear()  # the pages are ours alone: do not keep 20 MB alive for the rows that follow
    return rows
