"""What the interop tests share: the running stack, and when the suite runs at all."""

from __future__ import annotations

import os
from dataclasses import dataclass

from examples.superset_provision import Provisioned
from examples.superset_stack import Superset

ENABLED = os.environ.get("EMBED_INTEROP") == "1"
SKIP_REASON = "interop against a real Superset: `make interop` sets up .venv-superset and runs these"


@dataclass(frozen=True)
class Stack:
    superset: Superset
    provisioned: Provisioned
    #: This run's guest-token key (Superset's GUEST_TOKEN_JWT_SECRET) and audience.
    key: str
    audience: str
