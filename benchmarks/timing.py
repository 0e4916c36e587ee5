"""Side-by-side timing that survives a shared, noisy machine.

The contender and its floor run in the same loop, so a burst of load from a neighbour slows both
instead of only one. Which goes first alternates, because order matters: a floor that allocates a
10 MB result runs faster straight after its own previous run (the allocator hands back warm pages)
than after the contender. Statistics are therefore taken over pairs of consecutive rounds, one of
each order, which cancels that bias; medians over pairs ignore the pairs a neighbour spoiled,
where a mean would absorb them.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter_ns


@dataclass(frozen=True)
class Paired:
    """Per-round wall times, in nanoseconds, of one call of each side; an even number of rounds."""

    ours_ns: tuple[int, ...]
    floor_ns: tuple[int, ...]

    def _pairs(self, times: tuple[int, ...]) -> list[float]:
        return [(times[i] + times[i + 1]) / 2 for i in range(0, len(times) - 1, 2)]

    @property
    def ours(self) -> float:
        """Median over pairs of rounds of ours' mean time."""
        return statistics.median(self._pairs(self.ours_ns))

    @property
    def floor(self) -> float:
        return statistics.median(self._pairs(self.floor_ns))

    @property
    def time_ratio(self) -> float:
        """Median over pairs of rounds of ours/floor time: above 1 means ours is slower."""
        pairs = zip(self._pairs(self.ours_ns), self._pairs(self.floor_ns), strict=True)
        return statistics.median(ours / floor for ours, floor in pairs)


def interleave(
    ours: Callable[[], object],
    floor: Callable[[], object],
    rounds: int,
    warmup: int = 2,
    clock: Callable[[], int] = perf_counter_ns,
) -> Paired:
    """Times ``rounds`` (rounded up to even) calls of each side, alternately first, after warm-up.

    Warm-up rounds fill caches, specialise the interpreter's bytecode and let the allocator grow to
    its working size, none of which a long-running server pays per request. ``clock`` is wall time by
    default; rows that report CPU per response pass ``time.thread_time_ns``, which a neighbour's load
    does not inflate (the work is all in this thread: no I/O, no worker threads).
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    for _ in range(warmup):
        ours()
        floor()
    gc.collect()
    ours_ns: list[int] = []
    floor_ns: list[int] = []
    for index in range(rounds + rounds % 2):
        order = ((ours, ours_ns), (floor, floor_ns))
        for function, sink in order if index % 2 == 0 else reversed(order):
            start = clock()
            function()
            sink.append(clock() - start)
    return Paired(tuple(ours_ns), tuple(floor_ns))


def rotate(
    sides: Sequence[Callable[[], object]],
    rounds: int,
    warmup: int = 2,
    clock: Callable[[], int] = perf_counter_ns,
) -> list[list[int]]:
    """Per-round times, in nanoseconds, of each of ``sides``: every round runs each side once, the
    order rotating from round to round so that no side always runs first or right after another.

    The in-process rows time three things per round (the raw app, the wrapped app and the mint floor)
    and take a ratio within each round, so a neighbour's burst of load spoils one round, not a side.
    They pass ``time.process_time_ns``: CPU time of every thread of this process (a plain resolver
    runs in a worker thread), which the scheduler's preemption by a neighbour does not inflate.
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    for _ in range(warmup):
        for side in sides:
            side()
    gc.collect()
    times: list[list[int]] = [[] for _ in sides]
    count = len(sides)
    for index in range(rounds):
        for step in range(count):
            which = (index + step) % count
            start = clock()
            sides[which]()
            times[which].append(clock() - start)
    return times
