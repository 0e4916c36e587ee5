"""`make compat`: the compatibility matrix (tests/system/compat) in its own virtualenv, its table written
to build/compat.md and into the docs site's "Servers and frameworks" page (docs/servers.md).

    python scripts/compat.py            # install .venv-compat when its pins changed, run, render
    python scripts/compat.py render     # only render build/compat.json again

The frameworks and servers are pinned in tests/system/compat/requirements.txt and installed with uv into
.venv-compat (beside an editable install of this package), so `make test`'s .venv stays lean. The
table lists every cell: "works", the checks that failed, or why the framework itself cannot run on
that server. Exits non-zero when any cell fails. Only the standard library is used here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-compat"
SUITE = ROOT / "tests" / "system" / "compat"
REQUIREMENTS = SUITE / "requirements.txt"
RESULTS = ROOT / "build" / "compat.json"
TABLE = ROOT / "build" / "compat.md"
#: The page whose table sits between BEGIN and END (it was README.md's section before the docs site).
README = ROOT / "docs" / "servers.md"
BEGIN = "<!-- compat:begin (written by `make compat` from build/compat.json; edit scripts/compat.py) -->"
END = "<!-- compat:end -->"
CHECKS = "page, stream, plain, json, endpoint, head, disconnect, log"


def _uv() -> str:
    found = shutil.which("uv", path=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        sys.exit("uv is needed: `make compat` installs it into .venv (pip install uv)")
    return found


def install() -> None:
    """(Re)creates .venv-compat when the pins or pyproject.toml changed since it was made."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = VENV / ".installed"
    if stamp.exists() and stamp.read_text() == digest:
        return
    uv = _uv()
    subprocess.run([uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(VENV)], check=True)
    python = str(VENV / "bin" / "python")
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", python, "-r", str(REQUIREMENTS), "-e", str(ROOT)],
        check=True,
    )
    stamp.write_text(digest)


def run() -> int:
    env = {**os.environ, "EMBED_COMPAT": "1", "COMPAT_RESULTS": str(RESULTS)}
    command = [str(VENV / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SUITE)]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def _cell(record: dict) -> str:
    if "unsupported" in record:
        return f"not supported by the framework itself: {record['unsupported']}"
    problems = record.get("problems")
    if problems is None:
        return "not run"
    if problems:
        return "**fails**: " + "; ".join(f"{name}: {text}" for name, text in problems.items())
    return "works" + ("¹" if record.get("notes") else "")


def render() -> str:
    results = json.loads(RESULTS.read_text())
    cells = {k: v for k, v in results.items() if not k.startswith("_")}
    lines = []
    for interface, title in (("wsgi", "WSGI"), ("asgi", "ASGI")):
        rows = [r for r in cells.values() if r["interface"] == interface]
        servers = list(dict.fromkeys(r["server"] for r in rows))
        frameworks = list(dict.fromkeys(r["framework"] for r in rows))
        by = {(r["framework"], r["server"]): r for r in rows}
        lines += [f"| {title} | " + " | ".join(servers) + " |", "|---" * (len(servers) + 1) + "|"]
        for framework in frameworks:
            row = [_cell(by[framework, s]) if (framework, s) in by else "—" for s in servers]
            lines.append(f"| {framework} | " + " | ".join(row) + " |")
        lines.append("")
    notes = sorted({n for r in cells.values() for n in (r.get("notes") or {}).values() if n})
    servers_noted = sorted({r["server"] for r in cells.values() if r.get("notes")})
    for note in notes:
        lines.append(f"¹ {', '.join(servers_noted)}: {note.removeprefix('note: ')}.")
    versions = results.get("_versions", {})
    lines += [
        "",
        f"Checks per cell: {CHECKS}. Versions: "
        + ", ".join(f"{name} {version}" for name, version in versions.items())
        + f". Run time: {results.get('_seconds', '?')} s.",
        "",
        "**Recipes**",
        "",
    ]
    recipes = dict.fromkeys((r["framework"], r["recipe"]) for r in cells.values())
    lines += [f"* **{framework}**: {recipe}" for framework, recipe in recipes]
    return "\n".join(lines) + "\n"


def write(table: str) -> None:
    TABLE.parent.mkdir(exist_ok=True)
    TABLE.write_text(table)
    text = README.read_text()
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        README.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")


def main() -> int:
    status = 0
    if sys.argv[1:] != ["render"]:
        started = time.monotonic()
        install()
        status = run()
        print(f"compat: {time.monotonic() - started:.0f} s including the virtualenv", file=sys.stderr)
    if RESULTS.exists():
        write(render())
        print(TABLE.read_text())
    return status


if __name__ == "__main__":
    sys.exit(main())
