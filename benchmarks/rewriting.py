"""Rows 2-4: throughput of ``StreamRewriter`` over a realistic page, against ``bytes.replace``.

``bytes.replace`` over the whole body is the fastest a rewrite can be in Python: one C pass, no
chunk boundaries, one spelling. The rewriter must find four families of spellings, named and bare,
across chunk boundaries, holding back at most a placeholder's length; the ratio says what that
costs. The 4 KiB row shows the per-chunk overhead a server with small writes would pay.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from embed_middleware import PlaceholderSyntax, StreamRewriter

from .report import Row
from .timing import interleave

MB = 1_000_000
TARGET_RATIO = 0.5
#: About the size of a real Tinybird JWT with one scope; constant so that only rewriting is timed.
TOKEN = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + b"e" * 130 + b"." + b"s" * 43
#: One snippet per placeholder, cycling through every family: raw bare and named, HTML-escaped
#: (what Jinja2 autoescape makes of it) and percent-encoded (what ``url_for`` makes of it).
SNIPPETS = (
    (b'<iframe src="https://ui.example/embed?token=', b"<JWT_TOKEN>", b'"></iframe>\n'),
    (b'<div class="chart" data-token="', b"<JWT_TOKEN:top_airlines>", b'"></div>\n'),
    (b"<script>const token = '", b"&lt;JWT_TOKEN:kpis&gt;", b"';</script>\n"),
    (b'<a href="/dashboards/view?t=', b"%3CJWT_TOKEN%3E", b'">open</a>\n'),
)
PLACEHOLDERS = 10

_AIRPORTS = ("SFO", "JFK", "LHR", "CDG", "NRT", "MAD", "BCN", "AMS", "FRA", "SYD", "GRU", "YYZ")
_ROW = (
    '<tr data-id="{i}"><td class="origin">{a}</td><td class="dest">{b}</td>'
    '<td class="num">{n:,}</td><td class="num">{p:.1f}%</td>'
    '<td><a href="/flights/{i}?from={a}&amp;to={b}" title="{a} &rarr; {b}">details</a></td></tr>\n'
)
_HEAD = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Airline report</title>\n'
    "<style>table{border-collapse:collapse}td{padding:2px 6px}.num{text-align:right}</style>\n"
    '</head><body><nav><a href="/">Home</a> | <a href="/reports">Reports</a></nav>\n<table>\n'
)


def filler(size: int, seed: int = 1) -> bytes:
    """``size`` bytes of table-heavy HTML with varied rows (not one row repeated)."""
    rng = random.Random(seed)
    parts = [_HEAD]
    length = len(_HEAD)
    index = 0
    while length < size:
        row = _ROW.format(
            i=index,
            a=rng.choice(_AIRPORTS),
            b=rng.choice(_AIRPORTS),
            n=rng.randrange(100_000),
            p=rng.random() * 100,
        )
        parts.append(row)
        length += len(row)
        index += 1
    return "".join(parts).encode()[:size]


def page(size: int, chunk: int) -> tuple[bytes, int]:
    """A page of about ``size`` bytes with 10 placeholders spread evenly, the first straddling a
    chunk boundary; also returns the length the rewritten page must have.
    """
    body = filler(size)
    cuts = [(i + 1) * size // (PLACEHOLDERS + 1) for i in range(PLACEHOLDERS)]
    cuts[0] = chunk - len(SNIPPETS[0][0]) - 4  # the placeholder begins 4 bytes before the boundary
    pieces: list[bytes] = []
    previous = 0
    growth = 0
    for number, cut in enumerate(cuts):
        before, placeholder, after = SNIPPETS[number % len(SNIPPETS)]
        pieces += [body[previous:cut], before, placeholder, after]
        growth += len(TOKEN) - len(placeholder)
        previous = cut
    pieces.append(body[previous:])
    rewritten = b"".join(pieces)
    return rewritten, len(rewritten) + growth


def _replace(resource: str | None) -> bytes:
    return TOKEN


def stream(syntax: PlaceholderSyntax, chunks: Sequence[bytes]) -> StreamRewriter:
    """Feeds each chunk, then flushes, discarding the output as a server would after writing it."""
    rewriter = StreamRewriter(syntax, _replace)
    feed = rewriter.feed
    for chunk in chunks:
        feed(chunk)
    rewriter.flush()
    return rewriter


def check_rewrites(syntax: PlaceholderSyntax, chunks: Sequence[bytes], expected_length: int) -> None:
    """Refuses to time a rewriter that missed a placeholder: the floor's speed would be meaningless."""
    rewriter = StreamRewriter(syntax, _replace)
    out = b"".join([*(rewriter.feed(chunk) for chunk in chunks), rewriter.flush()])
    if rewriter.replacements != PLACEHOLDERS or len(out) != expected_length or b"JWT_TOKEN" in out:
        raise RuntimeError(f"rewriter replaced {rewriter.replacements} of {PLACEHOLDERS} placeholders")


def measure(size: int, chunk: int, rounds: int, target: bool) -> Row:
    body, expected_length = page(size, chunk)
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    syntax = PlaceholderSyntax()
    check_rewrites(syntax, chunks, expected_length)

    def ours() -> None:
        stream(syntax, chunks)

    def floor() -> None:
        body.replace(b"<JWT_TOKEN>", TOKEN)

    paired = interleave(ours, floor, rounds)
    ratio = 1 / paired.time_ratio  # throughput ratio: same bytes, so the inverse of the time ratio
    label = f"{size // MB} MB" if size >= MB else f"{size // 1024} KiB"
    return Row(
        benchmark=f"rewrite {label} page, {chunk // 1024} KiB chunks (MB/s)",
        ours=f"{len(body) / paired.ours * 1e9 / MB:,.0f} MB/s",
        floor=f"{len(body) / paired.floor * 1e9 / MB:,.0f} MB/s",
        ratio=f"{ratio:.2f}x",
        target=f">= {TARGET_RATIO:.1f}x" if target else "info",
        met=ratio >= TARGET_RATIO if target else None,
    )


def run(*, quick: bool) -> list[Row]:
    small, large = (16, 6) if quick else (200, 60)
    return [
        measure(1 * MB, 64 * 1024, small, target=True),
        measure(10 * MB, 64 * 1024, large, target=True),
        measure(10 * MB, 4 * 1024, large, target=False),
    ]
