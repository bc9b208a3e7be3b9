"""``windsock db ...`` in-process, on both backends."""

from __future__ import annotations

import io

import pytest

from runtime.store import db
from tests import services
from tests.cli.store_cli_helpers import cli_env, run  # noqa: F401  (cli_env is a fixture)


@pytest.mark.usefixtures("cli_env")
def test_init_then_check(capsys) -> None:
    """init reports the head revision; check confirms it."""
    code, out, _ = run(capsys, "db", "init")
    assert code == 0 and db.head_revision() in out
    code, out, _ = run(capsys, "db", "check")
    assert code == 0 and f"revision {db.head_revision()}" in out


@pytest.mark.usefixtures("cli_env")
def test_upgrade_is_a_no_op_at_head(capsys) -> None:
    """upgrade on an up-to-date database succeeds."""
    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0 and "Upgraded" in out


@pytest.mark.usefixtures("cli_env")
def test_reset_with_yes_wipes_data(capsys) -> None:
    """reset -y drops data without asking."""
    assert run(capsys, "pools", "set", "p", "3", "d")[0] == 0
    code, out, _ = run(capsys, "db", "reset", "-y")
    assert code == 0 and "Reset" in out
    assert run(capsys, "pools", "get", "p")[0] == 1


@pytest.mark.usefixtures("cli_env")
def test_reset_asks_and_a_no_keeps_data(capsys, monkeypatch) -> None:
    """Without -y, anything but y cancels with exit 1 and keeps the data."""
    assert run(capsys, "pools", "set", "p", "3", "d")[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, _, err = run(capsys, "db", "reset")
    assert code == 1 and "cancelled" in err
    assert run(capsys, "pools", "get", "p")[0] == 0


def test_check_on_empty_database_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    """A database never initialised: exit 1 and one line telling to run db init."""
    monkeypatch.setenv("WINDSOCK_HOME", str(tmp_path))
    monkeypatch.setenv("WINDSOCK__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{tmp_path / 'new.db'}")
    code, out, err = run(capsys, "db", "check")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "windsock db init" in err


def test_check_unreachable_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    """Nothing listening: exit 1, one line, no traceback."""
    monkeypatch.setenv("WINDSOCK_HOME", str(tmp_path))
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{services.free_port()}/x"
    monkeypatch.setenv("WINDSOCK__DATABASE__SQL_ALCHEMY_CONN", url)
    code, _, err = run(capsys, "db", "check")
    assert code == 1 and err.count("\n") == 1 and "unreachable" in err and "Traceback" not in err


def test_commands_on_uninitialised_database_say_db_init(tmp_path, monkeypatch, capsys) -> None:
    """Store commands before db init: one line pointing at db init."""
    monkeypatch.setenv("WINDSOCK_HOME", str(tmp_path))
    monkeypatch.setenv("WINDSOCK__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{tmp_path / 'new.db'}")
    code, _, err = run(capsys, "variables", "list")
    assert code == 1 and "windsock db init" in err and err.count("\n") == 1
