"""The table as files: Markdown for pull requests and notes, a chart for the README and the docs site.

The chart draws each row that has one ratio and one target as a bar on a logarithmic axis (ratios
run from 0.01x to tens of x), its target as a tick, green when met and red when missed; a row with
several ratios or none is left out (it stays in the table). It is written as SVG by hand (a few dozen
lines of markup, no plotting library to install), then rasterised to PNG by the Chromium the browser
row drives already (Playwright), since the docs site shows ``docs/bench.png``.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path

from .browser import CHROMIUM, CHROMIUM_ARGS
from .report import HEADER, Row

_RATIO = re.compile(r"^\*{0,2}(\d+(?:\.\d+)?)x\*{0,2}$")
_TARGET = re.compile(r"^(<=|>=|<|>) ?(\d+(?:\.\d+)?)x$")
#: The axis: 10^-2 .. 10^2 times the floor.
_LOW, _HIGH = -2.0, 2.0
_LABEL_WIDTH, _PLOT_WIDTH, _BAR, _GAP, _TOP = 560, 420, 14, 6, 40


def markdown(rows: Sequence[Row], notes: Sequence[str] = ()) -> str:
    """A GitHub table of the rows, then the notes as a list."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = [line(HEADER), "|" + "---|" * len(HEADER), *(line(row.cells()) for row in rows)]
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def charted(row: Row) -> tuple[float, str, float] | None:
    """``(ratio, comparison, target)`` when the row has one numeric ratio and one numeric target."""
    ratio, target = _RATIO.match(row.ratio.strip()), _TARGET.match(row.target.strip())
    if ratio is None or target is None:
        return None
    return float(ratio.group(1)), target.group(1), float(target.group(2))


def _x(value: float) -> float:
    exponent = min(max(math.log10(max(value, 10.0**_LOW)), _LOW), _HIGH)  # 0.00x sits on the axis
    return _LABEL_WIDTH + (exponent - _LOW) / (_HIGH - _LOW) * _PLOT_WIDTH


def svg(rows: Sequence[Row], title: str) -> str:
    """The chart of the rows that have one ratio and one target."""
    drawn = [(row, found) for row in rows if (found := charted(row)) is not None]
    height = _TOP + len(drawn) * (_BAR + _GAP) + 40
    width = _LABEL_WIDTH + _PLOT_WIDTH + 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="8" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
        '<text x="8" y="32" fill="#555">ratio to each row\'s floor (log scale); tick = target; '
        "green met, red missed</text>",
    ]
    bottom = height - 30
    for exponent in range(int(_LOW), int(_HIGH) + 1):
        x = _x(10.0**exponent)
        parts.append(f'<line x1="{x:.1f}" y1="{_TOP - 4}" x2="{x:.1f}" y2="{bottom}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{10.0**exponent:g}x</text>')
    for index, (row, (ratio, comparison, target)) in enumerate(drawn):
        y = _TOP + index * (_BAR + _GAP)
        colour = "#2e7d32" if row.met else "#c62828" if row.met is False else "#9e9e9e"
        label = row.benchmark if len(row.benchmark) <= 92 else row.benchmark[:89] + "..."
        start, end = _x(10.0**_LOW), _x(ratio)
        tick = _x(target)
        parts += [
            f'<text x="{_LABEL_WIDTH - 6}" y="{y + _BAR - 3}" text-anchor="end">{escape(label)}</text>',
            f'<rect x="{start:.1f}" y="{y}" width="{max(end - start, 1):.1f}" height="{_BAR}" '
            f'fill="{colour}"/>',
            f'<line x1="{tick:.1f}" y1="{y - 2}" x2="{tick:.1f}" y2="{y + _BAR + 2}" stroke="black" '
            'stroke-width="2"/>',
            f'<text x="{max(end, tick) + 5:.1f}" y="{y + _BAR - 3}">{ratio:g}x '
            f"({escape(comparison)} {target:g}x)</text>",
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def rasterise(picture: str, path: Path) -> str | None:
    """Writes ``picture`` (SVG markup) to ``path`` as a PNG at twice its size, through headless
    Chromium; returns why it could not (no Playwright, no Chromium, a launch failure), or None."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright not installed (pip install 'embed_middleware[bench]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium not found at {CHROMIUM}"
    from playwright.sync_api import Error, sync_playwright  # type: ignore[import-not-found, unused-ignore]

    size = re.search(r'width="(\d+)" height="(\d+)"', picture)
    width, height = (int(size.group(1)), int(size.group(2))) if size else (1100, 900)
    args = [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args, timeout=60_000)
            try:
                page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=2)
                page.set_content(f'<html><body style="margin:0">{picture}</body></html>')
                page.locator("svg").screenshot(path=str(path))
            finally:
                browser.close()
    except Error as error:
        return f"Chromium failed: {str(error).splitlines()[0]}"
    return None
