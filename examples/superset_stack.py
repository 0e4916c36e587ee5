"""A real Apache Superset on loopback, for the interop suite (``make interop``) and ``make superset-demo``.

``setup()`` makes everything that outlives a run, each step skipped when already done:

* ``.venv-superset``: Superset from ``scripts/superset/requirements.lock`` (pinned, with hashes),
  installed by uv (itself pinned, in a bootstrap venv under ``.cache/superset``);
* ``.cache/superset/sdk``: ``@superset-ui/embedded-sdk`` from the npm registry (``npm ci`` of
  ``scripts/superset/sdk``'s lock), whose UMD bundle the host page loads;
* ``.cache/superset/metadata-<version>-<lock>.db``: the metadata DB after ``superset db upgrade``,
  ``fab create-admin`` and ``superset init`` (a minute and a half; then reused).

``Superset(run_dir)`` then starts one on a port found free at start, with secrets made for this run
(``SECRET_KEY``, the guest-token key, the admin password), on a copy of the cached metadata DB, and
stops it by its process id. Nothing secret is printed or logged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from werkzeug.security import generate_password_hash

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts" / "superset"
LOCK = SCRIPTS / "requirements.lock"
CONFIG = SCRIPTS / "superset_config.py"
CACHE = ROOT / ".cache" / "superset"
VENV = ROOT / ".venv-superset"
SDK_DIR = CACHE / "sdk"
SDK_BUNDLE = SDK_DIR / "node_modules" / "@superset-ui" / "embedded-sdk" / "bundle" / "index.js"
#: uv installs the lock in seconds where pip takes minutes; pinned like everything else here.
UV_VERSION = "0.13.9"
ADMIN = "admin"
#: How long Superset may take to answer /health (7-20 s here; a cold disk cache takes longer).
START_TIMEOUT = 180.0

Log = Callable[[str], None]


def superset_version() -> str:
    for line in LOCK.read_text().splitlines():
        if line.startswith("apache-superset=="):
            return line.split("==")[1].split()[0]
    raise RuntimeError(f"{LOCK} pins no apache-superset")


def _digest(*paths: Path) -> str:
    return hashlib.sha256(b"".join(path.read_bytes() for path in paths)).hexdigest()[:16]


def _run(args: list[str | Path], log: Log, **kwargs: object) -> None:
    """Runs a setup step; on failure, its output (setup output holds no secret) and the exit code."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        log(done.stdout[-4000:] + done.stderr[-4000:])
        raise RuntimeError(f"{Path(str(args[0])).name} {args[1]} failed with exit code {done.returncode}")


def _python311() -> str:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = shutil.which("python3.11")
    if found is None:
        raise RuntimeError("Superset 6.1 is locked for Python 3.11: no python3.11 on PATH")
    return found


def ensure_uv(log: Log) -> Path:
    uv = CACHE / "uv-venv" / "bin" / "uv"
    stamp = CACHE / "uv-venv" / f".uv-{UV_VERSION}"
    if not stamp.exists():
        log(f"installing uv {UV_VERSION} into {uv.parent.parent}")
        _run([sys.executable, "-m", "venv", "--clear", uv.parent.parent], log)
        _run([uv.parent / "python", "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"], log)
        stamp.touch()
    return uv


def ensure_venv(log: Log) -> Path:
    """``.venv-superset`` holding exactly the lock; redone when the lock changes."""
    stamp = VENV / f".lock-{_digest(LOCK)}"
    if not stamp.exists():
        uv = ensure_uv(log)
        log(f"installing Superset {superset_version()} into {VENV.name} with uv")
        _run([uv, "venv", "--quiet", "--allow-existing", "--python", _python311(), VENV], log)
        _run([uv, "pip", "sync", "--quiet", "--python", VENV / "bin" / "python", LOCK], log)
        stamp.touch()
    return VENV


def ensure_sdk(log: Log) -> Path:
    """The embedded SDK's UMD bundle, from the npm registry through ``npm ci`` (integrity-checked)."""
    package = SCRIPTS / "sdk"
    stamp = SDK_DIR / f".lock-{_digest(package / 'package-lock.json')}"
    if not (stamp.exists() and SDK_BUNDLE.exists()):
        log("installing @superset-ui/embedded-sdk with npm ci")
        SDK_DIR.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(package / name, SDK_DIR / name)
        _run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"], log, cwd=SDK_DIR)
        stamp.touch()
    return SDK_BUNDLE


