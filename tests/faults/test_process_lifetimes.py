"""Every process Windsock starts dies with its parent, after handing over what it held."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from runtime.store.engine import make_engine, make_session_factory
from runtime.store.models import TaskInstance, TaskInstanceHistory
from tests.faults import chaos
from tests.services import wait_for

DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator
with DAG("long", start_date=datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False) as dag:
    BashOperator(task_id="sleepy", bash_command="echo started >> {marks}; sleep 60; echo finished >> {marks}")
"""


def test_kill_9_of_standalone_leaves_no_process_and_hands_its_try_back(db_url: str, tmp_path: Path) -> None:
    """kill -9 of ``standalone``: its DAG processor, fork server, task child and the task's bash all exit
    within seconds; the running try is recorded as interrupted and comes back as the next try."""
    dags, marks = tmp_path / "dags", tmp_path / "marks.txt"
    dags.mkdir()
    (dags / "long.py").write_text(DAG.format(marks=marks))
    env = chaos.environment(db_url, tmp_path / "home", dags)
    factory = make_session_factory(make_engine(db_url))
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli.main", "standalone"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: subprocess.run([sys.executable, "-m", "runtime.cli.main", "dags", "trigger", "long"], env=env,
                                     capture_output=True, timeout=60).returncode == 0, 60, "trigger failed")
        wait_for(lambda: marks.exists() and "started" in marks.read_text(), 60, "the try never started")
        assert len(chaos.marked(env["WINDSOCK_CHAOS_MARK"])) >= 5  # standalone, processor, fork server, child, bash...
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert chaos.wait_gone(env["WINDSOCK_CHAOS_MARK"], 15) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with factory() as s:
        ti = s.scalars(sa.select(TaskInstance).where(TaskInstance.dag_id == "long")).one()
        (first,) = s.scalars(sa.select(TaskInstanceHistory).where(TaskInstanceHistory.dag_id == "long")).all()
    assert (ti.state, ti.try_number, ti.max_tries) == ("scheduled", 2, 1)  # again, without using a retry
    assert (first.try_number, first.state) == (1, "restarting") and "interrupted" in first.executor_message
    assert "finished" not in marks.read_text()
