"""Mistakes and hostile input on the command line: one line, a non-zero exit, nothing stored or broken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime.store.models import DagRun, Variable
from runtime.store.session import transaction
from tests.cli.test_dags_db_cli import cli, run  # noqa: F401 - fixture
from tests.scheduler.conftest import env, make  # noqa: F401 - fixtures
from tests.scheduler.helpers import Env

REPO = Path(__file__).resolve().parents[2]
DEEP = '{"a":' * 5000


def windsock(home: Path, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a fresh interpreter, on ``home``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW__"))}
    full = {**base, "WINDSOCK_HOME": str(home), "PYTHONPATH": str(REPO), **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "runtime.cli.main", *args], capture_output=True, text=True,
                          env=full, timeout=120)


def one_line(err: str) -> str:
    """The only line of ``err``; fails the test on a traceback or several lines."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def run_count(e: Env) -> int:
    with transaction(e.factory) as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(DagRun)) or 0)


# --- item 5: deeply nested --conf ---------------------------------------------------------------


def test_deeply_nested_conf_is_one_line_and_stores_no_run(cli: Env, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """``{"a":`` x 5000 (RecursionError in json) and 100 valid levels are both refused in one line."""
    for conf in (DEEP, "[" * 100 + "]" * 100):
        code, out, err = run(capsys, "dags", "trigger", "cli_dag", "--conf", conf)
        assert code == 1 and out == ""
        assert "--conf is nested too deeply" in one_line(err)
    assert run_count(cli) == 0
    code, out, _ = run(capsys, "dags", "trigger", "cli_dag", "--conf", '{"a": {"b": [1, {"c": 2}]}}')
    assert code == 0 and "Created run" in out  # ordinary nesting still works


def test_deep_json_in_variables_is_refused(cli: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:  # noqa: F811
    """``variables set -j`` and ``variables import`` refuse hostile nesting in one line, storing nothing."""
    code, _, err = run(capsys, "variables", "set", "v", DEEP, "-j")
    assert code == 1 and "nested too deeply" in one_line(err)
    bad = tmp_path / "vars.json"
    bad.write_text('{"v": ' + "[" * 3000 + "]" * 3000 + "}")
    code, _, err = run(capsys, "variables", "import", str(bad))
    assert code == 1 and "nested too deeply" in one_line(err) and str(bad) in err
    with transaction(cli.factory) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Variable)) == 0


def test_deep_json_in_dags_test_conf_is_one_line(tmp_path: Path) -> None:
    """The file-based path (``dags test --conf``) says the same, without naming an internal class."""
    done = windsock(tmp_path, "dags", "test", "example_windsock", "--conf", DEEP)
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert "nested too deeply" in line and "Error:" not in line


# --- item 8: -S that does not exist --------------------------------------------------------------


@pytest.mark.parametrize("args", [["dags", "list"], ["dags", "list-import-errors"], ["dags", "test", "x"],
                                  ["tasks", "list", "x"], ["dags", "show", "x"]])
def test_subdir_that_does_not_exist_is_an_error(tmp_path: Path, args: list[str]) -> None:
    """``-S /does/not/exist`` names the path and exits 1, instead of an empty table or "DAG not found"."""
    missing = tmp_path / "does" / "not" / "exist.py"
    done = windsock(tmp_path, *args, "-S", str(missing))
    assert done.returncode == 1 and done.stdout == ""
    assert one_line(done.stderr) == f"windsock: error: -S {missing}: no such file or folder"


# --- item 9: version and clean errors ---------------------------------------------------------------


def test_version_and_dash_dash_version(tmp_path: Path) -> None:
    """Both exist and say the version, Python, database (password masked) and executor."""
    url = "postgresql://alice:s3cret@db.example:5432/ws"
    extra = {"WINDSOCK__DATABASE__SQL_ALCHEMY_CONN": url, "WINDSOCK__CORE__EXECUTOR": "SequentialExecutor"}
    long = windsock(tmp_path, "version", extra_env=extra)
    assert long.returncode == 0
    fields = dict(line.split(None, 1) for line in long.stdout.splitlines())
    assert fields["windsock"] == "0.1.0" and fields["python"].startswith(f"{sys.version_info.major}.")
    assert fields["database"] == "postgresql://alice:***@db.example:5432/ws"
    assert fields["executor"] == "SequentialExecutor"
    short = windsock(tmp_path, "--version", extra_env=extra)
    assert short.returncode == 0 and len(short.stdout.splitlines()) == 1
    assert short.stdout.startswith("windsock 0.1.0 (Python ") and "SequentialExecutor" in short.stdout
    assert "s3cret" not in long.stdout + short.stdout


