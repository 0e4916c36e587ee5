"""`make matrix`: the test suite against the oldest and newest supported PyJWT, Werkzeug and asgiref,
on Python 3.11 and on the newest CPython this machine has.

Each combination gets its own virtualenv in .venv-matrix/<name>, reused between runs (MATRIX_FRESH=1
recreates them). The table of versions actually installed (read back with importlib.metadata inside
each venv), results and test counts is printed and written to build/matrix.txt; the pytest output of
each combination goes to build/matrix/<name>.log. Exits non-zero if any combination fails.

Pythons are looked for as python3.N on PATH, in /usr/bin and /usr/local/bin and in pyenv's versions
directory (final CPython releases with the GIL only, >= 3.11). MATRIX_PYTHONS="/path/a /path/b"
replaces the search. MATRIX_PYTEST_ARGS adds arguments to every pytest run (e.g. "-k 'not slow'").

Only the standard library is used: this runs under whatever `python3` the Makefile finds.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / ".venv-matrix"
BUILD = ROOT / "build"
LOGS = BUILD / "matrix"
TABLE = BUILD / "matrix.txt"

OLDEST_PYTHON = (3, 11)

# The floors of pyproject.toml's dependencies, pinned exactly. Keep in step with pyproject.toml.
OLDEST = ["pyjwt[crypto]==2.8.0", "werkzeug==3.0.0", "asgiref==3.7.0"]
# Newest: the same distributions, upgraded to the latest release the index has.
NEWEST = ["pyjwt[crypto]", "werkzeug", "asgiref"]
REPORTED = ["pyjwt", "werkzeug", "asgiref", "cryptography"]
# The test extra's frameworks and servers, resolved to versions that accept the pins: listed under the table.
ALSO = ["flask", "django", "fastapi", "starlette", "uvicorn", "gunicorn", "redis"]

# Left to `make test` (run once, in .venv): minutes each, and about throughput, memory and a real
# browser rather than about which PyJWT/Werkzeug/asgiref is installed. Every other test runs here.
EXCLUDED = {
    "tests/system/test_browser.py": "Chromium driven by Playwright",
    "tests/system/test_browser_injection.py": "Chromium driven by Playwright",
    "tests/system/test_docs_site.py": "the docs site, built and opened in Chromium",
    "tests/system/test_isolation_under_load.py": "tens of thousands of requests through real servers",
    "tests/system/test_soak.py": "100,000 requests per adapter, resident memory sampled",
    "tests/system/interop": "a real Superset, run once by `make interop`",
}

PROBE = (
    "import sys, sysconfig, ensurepip, venv; ensurepip.version();"
    "print(sys.implementation.name, *sys.version_info[:3], sys.version_info.releaselevel,"
    " sysconfig.get_config_var('Py_GIL_DISABLED') or 0, sys.executable)"
)


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: tuple[int, int, int]

    @property
    def label(self) -> str:
        return ".".join(map(str, self.version))


@dataclass
class Outcome:
    name: str
    python: str
    versions: dict[str, str] = field(default_factory=dict)
    result: str = "not run"
    counts: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.result == "pass"


def probe(path: str) -> Interpreter | None:
    try:
        out = (
            subprocess.run([path, "-c", PROBE], capture_output=True, text=True, timeout=30, check=True)
            .stdout.strip()
            .split(maxsplit=6)
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) != 7 or out[0] != "cpython" or out[4] != "final" or out[5] != "0":
        return None
    version = (int(out[1]), int(out[2]), int(out[3]))
    # sys.executable: the real binary, also when `path` is a pyenv shim.
    return Interpreter(out[6], version) if version[:2] >= OLDEST_PYTHON else None


def candidates() -> list[str]:
    found: list[str] = []
    for minor in range(OLDEST_PYTHON[1], 30):
        name = f"python3.{minor}"
        for where in (shutil.which(name), f"/usr/local/bin/{name}", f"/usr/bin/{name}"):
            if where and os.access(where, os.X_OK):
                found.append(where)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found += sorted(str(p) for p in pyenv_root.glob("versions/*/bin/python3") if os.access(p, os.X_OK))
    return found


def find_pythons() -> list[Interpreter]:
    """Python 3.11 and the newest CPython found (one entry if that is 3.11 itself)."""
    override = os.environ.get("MATRIX_PYTHONS", "").split()
    seen: dict[str, Interpreter] = {}
    for path in override or candidates():
        if interp := probe(path):
            seen.setdefault(os.path.realpath(interp.path), interp)
    found = sorted(seen.values(), key=lambda i: i.version)
    if override:
        return found
    print("Pythons found:", ", ".join(f"{i.label} ({i.path})" for i in found) or "none", flush=True)
    oldest = [i for i in found if i.version[:2] == OLDEST_PYTHON]
    if not oldest:
        sys.exit(f"matrix: no CPython {OLDEST_PYTHON[0]}.{OLDEST_PYTHON[1]} found (set MATRIX_PYTHONS)")
    chosen = [oldest[0]]  # the oldest 3.11 patch release found: the floor, not what `make test` uses
    if found[-1].version[:2] > OLDEST_PYTHON:
        chosen.append(found[-1])
    return chosen


def run(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Run cmd in the checkout, its output appended to log; the exit status."""
    with open(log, "a") as sink:
        sink.write(f"$ {shlex.join(cmd)}\n")
        sink.flush()
        return subprocess.run(cmd, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT, env=env).returncode


