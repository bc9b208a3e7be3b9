"""Secrets lookup: WINDSOCK_ env, then AIRFLOW_ env, then the metastore; clear errors when missing."""

from __future__ import annotations

import pytest

from runtime import secrets
from runtime.errors import WindsockError
from runtime.sdk.connection import Connection
from runtime.sdk.exceptions import AirflowNotFoundException
from runtime.settings import Settings
from runtime.store import connections, variables
from runtime.store.crypto import get_fernet


def _with_env(store, **env: str) -> Settings:
    """The store's settings with extra environment variables."""
    environ = {**store.settings.environ, **env}
    return Settings(store.settings.home, environ=environ).with_overrides(database__sql_alchemy_conn=store.url)


def _store_variable(store, key: str, value: str) -> None:
    with store.session_factory() as session:
        variables.set_variable(session, key, value, fernet=get_fernet(store.settings))
        session.commit()


def test_variable_from_metastore_decrypted(store) -> None:
    """An encrypted metastore variable comes back in plain text."""
    _store_variable(store, "region", "eu-west-1")
    got = secrets.get_variable("region", settings=store.settings, session_factory=store.session_factory)
    assert got == "eu-west-1"


def test_environment_wins_over_metastore(store) -> None:
    """WINDSOCK_VAR_ beats AIRFLOW_VAR_, which beats the metastore; the key is upper-cased."""
    _store_variable(store, "region", "from-db")
    airflow_only = _with_env(store, AIRFLOW_VAR_REGION="from-airflow-env")
    both = _with_env(store, AIRFLOW_VAR_REGION="from-airflow-env", WINDSOCK_VAR_REGION="from-windsock-env")
    factory = store.session_factory
    assert (
        secrets.get_variable("region", settings=airflow_only, session_factory=factory) == "from-airflow-env"
    )
    assert secrets.get_variable("region", settings=both, session_factory=factory) == "from-windsock-env"


def test_missing_variable(store) -> None:
    """Missing: VariableNotFound (a KeyError and a WindsockError) naming the key, unless a default is given."""
    kwargs = {"settings": store.settings, "session_factory": store.session_factory}
    with pytest.raises(secrets.VariableNotFound, match="'nope'") as info:
        secrets.get_variable("nope", **kwargs)
    assert isinstance(info.value, KeyError) and isinstance(info.value, WindsockError)
    assert secrets.get_variable("nope", default=None, **kwargs) is None


def test_variable_json(store) -> None:
    """deserialize_json parses the value wherever it came from."""
    settings = _with_env(store, AIRFLOW_VAR_CFG='{"a": [1, 2]}')
    got = secrets.get_variable(
        "cfg", settings=settings, session_factory=store.session_factory, deserialize_json=True
    )
    assert got == {"a": [1, 2]}


def test_default_session_factory_comes_from_settings(store) -> None:
    """Without a session factory the settings' own store is used."""
    _store_variable(store, "k", "v")
    assert secrets.get_variable("k", settings=store.settings) == "v"


def test_connection_from_env_uri_and_json(store) -> None:
    """AIRFLOW_CONN_ as a URI, WINDSOCK_CONN_ as JSON; the id is upper-cased for the lookup."""
    settings = _with_env(
        store,
        AIRFLOW_CONN_MY_DB="postgres://u:p@h:5432/db",
        WINDSOCK_CONN_API='{"conn_type": "http", "host": "api.example", "extra": {"k": 1}}',
    )
    db = secrets.get_connection("my_db", settings=settings, session_factory=store.session_factory)
    api = secrets.get_connection("api", settings=settings, session_factory=store.session_factory)
    assert (db.conn_type, db.login, db.password, db.port, db.schema) == ("postgres", "u", "p", 5432, "db")
    assert (api.conn_type, api.host, api.extra_dejson) == ("http", "api.example", {"k": 1})


def test_connection_env_before_metastore_then_metastore(store) -> None:
    """The environment shadows a stored connection; without it the stored one (decrypted) is returned."""
    with store.session_factory() as session:
        connections.set_connection(
            session, Connection("c", "http", host="db-host", password="pw"), fernet=get_fernet(store.settings)
        )
        session.commit()
    shadowed = _with_env(store, AIRFLOW_CONN_C="http://env-host")
    assert (
        secrets.get_connection("c", settings=shadowed, session_factory=store.session_factory).host
        == "env-host"
    )
    stored = secrets.get_connection("c", settings=store.settings, session_factory=store.session_factory)
    assert (stored.host, stored.password) == ("db-host", "pw")


def test_missing_connection(store) -> None:
    """Missing: ConnectionNotFound naming the id."""
    with pytest.raises(secrets.ConnectionNotFound, match="'nope'") as info:
        secrets.get_connection("nope", settings=store.settings, session_factory=store.session_factory)
    assert isinstance(info.value, KeyError) and isinstance(info.value, AirflowNotFoundException)


def test_bad_connection_in_env(store) -> None:
    """A malformed env connection is reported with its id."""
    settings = _with_env(store, AIRFLOW_CONN_BAD="no-scheme-here")
    with pytest.raises(WindsockError, match="'bad'"):
        secrets.get_connection("bad", settings=settings, session_factory=store.session_factory)
