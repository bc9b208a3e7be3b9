"""The file-based CLI (``dags test|list|show``, ``tasks test|list|render``) on the seed's DAGs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).parent.parent / "dags"


def windsock(*args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed ``windsock`` command (or the module when not installed)."""
    exe = shutil.which("windsock")
    cmd = [exe] if exe else [sys.executable, "-m", "runtime.cli.main"]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "WINDSOCK__"))}
    full_env = {**base, "WINDSOCK_HOME": str(home), **(env or {})}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def test_quick_start_runs_the_bundled_example(tmp_path: Path) -> None:
    """With an empty WINDSOCK_HOME the bundled example DAG runs (README quick start)."""
    done = windsock("dags", "test", "example_windsock", home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sum of squares: 14" in done.stdout and "finished: success" in done.stdout


def test_seed_ct1_runs_unchanged(tmp_path: Path) -> None:
    """The seed's ct1 (1.x imports, templated bash) passes dags test at its start date (08:30: as in Airflow,
    a run at midnight that day would have no task instances, since the tasks start later)."""
    done = windsock("dags", "test", "ct1", "2016-05-29T08:30:00", "-S", str(DAGS), home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert lines.count("2016-05-29") == 2 and lines.count("2016-06-05") == 2
    assert lines.count("Parameter I passed in") == 2 and "test" in lines
    for task in ("print_date", "echo", "templated"):
        assert f"  {task}: success" in done.stdout


def test_seed_ct2_runs_its_scripts(tmp_path: Path) -> None:
    """ct2 runs run1.sh then run2.sh (paths replaced by $CT_HOME)."""
    home = tmp_path / "ct"
    shutil.copytree(DAGS / "ct_home", home)
    done = windsock("dags", "test", "ct2", "-S", str(DAGS), home=tmp_path, env={"CT_HOME": str(home)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert (home / "test" / "ct_t1.out").read_text().splitlines()[0] == "A\t53"
    assert (home / "test" / "ct_t1.count").read_text().strip() == "4"


def test_tasks_test_like_the_seed(tmp_path: Path) -> None:
    """``airflow test ct1 print_date 2016-05-14`` becomes ``windsock tasks test ...``."""
    done = windsock("tasks", "test", "ct1", "templated", "2016-05-14", "-S", str(DAGS), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2016-05-21" in done.stdout


def test_list_show_and_tree(tmp_path: Path) -> None:
    listed = windsock("dags", "list", "-S", str(DAGS), "-o", "json", home=tmp_path)
    assert {d["dag_id"] for d in json.loads(listed.stdout)} >= {"ct1", "ct2"}
    tree = windsock("tasks", "list", "ct1", "--tree", "-S", str(DAGS), home=tmp_path)
    assert tree.stdout.splitlines()[0] == "<Task(BashOperator): print_date>"
    assert "    <Task(BashOperator): templated>" in tree.stdout
    show = windsock("dags", "show", "ct1", "-S", str(DAGS), home=tmp_path)
    assert '"print_date" -> "echo";' in show.stdout


def test_render_prints_the_templated_command(tmp_path: Path) -> None:
    done = windsock("tasks", "render", "ct1", "templated", "2016-05-29", "-S", str(DAGS), home=tmp_path)
    assert done.returncode == 0 and "2016-06-05" in done.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["dags", "test", "no_such_dag"], "DAG 'no_such_dag' not found"),
        (["dags", "test", "ct1", "yesterday-ish"], "logical_date"),
        (["dags", "test", "ct1", "--conf", "{not json"], "--conf is not valid JSON"),
        (["tasks", "test", "ct1", "nope", "2016-05-14"], "task 'nope' not found"),
        (["dags", "show", "ct9"], "not found"),
    ],
)
def test_user_mistakes_are_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    """A user mistake prints one line naming the problem and exits non-zero, no traceback."""
    done = windsock(*args, "-S", str(DAGS), home=tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and words in done.stderr


def test_dags_folder_from_airflow_env(tmp_path: Path) -> None:
    """AIRFLOW__CORE__DAGS_FOLDER chooses the folder when -S is not given."""
    done = windsock("dags", "list", "-o", "json", home=tmp_path, env={"AIRFLOW__CORE__DAGS_FOLDER": str(DAGS), "AIRFLOW__CORE__LOAD_EXAMPLES": "false"})
    assert {d["dag_id"] for d in json.loads(done.stdout)} == {"ct1", "ct2"}


def test_failed_dag_exits_non_zero(tmp_path: Path) -> None:
    dag = tmp_path / "dags" / "fails.py"
    dag.parent.mkdir()
    dag.write_text(
        "import pendulum\nfrom airflow import DAG\nfrom airflow.operators.bash import BashOperator\n"
        "with DAG('fails', start_date=pendulum.datetime(2024, 1, 1), schedule=None):\n"
        "    BashOperator(task_id='boom', bash_command='exit 4')\n"
    )
    done = windsock("dags", "test", "fails", "-S", str(dag.parent), home=tmp_path)
    assert done.returncode == 1 and "boom: failed" in done.stdout
