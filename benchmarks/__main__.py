"""``python -m benchmarks [--quick] [--only GROUP]``: one table, every figure measured beside its floor in
this run.

Absolute numbers from a shared machine mean little; ratios to a floor measured in the same run,
under the same load, do. So each row times the middleware against the simplest thing that does
the same job (a hand-rolled JWT, ``bytes.replace``, the app without the middleware) and states
the target the ratio must meet. The injection rows (pages full of placeholders users wrote) state
instead how many tokens a response may mint. The exit status is 1 when a target is missed, for CI.

Progress goes to stderr, a line as each row starts and ends; stdout is the table. The table is also
written as Markdown (``build/bench.md``) and as a chart (``build/bench.svg``, and ``build/bench.png``
where Chromium runs); a full run (every group, not ``--quick``) copies the PNG to ``docs/bench.png``,
the one the docs site and the README show.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import algorithms, browser, chart, injection, inprocess, memory, minting, rewriting, serving
from .progress import Progress
from .report import Row, render

#: The groups of rows, in the order the table prints them.
GROUPS = ("minting", "inprocess", "rewriting", "injection", "memory", "serving", "browser")
ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = ROOT / "build" / "bench.md"
CHART = ROOT / "build" / "bench.svg"
CHART_PNG = ROOT / "build" / "bench.png"
#: The image the docs site's performance page shows (docs/hooks.py) and the README may link.
README_CHART = ROOT / "docs" / "bench.png"


def _group(progress: Progress, name: str, run: Callable[[], list[Row]]) -> list[Row]:
    with progress.step(name):
        return run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds, 64 MiB memory run, shorter wrk runs"
    )
    parser.add_argument(
        "--only", choices=GROUPS, action="append", help="run only these groups of rows (repeatable)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    arguments = parser.parse_args(argv)
    groups = arguments.only or GROUPS
    quick = arguments.quick
    progress = Progress(quiet=arguments.quiet)
    progress.say(f"running {', '.join(g for g in GROUPS if g in groups)}{' (quick)' if quick else ''}")
    rows: list[Row] = []
    notes: list[str] = []
    if "minting" in groups:
        rows += _group(progress, "minting HS256", lambda: minting.run_all(quick=quick))
        rows += _group(progress, "minting RS256, PS256, ES256, EdDSA", lambda: algorithms.run(quick=quick))
    if "inprocess" in groups:
        rows += inprocess.run(quick=quick, progress=progress)
    if "rewriting" in groups:
        rows += _group(progress, "rewriting", lambda: rewriting.run(quick=quick))
    if "injection" in groups:
        rows += _group(progress, "injection", lambda: injection.run(quick=quick))
    if "memory" in groups:
        rows += _group(progress, "memory", lambda: memory.run(quick=quick))
    if "serving" in groups:
        served, notes = serving.run(quick=quick, progress=progress)
        rows += served
    if "browser" in groups:
        rows += _group(progress, "browser", lambda: browser.run(quick=quick))
    print(render(rows))
    kind = "quick" if arguments.quick else "full"
    if arguments.only:
        kind += f" run of {', '.join(g for g in GROUPS if g in groups)}"
    else:
        kind += " run"
    summary = (
        f"{kind}, {progress.elapsed:.0f} s, Python {platform.python_version()}; "
        "medians of interleaved rounds, ratio = median of per-pair ratios; "
        "both tokens verified with jwt.decode; every app placeholder checked replaced, "
        "every user-written one checked left as written."
    )
    print(f"\n{summary}")
    for note in notes:
        print(note)
    chart.write(MARKDOWN, chart.markdown(rows, [summary, *notes]))
    title = f"make bench ({kind}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')})"
    picture = chart.svg(rows, title)
    chart.write(CHART, picture)
    written = [MARKDOWN, CHART]
    with progress.step("chart as PNG (headless Chromium)") as step:
        why_not = chart.rasterise(picture, CHART_PNG)
        step.result = why_not or ""
    if why_not is None:
        written.append(CHART_PNG)
    if not arguments.only and not quick:  # only a full run replaces the docs' chart
        if why_not is None:
            README_CHART.write_bytes(CHART_PNG.read_bytes())
            written.append(README_CHART)
        else:
            progress.say(f"{README_CHART.relative_to(ROOT)} left as it was: {why_not}")
    progress.say("wrote " + ", ".join(str(path.relative_to(ROOT)) for path in written))
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
