"""Secrets backends: AWS Secrets Manager with MWAA's conventions, read before env and metastore.

``[secrets] backend = SecretsManagerBackend`` (or Airflow's class path
``airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend``, as MWAA
configures it) and ``[secrets] backend_kwargs`` (JSON: ``connections_prefix``,
``variables_prefix``, ``sep``; a prefix set to null turns that kind off). A connection secret
holds a URI or Airflow's JSON form; a variable secret holds the value. Values are cached for
``[secrets] cache_ttl_seconds``.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from runtime.errors import ConfigError
from runtime.settings import Settings

NAMES = ("SecretsManagerBackend", "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
         "airflow.contrib.secrets.aws_secrets_manager.SecretsManagerBackend")
_MISSING = object()


class SecretsManagerBackend:
    """Reads ``<prefix><sep><id>`` secrets from AWS Secrets Manager, with a TTL cache."""

    def __init__(self, *, connections_prefix: str | None = "airflow/connections",
                 variables_prefix: str | None = "airflow/variables", sep: str = "/", ttl: float = 900.0,
                 client: Any = None, **_ignored: Any) -> None:
        self.connections_prefix = connections_prefix
        self.variables_prefix = variables_prefix
        self.sep = sep
        self.ttl = ttl
        self._client = client
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def get_conn_value(self, conn_id: str) -> str | None:
        """The stored URI or JSON of connection ``conn_id``, or None."""
        value = self._get(self.connections_prefix, conn_id)
        if value is not None and value.lstrip().startswith("{"):
            return _json_connection(value)
        return value

    def get_variable(self, key: str) -> str | None:
        """The stored value of variable ``key``, or None."""
        return self._get(self.variables_prefix, key)

    def _get(self, prefix: str | None, name: str) -> str | None:
        if prefix is None:
            return None
        secret_id = f"{prefix.rstrip(self.sep)}{self.sep}{name}"
        with self._lock:
            hit = self._cache.get(secret_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        value = self._fetch(secret_id)
        with self._lock:
            self._cache[secret_id] = (time.monotonic() + self.ttl, value)
        return value

    def _fetch(self, secret_id: str) -> str | None:
        from runtime import aws

        if self._client is None:
            self._client = aws.client("secretsmanager")
        try:
            reply = self._client.get_secret_value(SecretId=secret_id)
        except Exception as exc:  # noqa: BLE001 - "not there" is None; anything else is a clear error
            if aws.error_code(exc) == "ResourceNotFoundException":
                return None
            raise ConfigError(f"secrets backend: reading {secret_id!r} from Secrets Manager failed: {exc}") from exc
        return reply.get("SecretString")


def _json_connection(text: str) -> str:
    """Airflow's JSON form, kept as JSON (Connection.from_uri reads it); a ``conn_uri`` field wins."""
    data = json.loads(text)
    return str(data["conn_uri"]) if isinstance(data, dict) and data.get("conn_uri") else text


_CACHE: dict[tuple[str, str, int], SecretsManagerBackend | None] = {}


def configured(settings: Settings) -> SecretsManagerBackend | None:
    """The backend ``[secrets] backend`` names (one per process and setting), or None."""
    name = str(settings.get("secrets", "backend") or "").strip()
    kwargs_text = str(settings.get("secrets", "backend_kwargs") or "{}")
    ttl = int(settings.get("secrets", "cache_ttl_seconds"))
    key = (name, kwargs_text, ttl)
    if key not in _CACHE:
        _CACHE[key] = _make(name, kwargs_text, ttl)
    return _CACHE[key]


def _make(name: str, kwargs_text: str, ttl: int) -> SecretsManagerBackend | None:
    if not name:
        return None
    if name not in NAMES:
        raise ConfigError(f"setting [secrets] backend: {name!r} is not supported (use SecretsManagerBackend)")
    try:
        kwargs = json.loads(kwargs_text)
    except ValueError as exc:
        raise ConfigError(f"setting [secrets] backend_kwargs: not JSON: {exc}") from None
    if not isinstance(kwargs, dict):
        raise ConfigError("setting [secrets] backend_kwargs: must be a JSON object")
    return SecretsManagerBackend(ttl=float(ttl), **kwargs)
