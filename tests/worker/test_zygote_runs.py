"""The zygote builds a run's task-side objects once and reuses them only for the same run as sent."""

from __future__ import annotations

import socket
from pathlib import Path

from runtime.executors.messages import TaskWork
from runtime.worker.zygote import Zygote

DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.python import PythonOperator

with DAG("zr", start_date=datetime(2024, 1, 1), schedule="@daily") as dag:
    PythonOperator(task_id="a", python_callable=lambda: None)
"""


def _work(fileloc: str, **run: object) -> TaskWork:
    info = {"dag_id": "zr", "run_id": "r1", "logical_date": "2024-01-02T00:00:00+00:00", "run_type": "scheduled",
            "start_date": "2024-01-03T00:00:00+00:00", **run}
    return TaskWork(ti_id=1, dag_id="zr", task_id="a", run_id="r1", map_index=-1, try_number=1, max_tries=0,
                    fileloc=fileloc, run=info)


def test_a_run_is_built_once_and_built_again_when_what_was_sent_changes(tmp_path: Path) -> None:
    src = tmp_path / "zr.py"
    src.write_text(DAG)
    ours, theirs = socket.socketpair()
    try:
        zygote = Zygote(theirs)
        zygote._preload_all({(str(src), "zr")})
        first = zygote._runs([_work(str(src))])[("zr", "r1")]
        assert first is not None and first.run_id == "r1" and first.logical_date.day == 2
        assert zygote._runs([_work(str(src))])[("zr", "r1")] is first  # the next batch reuses it
        cleared = zygote._runs([_work(str(src), start_date="2024-01-05T00:00:00+00:00")])[("zr", "r1")]
        assert cleared is not first and cleared.start_date.day == 5  # a cleared run starts again: a new object
        broken = zygote._runs([_work(str(src), logical_date="not a date")])
        assert broken == {("zr", "r1"): None}  # left to the child, which fails the try with the reason
    finally:
        ours.close()
        theirs.close()
