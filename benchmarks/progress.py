"""Progress lines on stderr while ``make bench`` runs, so a ten-minute run is never silent.

One line when a row (or group of rows) starts and one when it ends, each with the time since the run
began; stdout stays the table alone, so ``python -m benchmarks > table.txt`` still works.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import TextIO


class Step:
    """What a step may add to its closing line (a ratio, a count), set inside the ``with`` block."""

    def __init__(self) -> None:
        self.result = ""


class Progress:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._quiet = quiet
        self._started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def say(self, message: str) -> None:
        if not self._quiet:
            print(f"[{self._clock()}] {message}", file=self._stream, flush=True)

    def _clock(self) -> str:
        minutes, seconds = divmod(int(self.elapsed), 60)
        return f"{minutes:2d}:{seconds:02d}"

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[Step]:
        """``label ...`` now, ``label: done in N s[, result]`` (or ``failed``) when the block ends."""
        self.say(f"{label} ...")
        began = time.perf_counter()
        step = Step()
        try:
            yield step
        except BaseException:
            self.say(f"{label}: failed after {time.perf_counter() - began:.1f} s")
            raise
        result = f": {step.result}" if step.result else ""
        self.say(f"{label}: done in {time.perf_counter() - began:.1f} s{result}")
