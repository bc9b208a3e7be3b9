"""Faults of the scheduler itself: two schedulers at once (PostgreSQL), and a scheduler killed mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from runtime.store.models import DagRun, TaskInstance
from runtime.store.session import transaction
from tests.scheduler.helpers import make_env
from tests.scheduler.test_cli import _env, _until


# Several schedulers need PostgreSQL (SKIP LOCKED); SQLite runs one scheduler.
@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_two_schedulers_run_each_try_once(store, tmp_path):
    envs = [make_env(store, tmp_path, "local"), make_env(store, tmp_path, "local")]
    first = envs[0]
    first.write_dag("ha", """
def work(i, **ctx):
    mark("calls", i=i, try_number=ctx["ti"].try_number)
with DAG("ha", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=True, max_active_runs=3) as dag:
    for i in range(8):
        PythonOperator(task_id=f"t{i}", python_callable=work, op_args=[i])
""")
    first.sync()
    stop = threading.Event()
    threads = [threading.Thread(target=e.scheduler.run_forever, args=(stop, _jan4)) for e in envs]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while first.run_states("ha") != ["success"] * 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert first.run_states("ha") == ["success"] * 3
    calls = Counter((c["i"], c["try_number"]) for c in first.marks("calls"))
    assert len(calls) == 8 and set(calls.values()) == {3}  # each task once per run, first try
    with transaction(store.session_factory) as s:
        tries = s.scalars(sa.select(TaskInstance.try_number).where(TaskInstance.dag_id == "ha")).all()
        hosts = s.scalars(sa.select(sa.func.count(DagRun.id)).where(DagRun.dag_id == "ha")).one()
    assert set(tries) == {1} and hosts == 3


def _jan4():
    import pendulum

    return pendulum.datetime(2024, 1, 4, 1, tz="UTC")


def test_scheduler_killed_mid_task_recovers_on_restart(store, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "crashy.py").write_text(
        "import time\nfrom datetime import datetime, timedelta\nfrom airflow import DAG\n"
        "from airflow.operators.python import PythonOperator\nfrom airflow.operators.empty import EmptyOperator\n"
        "def slow(**ctx):\n    time.sleep(60 if ctx['ti'].try_number == 1 else 0)\n"
        "with DAG('crashy', start_date=datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False) as dag:\n"
        "    PythonOperator(task_id='slow', python_callable=slow, retries=1, retry_delay=timedelta(0))"
        " >> EmptyOperator(task_id='after')\n")
    env = _env(store, tmp_path, dags)
    env.update(WINDSOCK__SCHEDULER__ZOMBIE_THRESHOLD="2", WINDSOCK__SCHEDULER__HEARTBEAT_INTERVAL="0.5",
               WINDSOCK__SCHEDULER__RECONCILE_INTERVAL="0.2")
    cmd = [sys.executable, "-m", "runtime.cli.main", "standalone"]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _until(lambda: _trigger_once(store, tmp_path, env), 60, first)
        _until(lambda: _running_pid(store) is not None, 60, first)
        child = _running_pid(store)
        first.send_signal(signal.SIGKILL)  # the scheduler dies; its executor and the task child go with it
        first.wait(10)
        _until_dead(child)
    finally:
        if first.poll() is None:
            first.kill()
    second = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _until(lambda: _run_state(store) == "success", 60, second)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    with transaction(store.session_factory) as s:
        tis = {t.task_id: t for t in s.scalars(sa.select(TaskInstance).where(TaskInstance.dag_id == "crashy"))}
    assert tis["slow"].try_number == 2 and tis["slow"].state == "success" and tis["after"].state == "success"


def _trigger_once(store, tmp_path, env) -> bool:
    with transaction(store.session_factory) as s:
        if s.scalar(sa.select(sa.func.count(DagRun.id)).where(DagRun.dag_id == "crashy")):
            return True
    done = subprocess.run([sys.executable, "-m", "runtime.cli.main", "dags", "trigger", "crashy"], env=env,
                          capture_output=True, text=True, timeout=60)
    return done.returncode == 0


def _running_pid(store) -> int | None:
    with transaction(store.session_factory) as s:
        return s.scalar(sa.select(TaskInstance.pid).where(TaskInstance.dag_id == "crashy", TaskInstance.task_id == "slow",
                                                          TaskInstance.state == "running"))


def _run_state(store) -> str | None:
    with transaction(store.session_factory) as s:
        return s.scalar(sa.select(DagRun.state).where(DagRun.dag_id == "crashy"))


def _until_dead(pid: int | None, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while pid and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    assert not pid, f"task child {pid} outlived its executor"
