"""A deferred try through SQS: the worker's slot is freed, a separate ``windsock triggerer`` fires it, and
the resumed try — with an event too large for an SQS message — runs on a worker again, in the same try."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.distributed.conftest import Sqs
from tests.faults.chaos import terminate_all
from tests.scheduler.helpers import Env

DAG = """
import asyncio
from airflow.models.baseoperator import BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

class Big(BaseTrigger):
    def serialize(self):
        return ("bigtrigger.Big", {})

    async def run(self):
        await asyncio.sleep(0.2)
        yield TriggerEvent("x" * 300_000)

class Waits(BaseOperator):
    def execute(self, context):
        mark("execute", pid=os.getpid(), try_number=context["ti"].try_number)
        self.defer(trigger=Big(), method_name="done")

    def done(self, context, event=None):
        mark("done", pid=os.getpid(), size=len(event), try_number=context["ti"].try_number)

with DAG("sqs_defer", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    Waits(task_id="w")
"""


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_deferred_try_resumes_on_a_worker_with_an_oversized_event(db_url, sqs_make, workers, sqs: Sqs) -> None:
    e: Env = sqs_make()
    (e.dags / "bigtrigger.py").write_text(DAG.split("class Waits")[0])
    e.write_dag("sqs_defer", DAG)
    e.sync()
    pool = workers(e, sqs)
    pool.start(2)
    log = open(e.out / "triggerer.log", "ab")  # noqa: SIM115 - the child keeps it
    triggerer = subprocess.Popen([sys.executable, "-m", "runtime.cli.main", "triggerer"], env=pool.env, stdout=log,
                                 stderr=log, start_new_session=True)
    try:
        e.trigger("sqs_defer")
        e.drive(e.finished("sqs_defer"), timeout=120)
    finally:
        terminate_all([triggerer])
    assert e.run_states("sqs_defer") == ["success"], pool.output() + (e.out / "triggerer.log").read_text()
    (first,), (second,) = e.marks("execute"), e.marks("done")
    assert (first["try_number"], second["try_number"], second["size"]) == (1, 1, 300_000)
    assert first["pid"] != second["pid"]  # the resumed try ran in a new process