def secret_env(metadata_db: Path, guest_key: str, audience: str, algorithm: str = "HS256") -> dict[str, str]:
    """What ``superset_config.py`` reads; ``SECRET_KEY`` is new each time."""
    return {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(CONFIG),
        "EMBED_SUPERSET_SECRET_KEY": os.urandom(32).hex(),
        "EMBED_SUPERSET_METADATA_DB": str(metadata_db),
        "EMBED_SUPERSET_GUEST_SECRET": guest_key,
        "EMBED_SUPERSET_GUEST_ALGO": algorithm,
        "EMBED_SUPERSET_AUDIENCE": audience,
        "PYTHONUNBUFFERED": "1",
    }


def ensure_metadata(log: Log) -> Path:
    """The metadata DB after upgrade, admin and init, cached per Superset version and lock."""
    cached = CACHE / f"metadata-{superset_version()}-{_digest(LOCK, CONFIG)}.db"
    if cached.exists():
        return cached
    log(f"creating Superset's metadata DB (db upgrade, fab create-admin, init): cached as {cached.name}")
    building = cached.with_suffix(".building")
    building.unlink(missing_ok=True)
    env = secret_env(building, os.urandom(32).hex(), "setup")
    superset = VENV / "bin" / "superset"
    _run([superset, "db", "upgrade"], log, env=env)
    admin = ["--username", ADMIN, "--firstname", "Embed", "--lastname", "Admin"]
    password = os.urandom(24).hex()  # replaced by each run's own; never stored in clear
    _run(
        [superset, "fab", "create-admin", *admin, "--email", "admin@example.invalid", "--password", password],
        log,
        env=env,
    )
    _run([superset, "init"], log, env=env)
    building.replace(cached)
    return cached


def setup(log: Log = print) -> dict[str, float]:
    """Everything a run needs, made or found; returns each step's seconds."""
    CACHE.mkdir(parents=True, exist_ok=True)
    timings = {}
    for name, step in (("venv", ensure_venv), ("sdk", ensure_sdk), ("metadata", ensure_metadata)):
        started = time.monotonic()
        step(log)
        timings[name] = round(time.monotonic() - started, 1)
    return timings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Superset:
    """One Superset (gunicorn, one worker) on ``127.0.0.1:<free port>``, its files in ``run_dir``."""

    def __init__(self, run_dir: Path, *, guest_key: str, audience: str, algorithm: str = "HS256") -> None:
        self.run_dir = run_dir
        self.metadata = run_dir / "metadata.db"
        shutil.copyfile(ensure_metadata(print), self.metadata)
        self.admin_password = os.urandom(24).hex()
        with sqlite3.connect(self.metadata) as db:
            db.execute(
                "UPDATE ab_user SET password = ? WHERE username = ?",
                (generate_password_hash(self.admin_password), ADMIN),
            )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = run_dir / "superset.log"
        self._env = secret_env(self.metadata, guest_key, audience, algorithm)
        self._process: subprocess.Popen[bytes] | None = None
        self.started_in = 0.0

    def start(self) -> Superset:
        started = time.monotonic()
        gunicorn = VENV / "bin" / "gunicorn"
        bind = [
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--threads",
            "8",
            "--timeout",
            "120",
            "--graceful-timeout",
            "5",
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [str(gunicorn), *bind, "superset.app:create_app()"],
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends the workers too
            )
        while not self._healthy():
            if self._process.poll() is not None or time.monotonic() - started > START_TIMEOUT:
                self.stop()
                raise RuntimeError(f"Superset did not start; see {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.25)
        self.started_in = round(time.monotonic() - started, 1)
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, mark: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(mark)
            return log.read().decode(errors="replace")

    def log_tail(self, size: int = 4000) -> str:
        return self.log_since(max(0, self.log_size() - size))

    def stop(self) -> None:
        """SIGTERM to gunicorn's process group (by the PID we started), SIGKILL after 20 s."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def __enter__(self) -> Superset:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


if __name__ == "__main__":
    for step, seconds in setup().items():
        print(f"superset setup: {step} {seconds} s")
