"""Ids that reach a file path: a run id (or any id) cannot make Windsock write outside its root."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime.paths import UnsafePathError, check_run_id, safe_join, safe_relative, task_log_path
from runtime.store.models import DagRun, TaskInstance
from runtime.store.session import transaction
from tests.cli.test_dags_db_cli import cli, run  # noqa: F401 - fixture
from tests.scheduler.conftest import env, make  # noqa: F401 - fixtures
from tests.scheduler.helpers import Env

TRAVERSALS = ["../../../../../../tmp/x/ESCAPED", "..", ".", "a/../../b", "/abs/path", "a\x00b", "", "x" * 251,
              "has space", "semi;colon", "new\nline"]


@pytest.mark.parametrize("run_id", TRAVERSALS)
def test_bad_run_ids_are_refused(run_id: str) -> None:
    """Airflow's allowed_run_id_pattern: separators, dots-only names, NUL, spaces and long ids are refused."""
    with pytest.raises(Exception) as info:
        check_run_id(run_id)
    assert "run_id" in str(info.value)


@pytest.mark.parametrize("run_id", ["manual__2024-01-01T00:00:00+00:00", "scheduled__2024-01-01T00:00:00+00:00",
                                    "my-run_1.2~x", "backfill__2024-01-01T00:00:00+00:00"])
def test_generated_and_plain_run_ids_are_allowed(run_id: str) -> None:
    """Every id Windsock generates, and plain user ids, pass."""
    assert check_run_id(run_id) == run_id


@pytest.mark.parametrize("part", ["..", ".", "", "a/b", "a\x00", "/etc"])
def test_safe_join_refuses_components_that_leave_the_root(tmp_path: Path, part: str) -> None:
    """One guarded join for every id: a component may only be one plain name."""
    with pytest.raises(UnsafePathError):
        safe_join(str(tmp_path), "dag_id=x", part)


def test_task_log_path_stays_under_the_log_folder(tmp_path: Path) -> None:
    """Airflow's layout, and a traversal in any id is refused rather than resolved."""
    path = task_log_path(str(tmp_path), "d", "manual__1", "t", 2, 1)
    assert path == str(tmp_path / "dag_id=d" / "run_id=manual__1" / "task_id=t" / "map_index=2" / "attempt=1.log")
    for ids in (("d", "../../x", "t"), ("d", "r", "../t"), ("../d", "r", "t/..")):
        with pytest.raises(UnsafePathError):
            task_log_path(str(tmp_path), *ids, -1, 1)
    with pytest.raises(UnsafePathError):
        safe_relative(str(tmp_path), "../../etc/passwd", ".log")


def test_cli_trigger_refuses_a_traversing_run_id(cli: Env, capsys: pytest.CaptureFixture[str],  # noqa: F811
                                                 tmp_path: Path) -> None:
    """The reported attack: one line, exit 1, no run stored."""
    code, out, err = run(capsys, "dags", "trigger", "cli_dag", "-r", "../../../../../../tmp/x/ESCAPED")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "run_id" in err and "allowed_run_id_pattern" in err
    with transaction(cli.factory) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(DagRun)) == 0


def test_a_stored_traversing_run_id_never_writes_outside_the_logs(env: Env, tmp_path: Path) -> None:  # noqa: F811
    """Defence in depth: a run id that bypassed validation (an old row) fails its tries; nothing escapes."""
    env.write_dag("good", """
with DAG("good", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    BashOperator(task_id="t", bash_command="echo hi")
""")
    env.sync()
    escape = tmp_path / "escaped"
    evil = f"../../../../../../../../..{escape}/ESCAPED"
    run_id = env.trigger("good")
    with transaction(env.factory) as s:  # as if written by an older version without validation
        s.execute(sa.update(DagRun).where(DagRun.run_id == run_id).values(run_id=evil))
    env.drive(env.finished("good"))
    assert env.run_states("good") == ["failed"]
    with transaction(env.factory) as s:
        message = s.scalar(sa.select(TaskInstance.executor_message))
    assert "cannot be used in a file path" in message
    assert not escape.exists()
    assert all(str(p).startswith(str(tmp_path)) for p in (tmp_path / "logs").rglob("*"))
