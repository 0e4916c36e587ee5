"""Real servers on loopback and the ``wrk`` runs against them, for the end-to-end rows.

Each app runs in its own server subprocess with one worker on 127.0.0.1, so raw and wrapped get the
same CPU and neither shares an interpreter with wrk or the runner:

* ASGI under ``python -m uvicorn``, with the same HTTP and event-loop implementations for both sides
  (httptools and uvloop when installed, h11 and asyncio otherwise).
* WSGI under ``python -m gunicorn --workers 1`` with gunicorn's default sync worker: what Flask's
  deployment docs show (``gunicorn -w 4 app:app``), cut to one worker so both sides get one core.
  The sync worker answers one request per connection, so wrk reconnects for each (no keep-alive);
  it still served this Flask app ~1.6x faster here than ``-k gthread --threads 4``, whose handing
  of each request between its poller and worker threads costs more than loopback TCP set-up.

``wrk`` drives them, over keep-alive connections where the server keeps them; ``wrk_report.lua``
prints its figures, including wrk's own latency percentiles and a count of non-2xx answers, as one
JSON line. The runner also reads how much CPU the server and wrk used, to say which of them the run
was bound by.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"
WRK_THREADS = 2
WRK_CONNECTIONS = 32
#: Seconds a server may take to answer its first request, and to exit once asked to.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
#: Clock ticks per second of /proc/<pid>/stat's CPU times.
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class WrkResult:
    """One wrk run, as ``wrk_report.lua`` prints it (times in microseconds), and the CPU it took."""

    requests: int
    duration_us: int
    socket_errors: int
    non_2xx: int
    p50_us: float
    p99_us: float
    #: CPU seconds per wall second of the server's processes and of wrk (1.0 = one core busy).
    server_cpu: float | None = None
    wrk_cpu: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6)

    @classmethod
    def parse(cls, output: str) -> WrkResult:
        for line in output.splitlines():
            if line.startswith("WRK_RESULT "):
                data = json.loads(line.removeprefix("WRK_RESULT "))
                return cls(
                    requests=int(data["requests"]),
                    duration_us=int(data["duration_us"]),
                    socket_errors=sum(int(data[k]) for k in ("connect", "read", "write", "timeout")),
                    non_2xx=max(int(data["non2xx"]), int(data["status"])),
                    p50_us=float(data["p50_us"]),
                    p99_us=float(data["p99_us"]),
                )
        raise RuntimeError(f"wrk printed no WRK_RESULT line:\n{output}")


def uvicorn_implementations() -> tuple[str, str]:
    """uvicorn's ``--http`` and ``--loop`` choices: the fast ones when installed, for both sides."""
    http = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    return http, loop


def uvicorn_command(app: str, port: int, *, factory: bool) -> list[str]:
    http, loop = uvicorn_implementations()
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--http", http, "--loop", loop, "--log-level", "warning", "--no-access-log"]
    return [*command, "--factory"] if factory else command


def gunicorn_command(app: str, port: int, *, factory: bool) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "sync"]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    return [*command, f"{app}()" if factory else app]


COMMANDS = {"uvicorn": uvicorn_command, "gunicorn": gunicorn_command}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


#: Sent with every request, to both sides: the header resolver's rows read the tenant from it.
TENANT_HEADER = ("X-Tenant", "acme")


def fetch(url: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Status, lower-cased headers and body; an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url, headers=dict([TENANT_HEADER]))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            headers = {k.lower(): v for k, v in response.getheaders()}
            return int(response.status), headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def _stats() -> dict[int, list[str]]:
    """Every process's /proc/<pid>/stat fields after the command name (``[0]`` is field 3, state)."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stats[int(entry)] = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
    return stats


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by ``pid`` and its live descendants (gunicorn's worker
    is the arbiter's child); None where there is no /proc."""
    if not os.path.isdir(f"/proc/{pid}"):
        return None
    stats = _stats()
    tree, pending = set(), [pid]
    while pending:
        current = pending.pop()
        tree.add(current)
        pending += [child for child, fields in stats.items() if int(fields[1]) == current]
    # utime and stime are fields 14 and 15 of proc_pid_stat(5), 11 and 12 here.
    return sum(int(stats[p][11]) + int(stats[p][12]) for p in tree if p in stats) / _TICKS


class Server:
    """One server subprocess on loopback; always stopped by ``stop`` (idempotent)."""

    def __init__(self, kind: str, app: str, log_path: Path, *, factory: bool = False) -> None:
        self.app = app
        self.port = _free_port()
        self._log_path = log_path
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        command = COMMANDS[kind](app, self.port, factory=factory)
        with open(log_path, "wb") as log:  # the child keeps its own descriptor
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, path: str) -> None:
        """Polls ``path`` until the server answers (bounded by ``START_TIMEOUT``); raises with its log
        if it died or never answered."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                break
            try:
                fetch(self.url(path), timeout=1.0)
            except OSError:
                time.sleep(0.05)
            else:
                return
        self.stop()
        output = self._log_path.read_text(errors="replace")
        raise RuntimeError(f"the server for {self.app} did not start on port {self.port}:\n{output}")

    def state(self) -> str:
        """Whether the process still runs, and the end of its log: what an error report needs."""
        process = self._process
        code = None if process is None else process.poll()
        alive = "stopped" if process is None else "running" if code is None else f"exited with {code}"
        log = self._log_path.read_text(errors="replace").splitlines()[-15:] if self._log_path.exists() else []
        return f"server {self.app} {alive}; its log ends:\n" + "\n".join(log)

    def cpu_seconds(self) -> float | None:
        process = self._process
        return None if process is None else _cpu_seconds(process.pid)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def running(kind: str, apps: Sequence[str], ready_path: str, *, factory: bool) -> Iterator[list[Server]]:
    """A server of ``kind`` per app, all up at once and answering; all stopped on the way out."""
    started: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="embed-bench-") as logs:
        try:
            for index, app in enumerate(apps):
                started.append(Server(kind, app, Path(logs) / f"{index}.log", factory=factory))
            for server in started:
                server.wait_ready(ready_path)
            yield started
        finally:
            for server in started:
                server.stop()


def wrk(server: Server, path: str, seconds: int) -> WrkResult:
    """One bounded wrk run (killed if it overruns by 30 s); a non-2xx answer is an error."""
    url = server.url(path)
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s"]
    command += ["-H", ": ".join(TENANT_HEADER), "-s", str(LUA_SCRIPT), url]
    server_before = server.cpu_seconds()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_after = server.cpu_seconds()
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{server.state()}")
    result = WrkResult.parse(done.stdout)
    if result.non_2xx or result.requests == 0:
        raise RuntimeError(f"wrk saw {result.non_2xx} non-2xx answers at {url}: {result}\n{server.state()}")
    wall = result.duration_us / 1e6
    wrk_cpu = sum(getattr(children_after, f) - getattr(children_before, f) for f in ("ru_utime", "ru_stime"))
    server_cpu = None if server_before is None or server_after is None else server_after - server_before
    return dataclasses.replace(
        result, server_cpu=None if server_cpu is None else server_cpu / wall, wrk_cpu=wrk_cpu / wall
    )
