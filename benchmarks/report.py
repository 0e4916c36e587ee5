"""The one table the runner prints: each figure beside its floor, the ratio, and the target.

Cells are preformatted strings so that each benchmark picks its own unit (µs, MB/s, KiB). A row
whose ``met`` is None has no target: it is there for information, and says so rather than "yes".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HEADER = ("benchmark", "ours", "floor", "ratio", "target", "met")


@dataclass(frozen=True)
class Row:
    benchmark: str
    ours: str
    floor: str
    ratio: str
    target: str
    met: bool | None

    def cells(self) -> tuple[str, ...]:
        met = "n/a" if self.met is None else "yes" if self.met else "no"
        return (self.benchmark, self.ours, self.floor, self.ratio, self.target, met)


def render(rows: Sequence[Row]) -> str:
    """A plain-text table: readable in a terminal, a CI log, or pasted into a pull request."""
    lines = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(HEADER))]

    def format_line(cells: Sequence[str]) -> str:
        first, *rest = cells
        padded = [first.ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(rest, widths[1:], strict=True)]
        return " | ".join(padded).rstrip()

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([format_line(HEADER), rule, *(format_line(line) for line in lines[1:])])
