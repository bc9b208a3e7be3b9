"""The mini scheduler: the executor that recorded a try's end queues and starts the ready downstream itself."""

from __future__ import annotations

import pytest

from tests.scheduler.helpers import peak

CHAIN = """
    with DAG("line", start_date=datetime(2024, 1, 1), schedule=None) as dag:
        a = PythonOperator(task_id="a", python_callable=lambda: mark("a"))
        b = PythonOperator(task_id="b", python_callable=lambda: mark("b"))
        c = PythonOperator(task_id="c", python_callable=lambda: mark("c"))
        a >> b >> c
"""


@pytest.mark.parametrize("mini", [True, False], ids=["mini", "scheduler-only"])
def test_downstream_of_an_ended_try_is_queued_by_its_executor(make, mini):
    env = make("local", scheduler__schedule_after_task_execution=mini)
    env.write_dag("line", CHAIN)
    env.sync()
    run_id = env.trigger("line")
    env.drive(env.finished("line"))
    assert env.run_states("line") == ["success"], env.states()
    tis = env.tis("line", run_id)
    scheduler_job = env.scheduler.job_id
    assert tis[("a", -1)].queued_by_job_id == scheduler_job  # the first task: nobody ended before it
    for task in ("b", "c"):
        ti = tis[(task, -1)]
        assert ti.state == "success"
        if mini and env.store.engine.dialect.name == "sqlite":
            # queued and claimed in the transaction that recorded its upstream's end. (PostgreSQL:
            # when the scheduler's step holds the run row at that moment, SKIP LOCKED leaves the
            # downstream to the scheduler, so there either may have queued it.)
            assert ti.queued_by_job_id == ti.job_id != scheduler_job
        elif mini:
            assert ti.queued_by_job_id in (ti.job_id, scheduler_job)
        else:
            assert ti.queued_by_job_id == scheduler_job
    starts = [env.marks(t)[0]["start"] for t in ("a", "b", "c")]
    assert starts == sorted(starts)


def test_mini_scheduler_keeps_parallelism_pools_and_trigger_rules(make):
    env = make("local", core__parallelism=2)
    env.write_dag("wide", """
        with DAG("wide", start_date=datetime(2024, 1, 1), schedule=None) as dag:
            roots = [PythonOperator(task_id=f"r{i}", python_callable=lambda: mark("r")) for i in range(3)]
            mids = [BashOperator(task_id=f"m{i}", bash_command="sleep 0.3") for i in range(6)]
            last = PythonOperator(task_id="last", python_callable=lambda: mark("last"), trigger_rule="all_done")
            skipped = PythonOperator(task_id="never", python_callable=lambda: mark("never"),
                                     trigger_rule="all_failed")
            roots >> mids[0]
            for m in mids:
                roots[-1] >> m
            mids >> last
            mids >> skipped
    """)
    env.sync()
    run_id = env.trigger("wide")
    env.drive(env.finished("wide"), timeout=60)
    tis = env.tis("wide", run_id)
    assert tis[("last", -1)].state == "success"
    assert tis[("never", -1)].state == "skipped"
    assert not env.marks("never")
    spans = [(t.start_date.timestamp(), t.end_date.timestamp()) for t in tis.values()
             if t.start_date is not None and t.state == "success"]
    assert peak(spans) <= 2
