"""A pytest plugin: the reliability figures the issues ask every full test run to print.

The bad-input count comes from the run's own passed tests; the load and soak figures from the files
those suites write under build/ (only files written by this run: an older one says nothing about it).
Registered from tests/conftest.py (``pytest_plugins``), so `make test` prints them whatever the
verbosity; it lives here, beside the benchmark report, because it reports figures rather than tests.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

_STARTED = time.time()
_BUILD = Path(__file__).resolve().parent.parent / "build"


def _fresh_figures(name: str) -> dict[str, Any]:
    """A figures file written by this run (an older one says nothing about this run)."""
    path = _BUILD / name
    if not path.exists() or path.stat().st_mtime < _STARTED:
        return {}
    figures: dict[str, Any] = json.loads(path.read_text())
    return figures


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The reliability figures the issues ask the test run to print, whatever pytest's verbosity."""
    lines: list[str] = []
    passed = [report.nodeid for report in terminalreporter.stats.get("passed", [])]
    for adapter in ("wsgi", "asgi"):
        count = sum(
            1 for n in passed if "test_bad_input.py::test_bad_input[" in n and n.endswith(f"-{adapter}]")
        )
        if count:
            lines.append(f"bad-input cases passed through {adapter.upper()}: {count}")
    for name, run in _fresh_figures("isolation-figures.json").get("adapters", {}).items():
        lines.append(
            f"isolation under load, {name}: {run['requests']} requests, {run['tenants']} tenants, "
            f"{run['connections']} connections, {run['tokens_checked']} tokens checked, "
            f"leaks/requests {run['leaks']}/{run['requests']}, errors {run['errors']}, "
            f"user texts checked {run.get('attacker_texts_checked', 0)}, "
            f"tokens in them {run.get('tokens_at_attacker', 0)}"
        )
    for name, run in _fresh_figures("soak-figures.json").items():
        if isinstance(run, dict) and "growth_kib" in run:
            lines.append(
                f"soak, {name}: {run['requests']} requests, RSS {run['rss_kib_at_10k']} KiB at 10k -> "
                f"{run['rss_kib_at_100k']} KiB at 100k, growth {run['growth_kib']} KiB (limit 5 MB)"
            )
    if lines:
        terminalreporter.write_sep("=", "reliability figures")
        for line in lines:
            terminalreporter.write_line(line)