def installed_versions(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, sys\n"
        f"for name in {[*REPORTED, *ALSO]!r}:\n"
        "    try: print(name, m.version(name))\n"
        "    except m.PackageNotFoundError: print(name, '-')\n"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def junit_counts(xml: Path) -> tuple[int, int, int, int]:
    """(passed, failed, errors, skipped) from pytest's junit XML."""
    root = ET.parse(xml).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    tests, failures, errors, skipped = (
        int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")
    )
    return tests - failures - errors - skipped, failures, errors, skipped


def run_combination(interp: Interpreter, deps: str) -> Outcome:
    name = f"py{interp.version[0]}.{interp.version[1]}-{deps}"
    outcome = Outcome(name=name, python=interp.label)
    started = time.monotonic()
    venv = VENVS / name
    python = venv / "bin" / "python"
    log = LOGS / f"{name}.log"
    log.unlink(missing_ok=True)
    print(f"== {name}: Python {interp.label} ({interp.path}), {deps} dependencies", flush=True)

    marker = venv / ".interpreter"
    if (
        os.environ.get("MATRIX_FRESH")
        or not python.exists()
        or (marker.exists() and marker.read_text() != interp.path)
    ):
        shutil.rmtree(venv, ignore_errors=True)
        if run([interp.path, "-m", "venv", str(venv)], log):
            outcome.result = "FAIL (venv)"
            return outcome
        marker.write_text(interp.path)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # The test tools are a PEP 735 dependency group, which pip installs from 25.1 on.
    upgrade_pip = [*pip, "--upgrade", "pip>=25.1"]
    if deps == "oldest":
        install = [*pip, "-e", ".", "--group", "test", *OLDEST]
    else:
        install = [*pip, "--upgrade", "-e", ".", "--group", "test", *NEWEST]
    # One resolution for the project, its test group and the pins, so the test group's own packages
    # (Flask, Django) come in versions that accept the pinned Werkzeug and asgiref.
    if run(upgrade_pip, log) or run(install, log) or run([str(python), "-m", "pip", "check"], log):
        outcome.result = "FAIL (install)"
        outcome.versions = installed_versions(python)
        outcome.seconds = time.monotonic() - started
        return outcome
    outcome.versions = installed_versions(python)
    print("   installed:", ", ".join(f"{k} {outcome.versions.get(k, '?')}" for k in REPORTED), flush=True)

    xml = LOGS / f"{name}.xml"
    xml.unlink(missing_ok=True)
    extra = shlex.split(os.environ.get("MATRIX_PYTEST_ARGS", ""))
    ignore = [f"--ignore={path}" for path in EXCLUDED]
    cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=5", f"--junitxml={xml}"]
    cmd += [*ignore, *extra]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("VIRTUAL_ENV", None)
    status = run(cmd, log, env=env)
    outcome.seconds = time.monotonic() - started
    if xml.exists():
        passed, failed, errors, skipped = junit_counts(xml)
        outcome.counts = f"{passed} passed, {failed} failed, {errors} errors, {skipped} skipped"
    outcome.result = "pass" if status == 0 else f"FAIL (pytest exit {status})"
    print(
        f"   {outcome.result}: {outcome.counts} in {outcome.seconds:.0f} s (log: {log.relative_to(ROOT)})",
        flush=True,
    )
    return outcome


def table(outcomes: list[Outcome]) -> str:
    header = ["combination", "python", *REPORTED, "result", "tests", "time"]
    rows = [
        [
            o.name,
            o.python,
            *(o.versions.get(k, "?") for k in REPORTED),
            o.result,
            o.counts,
            f"{o.seconds:.0f} s",
        ]
        for o in outcomes
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def main() -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    pythons = find_pythons()
    outcomes = [run_combination(interp, deps) for interp in pythons for deps in ("oldest", "newest")]
    text = table(outcomes) + "\n"
    for o in outcomes:
        text += f"{o.name}: " + ", ".join(f"{k} {o.versions.get(k, '?')}" for k in ALSO) + "\n"
    text += f"\noldest pins: {' '.join(OLDEST)}; newest: latest on the index at run time.\n"
    text += f"all tests but {', '.join(EXCLUDED)} (run by `make test` only).\n"
    text += f"total {time.monotonic() - started:.0f} s; logs in build/matrix/\n"
    TABLE.write_text(text)
    print("\n" + text, end="")
    failed = [o.name for o in outcomes if not o.ok]
    if failed:
        print(f"matrix: FAILED: {', '.join(failed)} (see build/matrix/<name>.log)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
