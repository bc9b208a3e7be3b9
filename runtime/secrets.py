"""Variables and connections as DAG code sees them: secrets backend, environment, then the metastore.

With ``[secrets] backend`` set (MWAA's ``SecretsManagerBackend``: secrets named
``airflow/connections/<id>`` and ``airflow/variables/<key>``), it is asked first, as Airflow
does. Variables: then ``WINDSOCK_VAR_<KEY>``, ``AIRFLOW_VAR_<KEY>`` (key upper-cased), then
the ``variable`` table. Connections: ``WINDSOCK_CONN_<ID>``, ``AIRFLOW_CONN_<ID>`` (a URI or
Airflow's JSON form), then the ``connection`` table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runtime.errors import WindsockError
from runtime.sdk.connection import Connection
from runtime.sdk.exceptions import AirflowNotFoundException
from runtime.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

_MISSING: Any = object()


class VariableNotFound(KeyError, WindsockError):
    """No variable with this key in the environment or the metastore."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "variable not found"


class ConnectionNotFound(KeyError, AirflowNotFoundException):
    """No connection with this id in the environment or the metastore (also Airflow's not-found error)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "connection not found"


def _env_lookup(environ: Mapping[str, str], kind: str, name: str) -> str | None:
    for prefix in ("WINDSOCK", "AIRFLOW"):
        value = environ.get(f"{prefix}_{kind}_{name.upper()}")
        if value is not None:
            return value
    return None


def _backend_lookup(settings: Settings, kind: str, name: str) -> str | None:
    from runtime.secrets_backends import configured

    backend = configured(settings)
    if backend is None:
        return None
    return backend.get_variable(name) if kind == "variable" else backend.get_conn_value(name)


def _factory(settings: Settings, session_factory: sessionmaker[Session] | None) -> sessionmaker[Session]:
    if session_factory is not None:
        return session_factory
    from runtime.store.session import open_store

    return open_store(settings)[1]


def get_variable(
    key: str,
    *,
    settings: Settings,
    session_factory: sessionmaker[Session] | None = None,
    default: Any = _MISSING,
    deserialize_json: bool = False,
) -> Any:
    """The value of variable ``key`` (parsed as JSON if asked); ``default`` or VariableNotFound if missing."""
    value = _backend_lookup(settings, "variable", key)
    if value is None:
        value = _env_lookup(settings.environ, "VAR", key)
    if value is None:
        value = _stored_variable(key, settings, _factory(settings, session_factory))
    if value is None:
        if default is not _MISSING:
            return default
        raise VariableNotFound(
            f"variable {key!r} does not exist (checked WINDSOCK_VAR_/AIRFLOW_VAR_ and the metastore)"
        )
    return json.loads(value) if deserialize_json else value


def _stored_variable(key: str, settings: Settings, factory: sessionmaker[Session]) -> str | None:
    from runtime.store.crypto import get_fernet
    from runtime.store.models import Variable
    from runtime.store.variables import variable_value

    with factory() as session:
        row = session.get(Variable, key)
        if row is None:
            return None
        return variable_value(row, get_fernet(settings) if row.is_encrypted else None)


def get_connection(
    conn_id: str, *, settings: Settings, session_factory: sessionmaker[Session] | None = None
) -> Connection:
    """The connection ``conn_id``; ConnectionNotFound if neither the environment nor the metastore has it."""
    for where, text in (("the secrets backend", _backend_lookup(settings, "connection", conn_id)),
                        ("the environment", _env_lookup(settings.environ, "CONN", conn_id))):
        if text is None:
            continue
        try:
            return Connection.from_uri(conn_id, text)
        except ValueError as exc:
            raise WindsockError(f"connection {conn_id!r} from {where} is not a valid URI or JSON: {exc}") from None
    conn = _stored_connection(conn_id, settings, _factory(settings, session_factory))
    if conn is None:
        raise ConnectionNotFound(
            f"connection {conn_id!r} is not defined (checked WINDSOCK_CONN_/AIRFLOW_CONN_ and the metastore)"
        )
    return conn


def _stored_connection(conn_id: str, settings: Settings, factory: sessionmaker[Session]) -> Connection | None:
    from runtime.store.connections import to_connection
    from runtime.store.crypto import get_fernet
    from runtime.store.models import ConnectionModel

    with factory() as session:
        row = session.get(ConnectionModel, conn_id)
        return None if row is None else to_connection(row, get_fernet(settings))
