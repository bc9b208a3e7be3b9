"""The environment a component runs with inside the container: DB URL and fernet key from ECS secrets.

ECS injects ``WINDSOCK_DB_PASSWORD`` (from the RDS-generated secret) and ``WINDSOCK_FERNET_SECRET``
(from a generated secret); the task definition holds only the non-secret parts. This module turns
them into the settings the runtime reads and removes the raw secrets from the child's environment.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from urllib.parse import quote

from runtime.errors import ConfigError

DB_KEYS = (
    "WINDSOCK_DB_HOST",
    "WINDSOCK_DB_PORT",
    "WINDSOCK_DB_NAME",
    "WINDSOCK_DB_USER",
    "WINDSOCK_DB_PASSWORD",
)
SECRET_KEYS = ("WINDSOCK_DB_PASSWORD", "WINDSOCK_FERNET_SECRET")
SQL_ALCHEMY_CONN = "WINDSOCK__DATABASE__SQL_ALCHEMY_CONN"
FERNET_KEY = "WINDSOCK__CORE__FERNET_KEY"


def database_url(environ: Mapping[str, str]) -> str | None:
    """``postgresql+psycopg2://user:password@host:port/db`` from the WINDSOCK_DB_* parts, or None if unset."""
    if not environ.get("WINDSOCK_DB_HOST"):
        return None
    missing = [key for key in DB_KEYS if not environ.get(key)]
    if missing:
        raise ConfigError(f"database settings incomplete: {', '.join(missing)} not set")
    user = quote(environ["WINDSOCK_DB_USER"], safe="")
    password = quote(environ["WINDSOCK_DB_PASSWORD"], safe="")
    host, port, name = environ["WINDSOCK_DB_HOST"], environ["WINDSOCK_DB_PORT"], environ["WINDSOCK_DB_NAME"]
    return f"postgresql+psycopg2://{user}:{password}@{host}:{port}/{quote(name, safe='')}"


def fernet_key(secret: str) -> str:
    """A valid Fernet key from the secret: used as-is if it already is one, else derived with SHA-256."""
    try:
        if len(base64.urlsafe_b64decode(secret.encode())) == 32 and len(secret) == 44:
            return secret
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()).decode()


def component_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: ``environ`` plus DB URL and fernet key, minus the raw secrets."""
    env = {key: value for key, value in environ.items() if key not in SECRET_KEYS}
    url = database_url(environ)
    if url is not None and not environ.get(SQL_ALCHEMY_CONN):
        env[SQL_ALCHEMY_CONN] = url
    if environ.get("WINDSOCK_FERNET_SECRET") and not environ.get(FERNET_KEY):
        env[FERNET_KEY] = fernet_key(environ["WINDSOCK_FERNET_SECRET"])
    return env


def redacted(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to log: secret values and URLs with passwords replaced by '***'."""
    hidden = set(SECRET_KEYS) | {SQL_ALCHEMY_CONN, FERNET_KEY}
    return {key: ("***" if key in hidden else value) for key, value in environ.items()}
