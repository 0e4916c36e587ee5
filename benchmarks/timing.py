"""Side-by-side timing that survives a shared, noisy machine.

The contender and its floor run in the same loop, alternating which goes first, so a burst of load
from a neighbour slows both instead of only one. Each round yields a paired ratio measured under
the same conditions; the median of those ratios (and of the raw times) ignores the rounds a
neighbour spoiled, where a mean would absorb them.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns


@dataclass(frozen=True)
class Paired:
    """Per-round wall times, in nanoseconds, of one call of each side."""

    ours_ns: tuple[int, ...]
    floor_ns: tuple[int, ...]

    @property
    def ours(self) -> float:
        return statistics.median(self.ours_ns)

    @property
    def floor(self) -> float:
        return statistics.median(self.floor_ns)

    @property
    def time_ratio(self) -> float:
        """Median over rounds of ours/floor time: above 1 means ours is slower."""
        return statistics.median(o / f for o, f in zip(self.ours_ns, self.floor_ns, strict=True))


def interleave(ours: Callable[[], object], floor: Callable[[], object], rounds: int, warmup: int = 2) -> Paired:
    """Times ``rounds`` calls of each side, alternately first, after ``warmup`` untimed rounds.

    Warm-up rounds fill caches, specialise the interpreter's bytecode and let the allocator grow to
    its working size, none of which a long-running server pays per request.
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    for _ in range(warmup):
        ours()
        floor()
    gc.collect()
    ours_ns: list[int] = []
    floor_ns: list[int] = []
    for index in range(rounds):
        order = ((ours, ours_ns), (floor, floor_ns))
        for function, sink in order if index % 2 == 0 else reversed(order):
            start = perf_counter_ns()
            function()
            sink.append(perf_counter_ns() - start)
    return Paired(tuple(ours_ns), tuple(floor_ns))
