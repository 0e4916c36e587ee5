"""The compatibility matrix runs in its own virtualenv (`make compat`): collected only there."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parent / "apps")]
