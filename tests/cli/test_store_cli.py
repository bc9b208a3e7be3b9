"""``windsock variables|connections|pools ...`` in-process, on both backends."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
import yaml

from runtime.store.models import ConnectionModel, Log, Variable
from tests.cli.store_cli_helpers import cli_env, run  # noqa: F401  (cli_env is a fixture)

pytestmark = pytest.mark.usefixtures("cli_env")


def _events(store) -> list[str]:
    with store.session_factory() as session:
        return list(session.scalars(sa.select(Log.event).order_by(Log.id)))


# --- variables ---


def test_variables_set_get_delete(store, capsys) -> None:
    """set then get prints the value; delete removes it; each mutation is audited with the user."""
    assert run(capsys, "variables", "set", "region", "eu-west-1", "--description", "where")[0] == 0
    assert run(capsys, "variables", "get", "region") == (0, "eu-west-1\n", "")
    assert run(capsys, "variables", "delete", "region")[0] == 0
    code, out, err = run(capsys, "variables", "get", "region")
    assert (code, out) == (1, "") and "'region'" in err and err.count("\n") == 1
    assert _events(store) == ["cli_variables_set", "cli_variables_delete"]
    with store.session_factory() as session:
        assert all(owner for owner in session.scalars(sa.select(Log.owner)))


def test_variables_value_is_encrypted_at_rest(store, capsys) -> None:
    """The CLI stores variables encrypted with the home's Fernet key."""
    run(capsys, "variables", "set", "token", "hunter2")
    with store.engine.connect() as conn:
        val, encrypted = conn.execute(sa.select(Variable.val, Variable.is_encrypted)).one()
    assert encrypted and "hunter2" not in val


def test_variables_get_default_and_json(store, capsys) -> None:
    """--default covers a missing key; -j parses and pretty-prints JSON; set -j refuses non-JSON."""
    assert run(capsys, "variables", "get", "nope", "--default", "fallback") == (0, "fallback\n", "")
    assert run(capsys, "variables", "set", "cfg", '{"a": 1}', "-j")[0] == 0
    code, out, _ = run(capsys, "variables", "get", "cfg", "-j")
    assert code == 0 and json.loads(out) == {"a": 1}
    code, _, err = run(capsys, "variables", "set", "bad", "{not json", "-j")
    assert code == 1 and "JSON" in err


def test_variables_delete_missing_is_a_user_error(store, capsys) -> None:
    """Deleting an unknown key: exit 1, one line."""
    code, _, err = run(capsys, "variables", "delete", "ghost")
    assert code == 1 and "ghost" in err and err.count("\n") == 1


def test_variables_list_json_and_yaml(store, capsys) -> None:
    """-o json and -o yaml parse back to the keys."""
    run(capsys, "variables", "set", "b", "2")
    run(capsys, "variables", "set", "a", "1", "--description", "first")
    code, out, _ = run(capsys, "variables", "list", "-o", "json")
    assert code == 0 and json.loads(out) == [
        {"key": "a", "description": "first"},
        {"key": "b", "description": None},
    ]
    code, out, _ = run(capsys, "variables", "list", "-o", "yaml")
    assert code == 0 and [row["key"] for row in yaml.safe_load(out)] == ["a", "b"]
    code, out, _ = run(capsys, "variables", "list")
    assert code == 0 and out.splitlines()[0].split() == ["key", "|", "description"]


def test_variables_export_import_roundtrip(store, capsys, tmp_path) -> None:
    """export writes Airflow's JSON; import of that file restores the same values."""
    run(capsys, "variables", "set", "s", "text")
    run(capsys, "variables", "set", "n", '{"x": [1, 2]}')
    path = tmp_path / "vars.json"
    assert run(capsys, "variables", "export", str(path))[0] == 0
    assert json.loads(path.read_text()) == {"n": {"x": [1, 2]}, "s": "text"}
    run(capsys, "variables", "delete", "s")
    run(capsys, "variables", "delete", "n")
    code, out, _ = run(capsys, "variables", "import", str(path))
    assert code == 0 and "2 of 2" in out
    assert run(capsys, "variables", "get", "s")[1] == "text\n"
    assert json.loads(run(capsys, "variables", "get", "n")[1]) == {"x": [1, 2]}


def test_variables_import_existing_key_actions(store, capsys, tmp_path) -> None:
    """skip keeps the old value; fail stops with exit 1 and writes nothing."""
    run(capsys, "variables", "set", "k", "old")
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"k": "new", "other": {"value": "o", "description": "d"}}))
    assert run(capsys, "variables", "import", str(path), "-a", "skip")[0] == 0
    assert run(capsys, "variables", "get", "k")[1] == "old\n"
    assert run(capsys, "variables", "get", "other")[1] == "o\n"
    run(capsys, "variables", "delete", "other")
    code, _, err = run(capsys, "variables", "import", str(path), "-a", "fail")
    assert code == 1 and "'k'" in err
    assert run(capsys, "variables", "get", "other")[0] == 1


