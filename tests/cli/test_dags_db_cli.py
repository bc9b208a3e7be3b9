"""The metadata-DB CLI verbs, run in-process against a real store and a real scheduler."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from runtime.cli.main import main
from runtime.store.dags import DAG_TABLES
from runtime.store.models import DagModel, DagRun, Log
from runtime.store.session import transaction
from tests.scheduler.conftest import env, make, seq_env  # noqa: F401 - fixtures
from tests.scheduler.helpers import Env

BODY = """
with DAG("cli_dag", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False) as dag:
    a = BashOperator(task_id="a", bash_command="echo hello from a; echo conf={{ dag_run.conf['x'] }}")
    b = BashOperator(task_id="b", bash_command="echo b")
    a >> b
"""


@pytest.fixture
def cli(env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Env:  # noqa: F811
    """The scheduler env with the CLI pointed at the same store and log folder."""
    monkeypatch.setenv("WINDSOCK_HOME", str(tmp_path))
    monkeypatch.setenv("WINDSOCK__DATABASE__SQL_ALCHEMY_CONN", env.store.url)
    monkeypatch.setenv("WINDSOCK__LOGGING__BASE_LOG_FOLDER", str(tmp_path / "logs"))
    env.write_dag("cli_dag", BODY)
    env.sync(unpause=False)
    return env


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Call the CLI in-process; (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _run_done(e: Env, run_id: str) -> Any:
    def done() -> bool:
        with transaction(e.factory) as s:
            return s.scalar(sa.select(DagRun.state).where(DagRun.run_id == run_id)) in ("success", "failed")

    return done


def _paused(e: Env) -> bool:
    with transaction(e.factory) as s:
        return bool(s.get(DagModel, "cli_dag").is_paused)


def test_pause_unpause_and_audit(cli: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """New DAGs start paused (Airflow's default); pause/unpause flip it and are audited."""
    assert _paused(cli)
    assert run(capsys, "dags", "unpause", "cli_dag")[0] == 0 and not _paused(cli)
    assert run(capsys, "dags", "pause", "cli_dag")[0] == 0 and _paused(cli)
    with transaction(cli.factory) as s:
        events = list(s.scalars(sa.select(Log.event).where(Log.dag_id == "cli_dag").order_by(Log.id)))
    assert events == ["cli_unpause", "cli_pause"]


def test_trigger_run_inspect_clear_and_delete(cli: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """trigger -> the scheduler runs it -> state, list-runs, task states, logs, clear, delete."""
    run(capsys, "dags", "unpause", "cli_dag")
    code, out, _ = run(capsys, "dags", "trigger", "cli_dag", "--conf", '{"x": 41}', "-r", "r1", "-l", "2024-06-01")
    assert code == 0 and "Created run r1" in out
    code, _, err = run(capsys, "dags", "trigger", "cli_dag", "-r", "r1")
    assert code == 1 and "already exists" in err and len(err.strip().splitlines()) == 1
    cli.drive(_run_done(cli, "r1"))

    assert run(capsys, "dags", "state", "cli_dag", "r1")[1].strip() == "success"
    assert run(capsys, "dags", "state", "cli_dag", "2024-06-01")[1].strip() == "success"
    runs_json = json.loads(run(capsys, "dags", "list-runs", "cli_dag", "-o", "json")[1])
    assert ("r1", "success", "manual") in [(r["run_id"], r["state"], r["run_type"]) for r in runs_json]
    assert run(capsys, "tasks", "state", "cli_dag", "a", "r1")[1].strip() == "success"
    states = yaml.safe_load(run(capsys, "tasks", "states-for-dag-run", "cli_dag", "r1", "-o", "yaml")[1])
    assert {(s["task_id"], s["state"], s["try_number"]) for s in states} == {("a", "success", 1), ("b", "success", 1)}
    log = run(capsys, "tasks", "logs", "cli_dag", "a", "r1")[1]
    assert "hello from a" in log and "conf=41" in log

    code, out, _ = run(capsys, "tasks", "clear", "cli_dag", "-t", "^a$", "--downstream", "-r", "r1", "-y")
    assert code == 0 and "Cleared 2 task instance(s) in 1 run(s)" in out
    assert run(capsys, "tasks", "state", "cli_dag", "b", "r1")[1].strip() == "none"
    cli.drive(_run_done(cli, "r1"))
    states = json.loads(run(capsys, "tasks", "states-for-dag-run", "cli_dag", "r1", "-o", "json")[1])
    assert {(s["task_id"], s["state"], s["try_number"]) for s in states} == {("a", "success", 2), ("b", "success", 2)}

    code, out, _ = run(capsys, "dags", "delete", "cli_dag", "-y")
    assert code == 0 and "Removed DAG cli_dag" in out
    with transaction(cli.factory) as s:
        left = {t.name: s.scalar(sa.select(sa.func.count()).select_from(t).where(t.c.dag_id == "cli_dag")) for t in DAG_TABLES}
    assert set(left.values()) == {0}


def test_next_execution(cli: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """next-execution prints the next logical dates of the schedule."""
    code, out, err = run(capsys, "dags", "next-execution", "cli_dag", "-n", "2")
    first, second = out.split()
    assert code == 0 and "PAUSED" in err
    assert first.endswith("T00:00:00+00:00") and second > first


def test_only_failed_clear(cli: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """clear --only-failed leaves successful task instances alone."""
    cli.write_dag("cli_fail", """
with DAG("cli_fail", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    BashOperator(task_id="ok", bash_command="true") >> BashOperator(task_id="bad", bash_command="exit 2")
""")
    cli.sync()
    run(capsys, "dags", "trigger", "cli_fail", "-r", "f1")
    cli.drive(_run_done(cli, "f1"))
    code, out, _ = run(capsys, "tasks", "clear", "cli_fail", "--only-failed", "-y")
    assert code == 0 and "Cleared 1 task instance(s)" in out
    with transaction(cli.factory) as s:
        assert s.scalar(sa.select(DagRun.state).where(DagRun.run_id == "f1")) == "queued"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["dags", "pause", "nope"], "DAG 'nope' is not in the metadata database"),
        (["dags", "state", "cli_dag", "no_run"], "has no run 'no_run'"),
        (["dags", "trigger", "cli_dag", "--conf", "[1]"], "--conf must be a JSON object"),
        (["tasks", "clear", "cli_dag", "-t", "(", "-y"], "not a valid regular expression"),
        (["tasks", "clear", "cli_dag", "-t", "zzz", "-y"], "no task of 'cli_dag' matches"),
        (["dags", "list-runs"], "needs a DAG id"),
    ],
)
def test_user_mistakes(cli: Env, capsys: pytest.CaptureFixture[str], args: list[str], words: Any) -> None:
    """Each mistake: exit 1 and one line on stderr naming the problem."""
    code, _, err = run(capsys, *args)
    assert code == 1 and words in err and len(err.strip().splitlines()) == 1
