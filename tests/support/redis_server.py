"""A real, throwaway ``redis-server`` on loopback for the tests (no persistence, a free port).

A real server rather than a fake, so ``ZADD GT``, MULTI/EXEC, authentication and a server that has
gone away behave exactly as in production.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from types import TracebackType

REDIS_SERVER = shutil.which("redis-server")
SKIP_REASON = "redis-server not installed: apt-get install redis-server; `make test` installs it"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """``with RedisServer() as server:`` starts it and waits for PING; leaving the block stops it."""

    def __init__(self, password: str | None = None) -> None:
        if REDIS_SERVER is None:
            raise RuntimeError(SKIP_REASON)
        self.password = password
        self.port = free_port()
        auth = ["--requirepass", password] if password else []
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *auth]
        # A file, not a pipe nobody reads: a chatty server can never block on a full pipe. Closed by stop().
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            [REDIS_SERVER, *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_for_ping()
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _wait_for_ping(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                output = self.log.read().decode(errors="replace")
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{output}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    auth = f"AUTH {self.password}\r\n" if self.password else ""
                    sock.sendall(f"{auth}PING\r\n".encode())
                    reply = b""
                    while b"PONG" not in reply and len(reply) < 200:
                        chunk = sock.recv(200)
                        if not chunk:
                            break
                        reply += chunk
                    if b"+PONG" in reply:
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING within {timeout} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
