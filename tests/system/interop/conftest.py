"""One real Superset for the interop suite: set up, started, provisioned once per session.

The suite runs under ``make interop``, which sets ``EMBED_INTEROP=1`` after setting Superset up
(``.venv-superset``, the SDK, the cached metadata DB); anywhere else it skips, saying so. Under
``EMBED_INTEROP=1`` nothing skips: a Superset that cannot start is an error.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from superset_interop import ENABLED, SKIP_REASON, Stack

from examples.superset_provision import provision
from examples.superset_stack import Superset, setup


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not ENABLED:
        pytest.skip(SKIP_REASON)
    setup()
    run_dir = tmp_path_factory.mktemp("superset")
    key, audience = secrets.token_urlsafe(48), f"embed-interop-{secrets.token_hex(4)}"
    with Superset(run_dir, guest_key=key, audience=audience) as superset:
        provisioned = provision(superset.url, superset.admin_password, run_dir / "warehouse.db")
        yield Stack(superset, provisioned, key, audience)
