"""Every framework under every server it runs on, real processes on loopback, checked on the wire.

Per cell: a page with placeholders written by the framework's own helper, a streamed page with a
placeholder split across chunks, a page without placeholders (headers untouched), JSON byte for byte,
the token endpoint, HEAD (a length that is the GET's or none, the connection still in step), and a
client leaving mid-stream (no warning logged, the server still answers). HTTP/1.1 through a raw
socket; "hypercorn HTTP/2" through an HTTP/2 client. Results go to build/compat.json for the table.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cells import CELLS, Cell
from checks import CHECKS, Client, H2Client, disconnect, is_note, plain, warnings_in
from servers import ROOT, serving
from wire import RawClient

RESULTS: dict[str, Any] = {}
OUT = Path(os.environ.get("COMPAT_RESULTS", ROOT / "build" / "compat.json"))


@pytest.fixture(scope="session", autouse=True)
def results() -> Iterator[None]:
    started = time.monotonic()
    yield
    OUT.parent.mkdir(parents=True, exist_ok=True)
    RESULTS["_seconds"] = round(time.monotonic() - started)
    RESULTS["_versions"] = {name: _version(name) for name in VERSIONS}
    OUT.write_text(json.dumps(RESULTS, indent=1))


VERSIONS = [
    "flask",
    "django",
    "bottle",
    "pyramid",
    "falcon",
    "starlette",
    "fastapi",
    "quart",
    "litestar",
    "sanic",
    "gunicorn",
    "waitress",
    "granian",
    "uvicorn",
    "hypercorn",
    "daphne",
    "h2",
]


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _client(port: int, http2: bool) -> Client:
    return H2Client(port) if http2 else RawClient(port)


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_cell(cell: Cell, tmp_path: Path) -> None:
    record: dict[str, Any] = {
        "framework": cell.framework.name,
        "server": cell.server.name,
        "interface": cell.server.interface,
        "recipe": cell.framework.recipe,
    }
    RESULTS[cell.id] = record
    if cell.unsupported:
        record["unsupported"] = cell.unsupported
        pytest.skip(f"not supported by the framework itself: {cell.unsupported}")
    problems: dict[str, str] = {}
    notes: dict[str, str | None] = {}
    with serving(cell.server, cell.framework.target, tmp_path) as running:
        client = _client(running.port, cell.server.http2)
        try:
            for name, check in CHECKS.items():
                try:
                    if check is plain:
                        problem = plain(client, cell.framework.declares_length)
                    else:
                        problem = check(client)
                except Exception as error:  # a check that cannot even finish is a failure of the cell
                    problem = f"{type(error).__name__}: {error}"
                    client.close()
                    client = _client(running.port, cell.server.http2)
                if is_note(problem):
                    notes[name] = problem
                elif problem:
                    problems[name] = problem
        finally:
            client.close()
        try:
            if problem := disconnect(running.port, cell.server.http2):
                problems["disconnect"] = problem
        except Exception as error:
            problems["disconnect"] = f"{type(error).__name__}: {error}"
        if problem := warnings_in(running.log):
            problems["log"] = problem
    record["problems"] = problems
    record["notes"] = notes
    assert not problems, f"{cell.id}: {problems}\n{running.output.read_text()[-2000:]}"
