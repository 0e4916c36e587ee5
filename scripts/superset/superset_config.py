"""Superset's configuration for the interop suite and ``make superset-demo`` (loopback only).

Every secret comes from the environment, made fresh for each run by ``scripts/superset/harness.py``;
nothing secret is written here or logged. Read by Superset through ``SUPERSET_CONFIG_PATH``.
"""

import os

_env = os.environ

SECRET_KEY = _env["EMBED_SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = "sqlite:///" + _env["EMBED_SUPERSET_METADATA_DB"]
SQLALCHEMY_TRACK_MODIFICATIONS = False

# Embedded dashboards, guest tokens minted by embed_middleware's SupersetProfile (never by Superset).
FEATURE_FLAGS = {"EMBEDDED_SUPERSET": True}
GUEST_TOKEN_JWT_SECRET = _env["EMBED_SUPERSET_GUEST_SECRET"]
GUEST_TOKEN_JWT_ALGO = _env.get("EMBED_SUPERSET_GUEST_ALGO", "HS256")
GUEST_TOKEN_JWT_AUDIENCE = _env["EMBED_SUPERSET_AUDIENCE"]
GUEST_ROLE_NAME = "Gamma"

# Loopback framing: the host page (another port) frames Superset; Talisman's headers would forbid it.
TALISMAN_ENABLED = False
# The demo's data source is a SQLite file.
PREVENT_UNSAFE_DB_CONNECTIONS = False
# Loopback, no proxy in front: X-Forwarded-* headers are not trusted.
ENABLE_PROXY_FIX = False
