"""BaseHook: connection lookup for hooks, through the running task's services or the environment."""

from __future__ import annotations

import logging
import os
from typing import Any

from runtime.sdk.connection import Connection
from runtime.sdk.exceptions import AirflowNotFoundException


def running_services() -> Any:
    """The RuntimeServices of the task running in this process, or None outside a task."""
    from runtime.sdk.context import current_context

    try:
        return current_context()["ti"].services
    except (RuntimeError, KeyError):
        return None


def _env_connection(conn_id: str) -> Connection:
    for prefix in ("WINDSOCK", "AIRFLOW"):
        uri = os.environ.get(f"{prefix}_CONN_{conn_id.upper()}")
        if uri is not None:
            return Connection.from_uri(conn_id, uri)
    raise KeyError(conn_id)


def _configured_connection(conn_id: str) -> Connection:
    """Outside a task (``windsock connections test``, a hook in a script): the secrets backend, the
    environment, then the metastore of the configured Windsock home, as a task would see them."""
    try:
        return _env_connection(conn_id)
    except KeyError:
        pass
    from runtime import secrets
    from runtime.settings import Settings

    try:
        return secrets.get_connection(conn_id, settings=Settings.load())
    except KeyError:
        raise
    except Exception as exc:  # no metastore here (e.g. a bare script): the connection is simply not found
        raise KeyError(f"{conn_id} ({type(exc).__name__}: {exc})") from None


def lookup_connection(conn_id: str) -> Connection:
    """A connection from the running task's services (else the configured home); AirflowNotFoundException if absent."""
    services = running_services()
    try:
        conn = services.get_connection(conn_id) if services is not None else _configured_connection(conn_id)
    except KeyError:
        raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined") from None
    return _default_mysql_client(conn)


def _default_mysql_client(conn: Connection) -> Connection:
    """A ``mysql`` connection that names no ``client`` gets ``mysql-connector-python`` when the mysql
    provider's default driver (``mysqlclient``, a C build) is absent and that one is installed, so that
    connections written for MWAA keep working (docs/providers.md)."""
    import importlib.util
    import json

    if (conn.conn_type or "").lower() != "mysql" or "client" in conn.extra_dejson:
        return conn
    if importlib.util.find_spec("MySQLdb") is not None or importlib.util.find_spec("mysql.connector") is None:
        return conn
    from dataclasses import replace

    return replace(conn, extra=json.dumps({**conn.extra_dejson, "client": "mysql-connector-python"}))


class BaseHook:
    """Base of hooks: knows how to find its connection."""

    conn_name_attr: str = ""
    default_conn_name: str = ""
    conn_type: str = ""
    hook_name: str = ""

    def __init__(self, logger_name: str | None = None, **kwargs: Any) -> None:
        self._log = logging.getLogger(logger_name or f"airflow.task.hooks.{type(self).__module__}.{type(self).__name__}")

    @property
    def log(self) -> logging.Logger:
        """The hook's logger."""
        return self._log

    @classmethod
    def get_connection(cls, conn_id: str) -> Connection:
        """The connection ``conn_id``."""
        return lookup_connection(conn_id)

    @classmethod
    def get_hook(cls, conn_id: str, hook_params: dict[str, Any] | None = None) -> Any:
        """A hook suited to the connection's type: an installed provider's, else Windsock's SQL hooks."""
        return cls.get_connection(conn_id).get_hook(hook_params=hook_params)

    def get_conn(self) -> Any:
        """The client or DB-API connection this hook wraps."""
        raise NotImplementedError


__all__ = ["BaseHook", "lookup_connection"]