@pytest.mark.parametrize(("args", "expected"), [
    (["dags", "trigger"], "windsock dags trigger: error: the following arguments are required: dag_id"),
    (["nosuch"], "windsock: error: argument COMMAND: invalid choice: 'nosuch'"),
    (["tasks", "logs", "d", "t", "r", "--try", "x"], "windsock tasks logs: error: argument --try: invalid int value"),
])
def test_argparse_errors_are_one_clean_line(tmp_path: Path, args: list[str], expected: str) -> None:
    """No doubled ``windsock: error: windsock:`` prefix; exit 2 as argparse does."""
    done = windsock(tmp_path, *args)
    assert done.returncode == 2
    assert one_line(done.stderr).startswith(expected)


@pytest.mark.parametrize("args", [
    ["dags", "test", "example_windsock", "--conf", "{not json"],
    ["dags", "test", "example_windsock", "not-a-date"],
    ["dags", "list-runs", "example_windsock"],  # no database yet
    ["connections", "add", "c", "--conn-json", "[1, 2"],
    ["config", "get-value", "core", "nope"],
])
def test_user_errors_never_show_internal_class_names(tmp_path: Path, args: list[str]) -> None:
    """One ``windsock: error: ...`` line, exit 1, no ``UserError:``/``ConfigError:``/traceback."""
    done = windsock(tmp_path, *args)
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert line.startswith("windsock: error: ")
    assert not any(name in line for name in ("UserError", "ConfigError", "WindsockError", "RecursionError"))


# --- item 12: a paused DAG's run waits ------------------------------------------------------------------


def test_trigger_of_a_paused_dag_says_the_run_waits(cli: Env, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """The run is created queued, and a note says to unpause; an unpaused DAG gets no note."""
    code, out, err = run(capsys, "dags", "trigger", "cli_dag", "-r", "while_paused")
    assert code == 0 and "state queued" in out
    assert one_line(err) == ("note: DAG cli_dag is paused: the run waits until it is unpaused "
                             "(windsock dags unpause cli_dag)")
    run(capsys, "dags", "unpause", "cli_dag")
    code, out, err = run(capsys, "dags", "trigger", "cli_dag", "-r", "after_unpause")
    assert code == 0 and err == ""


def test_standalone_banner_does_not_claim_every_dag_starts_paused(tmp_path: Path) -> None:
    """The banner names the exception the bundled example uses (is_paused_upon_creation=False)."""
    from runtime.cli.scheduler_cmd import banner
    from runtime.settings import Settings
    from runtime.store.engine import make_engine

    settings = Settings(tmp_path, environ={"WINDSOCK_HOME": str(tmp_path)})
    engine = make_engine(f"sqlite:///{tmp_path / 'windsock.db'}")
    try:
        lines = "\n".join(banner(settings, engine, False))
    finally:
        engine.dispose()
    assert "is_paused_upon_creation=False" in lines and "bundled example" in lines


# --- item 14: logs of a task that never ran -------------------------------------------------------------

BRANCH = """
from airflow.operators.python import BranchPythonOperator
with DAG("branchy", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    pick = BranchPythonOperator(task_id="pick", python_callable=lambda: "taken")
    pick >> [EmptyOperator(task_id="taken"), BashOperator(task_id="not_taken", bash_command="echo no")]
"""


def test_logs_of_a_skipped_task_say_it_never_ran(cli: Env, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """``tasks logs`` of a skipped task explains itself; a task that ran still prints its log."""
    cli.write_dag("branchy", BRANCH)
    cli.sync()
    run_id = cli.trigger("branchy")
    cli.drive(cli.finished("branchy"))
    code, out, err = run(capsys, "tasks", "logs", "branchy", "not_taken", run_id)
    assert code == 1 and out == ""
    assert one_line(err) == (f"windsock: error: task 'not_taken' of run {run_id} was skipped and never ran, "
                             "so it has no log")
    code, out, _ = run(capsys, "tasks", "logs", "branchy", "pick", run_id)
    assert code == 0 and out
    code, _, err = run(capsys, "tasks", "logs", "branchy", "pick", run_id, "--try", "3")
    assert code == 1 and "has had 1 try(s); there is no try 3" in one_line(err)


def test_json_output_of_a_listing_stays_json_when_dag_files_print(tmp_path: Path) -> None:
    """What a DAG file prints while parsed goes to stderr, so ``-o json`` stays parseable."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "loud.py").write_text(
        "print('hello from a DAG file')\nimport pendulum\nfrom airflow import DAG\n"
        "from airflow.operators.empty import EmptyOperator\n"
        "with DAG('loud', start_date=pendulum.datetime(2024, 1, 1), schedule=None):\n"
        "    EmptyOperator(task_id='t')\n")
    done = windsock(tmp_path, "dags", "list", "-S", str(dags), "-o", "json",
                    extra_env={"WINDSOCK__CORE__LOAD_EXAMPLES": "false"})
    assert done.returncode == 0
    assert [d["dag_id"] for d in json.loads(done.stdout)] == ["loud"]
    assert "hello from a DAG file" in done.stderr