def test_variables_import_bad_file(store, capsys, tmp_path) -> None:
    """Missing file, invalid JSON, or not an object: exit 1 with one line."""
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    for path in (tmp_path / "missing.json", bad, broken):
        code, _, err = run(capsys, "variables", "import", str(path))
        assert code == 1 and err.count("\n") == 1, err


# --- connections ---


def test_connections_add_get_list_mask_password(store, capsys) -> None:
    """The password is stored encrypted and never printed by add, get or list."""
    code, out, _ = run(capsys, "connections", "add", "pg", "--conn-uri", "postgres://bob:s3cret@db:5432/app")
    assert code == 0 and "s3cret" not in out
    code, out, _ = run(capsys, "connections", "get", "pg", "-o", "json")
    (row,) = json.loads(out)
    assert code == 0 and "s3cret" not in out
    assert (row["conn_type"], row["host"], row["login"], row["port"], row["schema"]) == (
        "postgres",
        "db",
        "bob",
        5432,
        "app",
    )
    assert row["password"] == "***"
    assert row["uri"] == "postgres://bob:***@db:5432/app"
    code, out, _ = run(capsys, "connections", "list", "-o", "yaml")
    assert code == 0 and "s3cret" not in out and yaml.safe_load(out)[0]["conn_id"] == "pg"
    code, out, _ = run(capsys, "connections", "list")
    assert code == 0 and "s3cret" not in out and "pg" in out
    with store.engine.connect() as conn:
        assert "s3cret" not in conn.execute(sa.select(ConnectionModel.password)).scalar_one()
    assert _events(store) == ["cli_connections_add"]


def test_connections_add_from_fields_and_json(store, capsys) -> None:
    """--conn-type with fields, and --conn-json, both store what was given."""
    argv = ["--conn-type", "http", "--conn-host", "api", "--conn-port", "8080", "--conn-extra", '{"v": 1}']
    assert run(capsys, "connections", "add", "h", *argv)[0] == 0
    assert (
        run(capsys, "connections", "add", "j", "--conn-json", '{"conn_type": "s3", "extra": {"r": "eu"}}')[0]
        == 0
    )
    code, out, _ = run(capsys, "connections", "list", "-o", "json")
    rows = {r["conn_id"]: r for r in json.loads(out)}
    assert (rows["h"]["host"], rows["h"]["port"], json.loads(rows["h"]["extra"])) == ("api", 8080, {"v": 1})
    assert (rows["j"]["conn_type"], json.loads(rows["j"]["extra"])) == ("s3", {"r": "eu"})


def test_connections_user_mistakes(store, capsys) -> None:
    """Duplicates, missing type, bad port/extra, unknown ids: exit 1 with one line each."""
    run(capsys, "connections", "add", "c", "--conn-type", "http")
    mistakes = [
        ["connections", "add", "c", "--conn-type", "http"],
        ["connections", "add", "x", "--conn-host", "h"],
        ["connections", "add", "x", "--conn-type", "http", "--conn-port", "eighty"],
        ["connections", "add", "x", "--conn-type", "http", "--conn-extra", "{bad"],
        ["connections", "add", "x", "--conn-uri", "no-scheme"],
        ["connections", "add", "x", "--conn-uri", "http://h", "--conn-host", "h"],
        ["connections", "get", "ghost"],
        ["connections", "delete", "ghost"],
    ]
    for argv in mistakes:
        code, _, err = run(capsys, *argv)
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, argv


def test_connections_delete(store, capsys) -> None:
    """delete removes it and is audited."""
    run(capsys, "connections", "add", "c", "--conn-type", "http")
    assert run(capsys, "connections", "delete", "c")[0] == 0
    assert run(capsys, "connections", "get", "c")[0] == 1
    assert _events(store) == ["cli_connections_add", "cli_connections_delete"]


# --- pools ---


def test_pools_set_get_list_delete(store, capsys) -> None:
    """Pools round-trip through -o json/yaml; delete is audited."""
    assert run(capsys, "pools", "set", "etl", "4", "nightly loads")[0] == 0
    code, out, _ = run(capsys, "pools", "get", "etl", "-o", "json")
    assert code == 0 and json.loads(out) == [
        {"pool": "etl", "slots": 4, "description": "nightly loads", "occupied_slots": 0}
    ]
    code, out, _ = run(capsys, "pools", "list", "-o", "yaml")
    assert code == 0 and [(r["pool"], r["slots"]) for r in yaml.safe_load(out)] == [
        ("default_pool", 128),
        ("etl", 4),
    ]
    assert run(capsys, "pools", "delete", "etl")[0] == 0
    assert _events(store) == ["cli_pools_set", "cli_pools_delete"]


def test_pools_user_mistakes(store, capsys) -> None:
    """default_pool cannot go; unknown pools and negative slots are one-line errors; non-numbers are usage errors."""
    for argv in (
        ["pools", "delete", "default_pool"],
        ["pools", "get", "ghost"],
        ["pools", "delete", "ghost"],
        ["pools", "set", "p", "-5", "d"],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 1 and err.count("\n") == 1, argv
    try:
        code = run(capsys, "pools", "set", "p", "many", "d")[0]
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2
