"""The Fernet key is never replaced silently, and one undecryptable row never hides the others."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from runtime.errors import ConfigError
from runtime.store.crypto import get_fernet, key_source_problem
from runtime.store.models import ConnectionModel
from tests.hostile.test_cli_input import one_line, windsock


def _home_with_secrets(tmp_path: Path) -> Path:
    """A SQLite home with an encrypted connection, a plain one and an encrypted variable."""
    home = tmp_path / "home"
    for args in (["db", "init"], ["connections", "add", "x", "--conn-uri", "postgres://u:s3cret@h:5432/db"],
                 ["connections", "add", "plain", "--conn-uri", "http://api.example"],
                 ["variables", "set", "v", "value-v"]):
        done = windsock(home, *args)
        assert done.returncode == 0, done.stderr
    return home


def test_a_missing_key_file_is_refused_not_regenerated(tmp_path: Path) -> None:
    """Key file moved away: every command that needs it says so in one line; no new key is made."""
    home = _home_with_secrets(tmp_path)
    key = home / "fernet.key"
    key.rename(tmp_path / "fernet.key.moved")
    for args in (["connections", "list"], ["connections", "get", "x"], ["variables", "get", "v"],
                 ["connections", "add", "y", "--conn-uri", "http://u:p@h"]):
        done = windsock(home, *args)
        assert done.returncode == 1, args
        line = one_line(done.stderr)
        assert f"Fernet key file {key} is missing" in line and "2 value(s)" in line
        assert not key.exists()
    assert windsock(home, "connections", "delete", "plain").returncode == 0  # needs no key
    (tmp_path / "fernet.key.moved").rename(key)
    done = windsock(home, "connections", "get", "x", "-o", "json")
    assert done.returncode == 0 and '"password": "***"' in done.stdout and "s3cret" not in done.stdout


def test_rows_a_new_key_cannot_read_are_listed_as_such(tmp_path: Path) -> None:
    """With another key configured, ``connections list`` still lists every row and marks the unreadable one."""
    home = _home_with_secrets(tmp_path)
    other = {"WINDSOCK__CORE__FERNET_KEY": Fernet.generate_key().decode()}
    done = windsock(home, "connections", "list", "-o", "json", extra_env=other)
    assert done.returncode == 0
    rows = {r["conn_id"]: r for r in __import__("json").loads(done.stdout)}
    assert rows["x"]["password"] == "<cannot decrypt>" and rows["x"]["host"] == "h"
    assert rows["plain"]["password"] is None and rows["plain"]["uri"] == "http://api.example"
    assert one_line(done.stderr) == ("windsock: warning: 1 connection(s) cannot be decrypted with the current "
                                     "Fernet key (it changed?): x")
    got = windsock(home, "connections", "get", "x", extra_env=other)
    assert got.returncode == 1
    assert one_line(got.stderr) == ("windsock: error: cannot decrypt connection 'x': the Fernet key changed or "
                                    "the value is corrupt")


def test_key_file_only_for_a_local_store_and_a_shared_one_needs_a_setting(store: Any, tmp_path: Path) -> None:
    """SQLite: the key file is made once (mode 0600) and reused. PostgreSQL: no key, no secrets, one clear error."""
    bare = store.settings.with_overrides(core__fernet_key="")
    if store.engine.dialect.name == "sqlite":
        first = get_fernet(bare)
        path = bare.home / "fernet.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert get_fernet(bare).decrypt(first.encrypt(b"x")) == b"x"
        assert key_source_problem(bare) is None
        return
    with pytest.raises(ConfigError, match=r"fernet_key .* is not set, and the metadata database is shared"):
        get_fernet(bare)
    assert not (bare.home / "fernet.key").exists()
    assert "set the same key on every host" in (key_source_problem(bare) or "")
    assert key_source_problem(store.settings) is None  # the test store has a configured key
    done = windsock(tmp_path / "cli", "connections", "add", "pg_x", "--conn-uri", "http://u:p@h",
                    extra_env={"WINDSOCK__DATABASE__SQL_ALCHEMY_CONN": store.url})
    assert done.returncode == 1 and "fernet_key" in one_line(done.stderr)
    with store.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ConnectionModel)) == 0
