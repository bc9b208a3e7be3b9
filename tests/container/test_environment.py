"""The component's environment: DB URL and fernet key built from ECS secrets, raw secrets removed."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from runtime.container.environment import component_environment, database_url, fernet_key, redacted
from runtime.errors import ConfigError

ECS_ENV = {
    "WINDSOCK_DB_HOST": "db.abc.us-east-1.rds.amazonaws.com",
    "WINDSOCK_DB_PORT": "5432",
    "WINDSOCK_DB_NAME": "windsock",
    "WINDSOCK_DB_USER": "windsock",
    "WINDSOCK_DB_PASSWORD": "p@ss:w/rd?#%",
    "WINDSOCK_FERNET_SECRET": "x" * 64,
    "WINDSOCK_S3_BUCKET": "bucket",
}


def test_database_url_quotes_the_generated_password() -> None:
    """Any character Secrets Manager generates survives in the SQLAlchemy URL."""
    url = database_url(ECS_ENV)
    assert (
        url
        == "postgresql+psycopg2://windsock:p%40ss%3Aw%2Frd%3F%23%25@db.abc.us-east-1.rds.amazonaws.com:5432/windsock"
    )
    from sqlalchemy.engine import make_url

    assert make_url(url).password == ECS_ENV["WINDSOCK_DB_PASSWORD"]


def test_no_db_host_means_no_url() -> None:
    """Outside ECS (no WINDSOCK_DB_HOST) the runtime keeps its own database setting."""
    assert database_url({"WINDSOCK_S3_BUCKET": "b"}) is None


def test_incomplete_db_settings_name_the_missing_keys() -> None:
    """A host without a password is a configuration error naming what is missing."""
    env = {k: v for k, v in ECS_ENV.items() if k != "WINDSOCK_DB_PASSWORD"}
    with pytest.raises(ConfigError, match="WINDSOCK_DB_PASSWORD"):
        database_url(env)


def test_fernet_key_is_derived_from_secret_material_and_kept_when_already_valid() -> None:
    """64 random chars become a valid Fernet key (stable); a real Fernet key is used unchanged."""
    derived = fernet_key("x" * 64)
    assert derived == fernet_key("x" * 64)
    Fernet(derived.encode())
    real = Fernet.generate_key().decode()
    assert fernet_key(real) == real


def test_component_environment_replaces_raw_secrets_with_settings() -> None:
    """The child sees WINDSOCK__DATABASE__SQL_ALCHEMY_CONN and the fernet key, not the raw secrets."""
    env = component_environment(ECS_ENV)
    assert "WINDSOCK_DB_PASSWORD" not in env and "WINDSOCK_FERNET_SECRET" not in env
    assert env["WINDSOCK__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://windsock:")
    Fernet(env["WINDSOCK__CORE__FERNET_KEY"].encode())
    assert env["WINDSOCK_S3_BUCKET"] == "bucket"


def test_explicit_settings_win_over_built_ones() -> None:
    """An operator-set SQL_ALCHEMY_CONN or fernet key is not overwritten."""
    env = component_environment({**ECS_ENV, "WINDSOCK__DATABASE__SQL_ALCHEMY_CONN": "sqlite://"})
    assert env["WINDSOCK__DATABASE__SQL_ALCHEMY_CONN"] == "sqlite://"


def test_redacted_hides_every_secret_value() -> None:
    """What may be logged has no password, URL with password or key."""
    shown = redacted(component_environment(ECS_ENV) | {"WINDSOCK_DB_PASSWORD": "p"})
    text = repr(shown)
    assert ECS_ENV["WINDSOCK_DB_PASSWORD"] not in text and "p%40ss" not in text
    assert shown["WINDSOCK__CORE__FERNET_KEY"] == "***"
