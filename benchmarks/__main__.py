"""``python -m benchmarks [--quick]``: one table, every figure measured beside its floor in this run.

Absolute numbers from a shared machine mean little; ratios to a floor measured in the same run,
under the same load, do. So each row times the middleware against the simplest thing that does
the same job (a hand-rolled JWT, ``bytes.replace``, the app without the middleware) and states
the target the ratio must meet. The injection rows (pages full of placeholders users wrote) state
instead how many tokens a response may mint. The exit status is 1 when a target is missed, for CI.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

from . import algorithms, browser, injection, memory, minting, rewriting, serving
from .report import Row, render

#: The groups of rows, in the order the table prints them.
GROUPS = ("minting", "rewriting", "injection", "memory", "serving", "browser")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds, 64 MiB memory run, shorter wrk runs"
    )
    parser.add_argument(
        "--only", choices=GROUPS, action="append", help="run only these groups of rows (repeatable)"
    )
    arguments = parser.parse_args(argv)
    groups = arguments.only or GROUPS
    quick = arguments.quick
    started = time.perf_counter()
    rows: list[Row] = []
    notes: list[str] = []
    if "minting" in groups:
        rows.extend(minting.run_all(quick=quick))
        rows += algorithms.run(quick=quick)
    if "rewriting" in groups:
        rows += rewriting.run(quick=quick)
    if "injection" in groups:
        rows += injection.run(quick=quick)
    if "memory" in groups:
        rows += memory.run(quick=quick)
    if "serving" in groups:
        served, notes = serving.run(quick=quick)
        rows += served
    if "browser" in groups:
        rows += browser.run(quick=quick)
    print(render(rows))
    elapsed = time.perf_counter() - started
    kind = "quick" if arguments.quick else "full"
    print(
        f"\n{kind} run, {elapsed:.0f} s, Python {platform.python_version()}; "
        "medians of interleaved rounds, ratio = median of per-pair ratios; "
        "both tokens verified with jwt.decode; every app placeholder checked replaced, "
        "every user-written one checked left as written."
    )
    for note in notes:
        print(note)
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
