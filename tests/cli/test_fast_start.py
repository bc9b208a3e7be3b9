"""The CLI starts fast: each command imports only what it uses (checked in sys.modules, never timed)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.cli.main import REGISTERS, CommandTree, build_parser, main

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "jinja2", "runtime.sdk", "pendulum", "croniter", "boto3", "alembic", "cryptography")

# Runs a command in-process, then prints which modules under the given prefixes it imported.
PROBE = """
import json, sys
from runtime.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted({name for name in sys.modules for top in %r if name == top or name.startswith(top + ".")})
print("\\n" + json.dumps({"code": code, "heavy": heavy}))
"""


def loaded(tmp_path: Path, prefixes: tuple[str, ...], *args: str) -> tuple[int, set[str]]:
    """Exit code of ``windsock ARGS`` in a fresh interpreter and the modules under ``prefixes`` it loaded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW__"))}
    env.update(WINDSOCK_HOME=str(tmp_path), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", PROBE % (prefixes,), *args], capture_output=True, text=True,
                          env=env, timeout=60)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["code"], set(report["heavy"])


def imported(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """Exit code of ``windsock ARGS`` in a fresh interpreter and the heavy top-level modules it loaded."""
    code, names = loaded(tmp_path, HEAVY, *args)
    return code, {top for top in HEAVY if any(name == top or name.startswith(top + ".") for name in names)}


def test_help_imports_no_sqlalchemy_jinja2_or_sdk(tmp_path: Path) -> None:
    """``windsock --help`` builds the whole parser without loading SQLAlchemy, Jinja2, the SDK or boto3."""
    code, heavy = imported(tmp_path, "--help")
    assert code == 0
    assert heavy == set()


@pytest.mark.parametrize("args", [["version"], ["--version"], ["config", "list"], ["config", "get-value", "core", "executor"],
                                  ["dags", "--help"], ["sync", "status"]])
def test_commands_that_read_only_settings_load_nothing_heavy(tmp_path: Path, args: list[str]) -> None:
    """version, config and sync status need only the settings: no database library, no SDK."""
    code, heavy = imported(tmp_path, *args)
    assert code == 0
    assert heavy == set()


def _init_store(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW__"))}
    env.update(WINDSOCK_HOME=str(tmp_path), PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-m", "runtime.cli.main", "db", "init"], env=env, check=True,
                   capture_output=True, timeout=60)


def test_db_verbs_load_the_store_but_not_the_sdk(tmp_path: Path) -> None:
    """``dags list-runs X`` loads SQLAlchemy for the store, never Jinja2, the SDK or pendulum."""
    _init_store(tmp_path)
    code, heavy = imported(tmp_path, "dags", "list-runs", "no_such_dag")
    assert code == 1  # the DAG is not there: one line, exit 1
    assert heavy == {"sqlalchemy"}


def test_a_trigger_loads_no_jinja2(home_with_a_run: Path) -> None:
    """``dags trigger`` reads the serialized DAG (its timetable and params) and writes a run: the SDK's DAG
    module is loaded, Jinja2 — which only rendering a template needs — is not."""
    code, heavy = imported(home_with_a_run, "dags", "trigger", "example_windsock", "-r", "jinja-free")
    assert code == 0
    assert "runtime.sdk" in heavy and "jinja2" not in heavy


ORM_AND_POSTGRES = ("sqlalchemy.orm", "sqlalchemy.dialects.postgresql", "runtime.store.models")


@pytest.fixture(scope="module")
def home_with_a_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite home with the example DAG parsed and one manual run ``r1`` (made by other processes)."""
    home = tmp_path_factory.mktemp("fast-start-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW__"))}
    env.update(WINDSOCK_HOME=str(home), PYTHONPATH=str(REPO))
    for args in (["db", "init"], ["dag-processor", "-n", "1"], ["dags", "trigger", "example_windsock", "-r", "r1"]):
        subprocess.run([sys.executable, "-m", "runtime.cli.main", *args], env=env, check=True, capture_output=True,
                       timeout=120)
    return home


@pytest.mark.parametrize(("args", "exit_code"), [
    (["dags", "list-runs", "example_windsock"], 0), (["dags", "list-runs", "-d", "example_windsock", "-o", "json"], 0),
    (["dags", "state", "example_windsock", "r1"], 0), (["dags", "list-runs", "no_such_dag"], 1),
    (["tasks", "state", "example_windsock", "start", "r1"], 1),  # queued run: no task instance yet, one line
    (["tasks", "states-for-dag-run", "example_windsock", "r1", "-o", "yaml"], 0),
    (["tasks", "logs", "example_windsock", "start", "r1"], 1)])  # no try yet: one line saying so
def test_read_verbs_on_sqlite_query_through_core(home_with_a_run: Path, args: list[str], exit_code: int) -> None:
    """The read-only verbs on SQLite load neither the ORM (models, mapper set-up) nor the PostgreSQL dialect."""
    code, names = loaded(home_with_a_run, ORM_AND_POSTGRES, *args)
    assert code == exit_code
    assert names == set()


@pytest.mark.parametrize("module", list(REGISTERS))
def test_each_command_module_registers_the_commands_main_expects(module: str) -> None:
    """``windsock NAME`` registers only the modules listed for NAME: the list must be what each one adds."""
    tree = CommandTree(argparse.ArgumentParser(prog="windsock"))
    importlib.import_module(module).register(tree)
    assert set(tree._top.choices) == set(REGISTERS[module])


def test_a_command_loads_only_its_own_command_modules(tmp_path: Path) -> None:
    """``dags list-runs`` registers the ``dags`` modules, not the scheduler's, the web server's or the container's."""
    _init_store(tmp_path)
    code, names = loaded(tmp_path, ("runtime.cli", "runtime.container", "dag_sync", "runtime.procs"),
                         "dags", "list-runs", "no_such_dag")
    assert code == 1
    own = {m for m, commands in REGISTERS.items() if "dags" in commands}
    assert {m for m in names if m in REGISTERS} == own
    assert "runtime.procs" not in names and "runtime.container.cli" not in names


def test_help_and_unknown_commands_still_see_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """The top-level help and the error for a mistyped command list all commands, as before."""
    with pytest.raises(SystemExit) as exc:
        main(["dgas"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert all(name in err for commands in REGISTERS.values() for name in commands)
    assert set(build_parser()._subparsers._group_actions[0].choices) == {  # type: ignore[union-attr]
        name for commands in REGISTERS.values() for name in commands}
