"""Raw HTTP/1.1 over a socket, so the matrix sees the bytes a server really sends (framing included).

A library client would hide what matters here: a stray chunk terminator after a HEAD answer, a
Content-Length that disagrees with the body, a connection left in a state the next request trips on.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    #: How the body was delimited: "length", "chunked", "close" or "none" (HEAD, 204, 304).
    framing: str
    http_version: str = "HTTP/1.1"
    trailers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    @property
    def closes(self) -> bool:
        connection = (self.header("Connection") or "").lower()
        return "close" in connection or self.framing == "close"


class Connection:
    """One keep-alive connection to 127.0.0.1:port."""

    def __init__(self, port: int, timeout: float = 15.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._buffer = b""
        #: Whether the server closed its side (seen by ``leftover``).
        self.eof = False

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, method: str, path: str, headers: dict[str, str] | None = None) -> None:
        lines = [
            f"{method} {path} HTTP/1.1",
            "Host: 127.0.0.1",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Answer:
        self.send(method, path, headers)
        return self.read_answer(method)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self._buffer += data
        return bool(data)

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            if not self._fill():
                raise ConnectionError(f"connection closed mid-line: {self._buffer[:80]!r}")
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    def _exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            if not self._fill():
                raise ConnectionError(f"connection closed with {len(self._buffer)} of {count} bytes")
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _fields(self) -> list[tuple[str, str]]:
        fields = []
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            fields.append((name.strip(), value.strip()))
        return fields

    def read_head(self) -> tuple[str, int, list[tuple[str, str]]]:
        while True:
            version, status, *_ = self._line().decode("latin-1").split(" ", 2)
            headers = self._fields()
            if not 100 <= int(status) < 200:
                return version, int(status), headers

    def read_answer(self, method: str) -> Answer:
        version, status, headers = self.read_head()
        answer = Answer(status, headers, b"", "none", version)
        if method == "HEAD" or status in (204, 304):
            return answer
        encoding = (answer.header("Transfer-Encoding") or "").lower()
        length = answer.header("Content-Length")
        if "chunked" in encoding:
            answer.framing = "chunked"
            parts = []
            while size := int(self._line().split(b";")[0], 16):
                parts.append(self._exactly(size))
                assert self._exactly(2) == b"\r\n", "chunk not followed by CRLF"
            answer.body = b"".join(parts)
            answer.trailers = self._fields()
        elif length is not None:
            answer.framing = "length"
            answer.body = self._exactly(int(length))
        else:
            answer.framing = "close"
            while self._fill():
                pass
            answer.body, self._buffer = self._buffer, b""
        return answer

    def read_some_body(self) -> bytes:
        """After ``read_head``: whatever body bytes have arrived (at least one recv)."""
        if not self._buffer:
            self._fill()
        data, self._buffer = self._buffer, b""
        return data

    def leftover(self, wait: float = 0.3) -> bytes:
        """Bytes the server sent after the last answer ended (there should be none)."""
        before = self.sock.gettimeout()
        self.sock.settimeout(wait)
        try:
            while self._fill():
                pass
            self.eof = True
        except ConnectionResetError:
            self.eof = True
        except TimeoutError:
            pass
        finally:
            self.sock.settimeout(before)
        data, self._buffer = self._buffer, b""
        return data


class RawClient:
    """Requests over keep-alive connections, opening a new one where the server closed the last."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._open: Connection | None = None
        #: The connection of the last answer, kept to read what a server sent after it.
        self.last: Connection | None = None

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Answer:
        if self._open is None:
            if self.last is not None:
                self.last.close()  # the server closed it after the last answer
            self._open = Connection(self.port)
        connection = self.last = self._open
        answer = connection.request(method, path, headers)
        if answer.closes:
            self._open = None
        return answer

    def leftover(self) -> bytes:
        return self.last.leftover() if self.last is not None else b""

    @property
    def closed_by_server(self) -> bool:
        return self.last is not None and self.last.eof

    def close(self) -> None:
        for connection in {self._open, self.last}:
            if connection is not None:
                connection.close()
