"""The triggerer under ``windsock scheduler``: started when a try defers, replaced when it is killed,
and the deferred try still ends as its trigger says; nothing is left running afterwards."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import sqlalchemy as sa

from runtime.store.engine import make_engine, make_session_factory
from runtime.store.models import Job, TaskInstance, Trigger
from tests.faults import chaos
from tests.services import wait_for

DAG = """
from datetime import datetime
from airflow import DAG
from airflow.sensors.filesystem import FileSensor
with DAG("awaits", start_date=datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False) as dag:
    FileSensor(task_id="file", filepath={path!r}, deferrable=True, poke_interval=0.2)
"""


def test_a_killed_triggerer_is_replaced_and_the_deferred_try_still_finishes(db_url: str, tmp_path: Path) -> None:
    dags, flag = tmp_path / "dags", tmp_path / "arrived.csv"
    dags.mkdir()
    (dags / "awaits.py").write_text(DAG.format(path=str(flag)))
    env = chaos.environment(db_url, tmp_path / "home", dags)
    factory = make_session_factory(make_engine(db_url))

    def triggerers() -> list[tuple[int, int | None]]:
        with factory() as s:
            return [tuple(r) for r in s.execute(sa.select(Job.id, Job.pid).where(
                Job.job_type == "triggerer", Job.state == "running"))]

    def ti_state() -> str | None:
        with factory() as s:
            return s.scalar(sa.select(TaskInstance.state).where(TaskInstance.dag_id == "awaits"))

    def holder() -> int | None:
        with factory() as s:
            return s.scalar(sa.select(Trigger.triggerer_id))

    log = tmp_path / "scheduler.log"
    proc = chaos.start_scheduler(env, log)
    try:
        wait_for(lambda: chaos.run_cli(env, "dags", "trigger", "awaits") == 0, 60, "trigger failed")
        wait_for(lambda: ti_state() == "deferred", 60, "the sensor never deferred")
        ((first, pid),) = wait_for(triggerers, 30, "no triggerer was started")
        wait_for(lambda: holder() == first, 30, "the triggerer never took the trigger")
        os.kill(int(pid or 0), signal.SIGKILL)
        second = wait_for(lambda: [j for j, _ in triggerers() if j != first], 30, "no new triggerer after the kill")[0]
        wait_for(lambda: holder() == second, 30, "the new triggerer never took the trigger over")
        assert ti_state() == "deferred"
        flag.write_text("x")
        wait_for(lambda: ti_state() == "success", 60, "the sensor never resumed")
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        assert chaos.wait_gone(env["WINDSOCK_CHAOS_MARK"], 15) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert text.count("triggerer started") >= 2, text[-3000:]
    with factory() as s:
        ti = s.scalars(sa.select(TaskInstance).where(TaskInstance.dag_id == "awaits")).one()
        assert s.scalar(sa.select(sa.func.count()).select_from(Trigger)) == 0
    assert (ti.state, ti.try_number) == ("success", 1)
