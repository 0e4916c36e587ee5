"""`make dist`'s last step: is the wheel we just built a package people can install and use?

Reads the wheel's file list (py.typed, the Django template tags, the LICENSE, the console script), then
installs the wheel into a brand-new virtualenv under a temporary directory and runs a smoke test there,
with that directory as the working directory and no PYTHONPATH, so nothing can be imported from the
checkout: the import and ``__version__``, ``embed-middleware --help``, and a tiny WSGI app wrapped by the
middleware whose page must come back with a token for its tenant.

Only the standard library is used (this runs under the Makefile's venv, but needs nothing from it).
Usage: python scripts/dist_check.py build/dist
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Files the wheel must carry: typing marker (PEP 561), the Django tags, the licence (PEP 639).
REQUIRED = ["embed_middleware/py.typed", "embed_middleware/templatetags/embed.py"]

#: Runs inside the fresh venv, from the temporary directory. Exits non-zero on the first failure.
SMOKE = r"""
import json, shutil, subprocess, sys, wsgiref.util
from pathlib import Path

import jwt
import embed_middleware
from embed_middleware import EmbedWSGIMiddleware, Tenant, TokenIssuer, embed_placeholder, from_environ

checkout, expected = sys.argv[1], sys.argv[2]
where = Path(embed_middleware.__file__).resolve()
assert not str(where).startswith(checkout), f"imported from the checkout: {where}"
assert embed_middleware.__version__ == expected, (embed_middleware.__version__, expected)

cli = shutil.which("embed-middleware")
assert cli, "the embed-middleware console script is not on PATH"
helped = subprocess.run([cli, "--help"], capture_output=True, text=True, check=True)
assert "mint" in helped.stdout, helped.stdout

KEY = "dist-smoke-test-signing-key-" + "k" * 40

def app(environ, start_response):
    environ["embed.tenant"] = Tenant("acme")
    page = f'<iframe src="https://charts.example.com/embed?token={embed_placeholder(environ, "top")}">'
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [page.encode()]

wrapped = EmbedWSGIMiddleware(app, issuer=TokenIssuer(KEY, resources=["top"]), resolver=from_environ())
environ = {}
wsgiref.util.setup_testing_defaults(environ)
answer = {}
body = b"".join(wrapped(environ, lambda status, headers, exc_info=None: answer.update(status=status,
                                                                                     headers=headers)))
assert answer["status"] == "200 OK", answer
token = body.decode().split("token=", 1)[1].split('"', 1)[0]
claims = jwt.decode(token, KEY, algorithms=["HS256"])
assert (claims["sub"], claims["resource"]) == ("acme", "top"), claims
assert dict(answer["headers"])["Cache-Control"] == "private, no-store", answer
print(json.dumps({"version": embed_middleware.__version__, "imported_from": str(where.parent)}))
"""


def check_wheel(wheel: Path) -> str:
    """The wheel's version, after checking it carries what users rely on."""
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in REQUIRED if name not in names]
    if not any(name.endswith(".dist-info/licenses/LICENSE") for name in names):
        missing.append("<name>.dist-info/licenses/LICENSE")
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    if (
        "embed-middleware = embed_middleware.cli:main"
        not in zipfile.ZipFile(wheel).read(entry_points).decode()
    ):
        missing.append("the embed-middleware console script in entry_points.txt")
    if missing:
        sys.exit(f"{wheel.name} lacks: {', '.join(missing)}")
    return wheel.name.split("-")[1]


def main() -> int:
    dist = Path(sys.argv[1] if len(sys.argv) > 1 else "build/dist").resolve()
    wheels = sorted(dist.glob("embed_middleware-*.whl"))
    sdists = sorted(dist.glob("embed_middleware-*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        sys.exit(f"expected one wheel and one sdist in {dist}, found {[p.name for p in dist.iterdir()]}")
    version = check_wheel(wheels[0])
    with tempfile.TemporaryDirectory(prefix="embed-dist-") as tmp:
        home = Path(tmp)
        venv.create(home / "venv", with_pip=True)
        python = home / "venv" / "bin" / "python"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, str(wheels[0])], cwd=home, env=env, check=True)
        done = subprocess.run(
            [str(python), "-I", "-c", SMOKE, str(ROOT), version], cwd=home, env=env, text=True
        )
        if done.returncode:
            return done.returncode
    print(f"{wheels[0].name}: installed into a fresh venv outside the checkout, smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
