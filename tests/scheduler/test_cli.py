"""The CLI as users run it: ``dags backfill``, ``tasks run`` and ``standalone`` in real subprocesses."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from runtime.store.models import DagModel, DagRun, TaskInstance
from runtime.store.session import transaction

REPO = Path(__file__).resolve().parents[2]
CT1 = REPO / "tests" / "dags" / "ct1.py"


def _env(store, tmp_path, dags):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW"))}
    env.update(WINDSOCK_HOME=str(tmp_path / "home"), WINDSOCK__DATABASE__SQL_ALCHEMY_CONN=store.url,
               WINDSOCK__CORE__DAGS_FOLDER=str(dags), WINDSOCK__CORE__LOAD_EXAMPLES="false",
               WINDSOCK__SCHEDULER__DAG_DIR_LIST_INTERVAL="0.5", PYTHONPATH=str(REPO))
    return env


def _windsock(env, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "runtime.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _daily(dags: Path) -> None:
    dags.mkdir(exist_ok=True)
    (dags / "bf.py").write_text(
        "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.operators.bash import BashOperator\n"
        "with DAG('bf', start_date=datetime(2024, 1, 1), schedule='@daily', catchup=False) as dag:\n"
        "    a = BashOperator(task_id='a', bash_command='echo {{ ds }}')\n"
        "    b = BashOperator(task_id='b', bash_command='echo done')\n"
        "    a >> b\n")


def test_backfill_runs_every_interval_in_the_range(store, tmp_path):
    dags = tmp_path / "dags"
    _daily(dags)
    env = _env(store, tmp_path, dags)
    done = _windsock(env, "dags", "backfill", "bf", "-s", "2024-01-02", "-e", "2024-01-04")
    assert done.returncode == 0, done.stderr
    assert "3/3 runs done" in done.stderr
    with transaction(store.session_factory) as s:
        rows = s.execute(sa.select(DagRun.logical_date, DagRun.run_type, DagRun.state).where(DagRun.dag_id == "bf")
                         .order_by(DagRun.logical_date)).all()
        tis = s.scalars(sa.select(TaskInstance.state).where(TaskInstance.dag_id == "bf")).all()
    assert [(r[0].day, r[1], r[2]) for r in rows] == [(d, "backfill", "success") for d in (2, 3, 4)]
    assert tis == ["success"] * 6
    marked = _windsock(env, "dags", "backfill", "bf", "-s", "2024-01-05", "-e", "2024-01-05", "--mark-success")
    assert marked.returncode == 0, marked.stderr
    with transaction(store.session_factory) as s:
        assert s.scalar(sa.select(DagRun.state).where(DagRun.run_id == "backfill__2024-01-05T00:00:00+00:00")) == "success"


def test_tasks_run_records_one_try_and_refuses_unmet_dependencies(store, tmp_path):
    dags = tmp_path / "dags"
    _daily(dags)
    env = _env(store, tmp_path, dags)
    assert _windsock(env, "dags", "backfill", "bf", "-s", "2024-01-02", "-e", "2024-01-02", "-m").returncode == 0
    run_id = "backfill__2024-01-02T00:00:00+00:00"
    again = _windsock(env, "tasks", "run", "bf", "b", run_id, "-i", "--local")
    assert again.returncode == 0, again.stderr
    assert "success" in again.stdout
    with transaction(store.session_factory) as s:
        ti = s.scalars(sa.select(TaskInstance).where(TaskInstance.run_id == run_id, TaskInstance.task_id == "b")).one()
    assert (ti.state, ti.try_number) == ("success", 1)
    refused = _windsock(env, "tasks", "run", "bf", "b", run_id)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "already success" in refused.stderr


def test_standalone_runs_the_seed_ct1_dag_on_its_schedule(store, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(CT1, dags / "ct1.py")
    env = _env(store, tmp_path, dags)
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli.main", "standalone"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _until(lambda: _dag_exists(store), 60, proc)
        unpause = _windsock(env, "dags", "unpause", "ct1")
        if unpause.returncode != 0:  # the command may not exist yet: do what it does
            with transaction(store.session_factory) as s:
                s.execute(sa.update(DagModel).where(DagModel.dag_id == "ct1").values(is_paused=False))
        _until(lambda: _run_state(store) == "success", 90, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "dags unpause" in out and "task logs:" in out
    with transaction(store.session_factory) as s:
        run = s.execute(sa.select(DagRun.logical_date, DagRun.run_type).where(DagRun.dag_id == "ct1")).one()
        tis = dict(s.execute(sa.select(TaskInstance.task_id, TaskInstance.state).where(TaskInstance.dag_id == "ct1")).all())
    assert (run[0].year, run[0].month, run[0].day, run[0].hour, run[0].minute, run[1]) == (2016, 5, 29, 8, 30, "scheduled")
    assert tis == {"print_date": "success", "echo": "success", "templated": "success"}
    log = tmp_path / "home" / "logs" / "dag_id=ct1" / "run_id=scheduled__2016-05-29T08:30:00+00:00" / "task_id=templated"
    assert "2016-06-05" in (log / "attempt=1.log").read_text()  # macros.ds_add(ds, 7)


def _dag_exists(store) -> bool:
    with transaction(store.session_factory) as s:
        return s.get(DagModel, "ct1") is not None


def _run_state(store) -> str | None:
    with transaction(store.session_factory) as s:
        return s.scalar(sa.select(DagRun.state).where(DagRun.dag_id == "ct1"))


def _until(check, timeout, proc) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"standalone: condition not met (exit {proc.poll()}):\n{proc.communicate()[0]}")
        time.sleep(0.2)


def test_scheduler_num_runs_parses_and_exits(store, tmp_path):
    dags = tmp_path / "dags"
    _daily(dags)
    done = _windsock(_env(store, tmp_path, dags), "scheduler", "-n", "3")
    assert done.returncode == 0, done.stderr
    assert "scheduler: stopped" in done.stderr
    with transaction(store.session_factory) as s:
        row = s.get(DagModel, "bf")
    assert row is not None and row.is_paused  # parsed; new DAGs start paused


def test_a_hanging_dag_file_does_not_stall_scheduling(store, tmp_path):
    """The scheduler parses in a separate dag-processor process: while a new file hangs at import,
    a run of a DAG parsed earlier is still scheduled and finishes."""
    dags = tmp_path / "dags"
    _daily(dags)
    env = _env(store, tmp_path, dags)
    env["WINDSOCK__CORE__DAG_FILE_PROCESSOR_TIMEOUT"] = "60"
    assert _windsock(env, "dag-processor", "-n", "1").returncode == 0
    assert _windsock(env, "dags", "unpause", "bf").returncode == 0
    (dags / "hangs.py").write_text("import time\nfrom airflow import DAG\ntime.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli.main", "scheduler"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # the processor is now stuck importing hangs.py for up to 60 s
        assert _windsock(env, "dags", "trigger", "bf", "-r", "while_hung").returncode == 0
        state, deadline = None, time.monotonic() + 30
        while state != "success" and time.monotonic() < deadline:
            time.sleep(0.3)
            with transaction(store.session_factory) as s:
                state = s.scalar(sa.select(DagRun.state).where(DagRun.run_id == "while_hung"))
        assert state == "success"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_a_scheduler_started_in_a_folder_with_a_runtime_package_still_runs_its_own_processes(store, tmp_path):
    """``python -m`` puts the working folder first on the module path: a scheduler started where a project
    keeps a ``runtime`` package must still start its DAG processor, fork server and zygote on its own
    package (``procs.python_module``), and the try runs."""
    dags = tmp_path / "dags"
    _daily(dags)
    env = _env(store, tmp_path, dags)
    project = tmp_path / "project"
    (project / "runtime" / "worker").mkdir(parents=True)
    for init in (project / "runtime" / "__init__.py", project / "runtime" / "worker" / "__init__.py"):
        init.write_text("raise ImportError('the project folder\\'s runtime package was imported')\n")
    assert _windsock(env, "dag-processor", "-n", "1").returncode == 0
    assert _windsock(env, "dags", "unpause", "bf").returncode == 0
    proc = subprocess.Popen([sys.executable, "-P", "-m", "runtime.cli.main", "scheduler"], env=env, cwd=project,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # -P: as the console script
    try:
        assert _windsock(env, "dags", "trigger", "bf", "-r", "from_project").returncode == 0
        state, deadline = None, time.monotonic() + 60
        while state not in ("success", "failed") and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            with transaction(store.session_factory) as s:
                state = s.scalar(sa.select(DagRun.state).where(DagRun.run_id == "from_project"))
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert state == "success", err
    assert "project folder" not in err
