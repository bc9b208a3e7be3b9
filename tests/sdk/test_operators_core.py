"""EmptyOperator, LatestOnlyOperator and TriggerDagRunOperator, run in-process with run_dag."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
import pytest

from runtime.inprocess import MemoryServices, run_dag
from runtime.sdk import DAG, task
from runtime.sdk.exceptions import AirflowException
from runtime.sdk.operators.empty import DummyOperator, EmptyOperator
from runtime.sdk.operators.latest_only import LatestOnlyOperator, is_latest_interval
from runtime.sdk.operators.python import PythonOperator
from runtime.sdk.operators.trigger_dagrun import TriggerDagRunOperator
from runtime.sdk.taskinstance import DagRunInfo
from runtime.sdk.timetables import DataInterval
from runtime.worker.runner import run_task

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def states(record: Any) -> dict[str, str]:
    """task_id -> state of an unmapped run."""
    return {tid: state for (tid, _), state in record.task_states.items()}


def test_empty_operator_succeeds_and_dummy_is_its_alias() -> None:
    with DAG("empty", start_date=START, schedule=None) as dag:
        EmptyOperator(task_id="a") >> DummyOperator(task_id="b")
    assert DummyOperator is EmptyOperator
    assert dag.get_task("a").inherits_from_empty_operator is True
    assert states(run_dag(dag, START, services=MemoryServices(environ={}))) == {"a": "success", "b": "success"}


# -- LatestOnlyOperator --------------------------------------------------------------------------


def _latest_only_dag() -> DAG:
    with DAG("latest", start_date=START, schedule="@daily") as dag:
        latest = LatestOnlyOperator(task_id="latest_only")
        direct = EmptyOperator(task_id="direct")
        after = EmptyOperator(task_id="after")
        always = EmptyOperator(task_id="always", trigger_rule="all_done")
        latest >> direct >> after
        latest >> always
    return dag


def test_latest_only_lets_the_latest_interval_run() -> None:
    today = pendulum.now("UTC").start_of("day")  # manual interval [yesterday, today): the latest complete one
    record = run_dag(_latest_only_dag(), today, services=MemoryServices(environ={}))
    assert states(record) == {"latest_only": "success", "direct": "success", "after": "success", "always": "success"}


def test_latest_only_skips_downstream_of_an_old_scheduled_interval() -> None:
    dag = _latest_only_dag()
    old = START + timedelta(days=3)
    run = DagRunInfo("latest", "scheduled__x", old, old, old + timedelta(days=1), run_type="scheduled", external_trigger=False)
    result = run_task(dag.get_task("latest_only"), run, MemoryServices(environ={}))
    assert result.state == "success" and result.skip_task_ids == {"direct", "always"}


def test_latest_only_lets_a_manual_run_proceed() -> None:
    """Airflow 3: a manual run (``dags test`` makes one) never skips, whatever its logical date."""
    record = run_dag(_latest_only_dag(), START + timedelta(days=3), services=MemoryServices(environ={}))
    assert set(states(record).values()) == {"success"}


def test_latest_only_never_skips_an_external_trigger() -> None:
    dag = _latest_only_dag()
    run = DagRunInfo("latest", "manual__x", START, START - timedelta(days=1), START, external_trigger=True)
    result = run_task(dag.get_task("latest_only"), run, MemoryServices(environ={}))
    assert result.state == "success" and result.skip_task_ids == set()


def test_is_latest_interval_is_decided_from_now() -> None:
    dag = _latest_only_dag()
    interval = DataInterval(START, START + timedelta(days=1))
    assert is_latest_interval(dag, interval, START + timedelta(days=1, hours=5))
    assert not is_latest_interval(dag, interval, START + timedelta(days=1))  # left bound is open
    assert is_latest_interval(dag, interval, START + timedelta(days=2))
    assert not is_latest_interval(dag, interval, START + timedelta(days=2, seconds=1))
    with DAG("unscheduled", start_date=START, schedule=None) as unscheduled:
        EmptyOperator(task_id="t")
    assert is_latest_interval(unscheduled, interval, START + timedelta(days=30))


# -- TriggerDagRunOperator -----------------------------------------------------------------------


def _target(fail: bool = False) -> DAG:
    with DAG("target", start_date=START, schedule=None) as dag:

        @task
        def echo(dag_run: Any = None, ds: str = "") -> dict[str, str]:
            if fail:
                raise ValueError("target fails on purpose")
            return {"msg": dag_run.conf["msg"], "ds": ds}

        echo()
    return dag


def _services(*dags: DAG) -> MemoryServices:
    return MemoryServices(environ={}, dag_lookup={d.dag_id: d for d in dags}.get)


def test_trigger_waits_for_completion_and_passes_conf_and_logical_date() -> None:
    target = _target()
    with DAG("controller", start_date=START, schedule=None) as controller:
        TriggerDagRunOperator(
            task_id="trigger", trigger_dag_id="target", conf={"msg": "hello {{ ds }}"}, logical_date="{{ ds }}",
            trigger_run_id="triggered__{{ ds_nodash }}", wait_for_completion=True, poke_interval=0.01,
        )
    services = _services(target)
    record = run_dag(controller, START + timedelta(days=2), services=services)
    assert states(record) == {"trigger": "success"}
    assert services.dag_run_state("target", "triggered__20240103") == "success"
    assert services.xcom_get("controller", record.run_id, "trigger", "trigger_run_id", -1) == [(-1, "triggered__20240103")]
    [(_, echoed)] = services.xcom_get("target", "triggered__20240103", "echo", "return_value", -1)
    assert echoed == {"msg": "hello 2024-01-03", "ds": "2024-01-03"}


def test_trigger_fails_when_the_triggered_run_fails() -> None:
    with DAG("controller", start_date=START, schedule=None) as controller:
        TriggerDagRunOperator(task_id="trigger", trigger_dag_id="target", conf={"msg": "x"}, wait_for_completion=True, poke_interval=0.01)
    services = _services(_target(fail=True))
    assert states(run_dag(controller, START, services=services)) == {"trigger": "failed"}


def test_trigger_without_waiting_succeeds_even_if_the_run_fails() -> None:
    with DAG("controller", start_date=START, schedule=None) as controller:
        TriggerDagRunOperator(task_id="trigger", trigger_dag_id="target", conf={"msg": "x"})
    assert states(run_dag(controller, START, services=_services(_target(fail=True)))) == {"trigger": "success"}


def test_trigger_existing_run_id_fails_skips_or_resets() -> None:
    with DAG("controller", start_date=START, schedule=None) as controller:
        first = TriggerDagRunOperator(task_id="first", trigger_dag_id="target", trigger_run_id="fixed", conf={"msg": "1"})
        again = TriggerDagRunOperator(task_id="again", trigger_dag_id="target", trigger_run_id="fixed", conf={"msg": "2"})
        skip = TriggerDagRunOperator(task_id="skip", trigger_dag_id="target", trigger_run_id="fixed", conf={"msg": "3"},
                                     skip_when_already_exists=True)
        reset = TriggerDagRunOperator(task_id="reset", trigger_dag_id="target", trigger_run_id="fixed", conf={"msg": "4"},
                                      reset_dag_run=True, trigger_rule="all_done")
        first >> [again, skip] >> reset
    services = _services(_target())
    assert states(run_dag(controller, START, services=services)) == {"first": "success", "again": "failed", "skip": "skipped", "reset": "success"}
    [(_, echoed)] = services.xcom_get("target", "fixed", "echo", "return_value", -1)
    assert echoed["msg"] == "4"


def test_trigger_rejects_conf_that_is_not_json() -> None:
    with pytest.raises(AirflowException, match="JSON Serializable"), DAG("c", start_date=START, schedule=None):
        TriggerDagRunOperator(task_id="t", trigger_dag_id="target", conf={"when": object()})


def test_trigger_of_a_dag_outside_the_folder_queues_its_run() -> None:
    """Airflow 3's dags test: the trigger succeeds (the run is created; nothing in this folder runs it)."""
    with DAG("controller", start_date=START, schedule=None) as controller:
        TriggerDagRunOperator(task_id="trigger", trigger_dag_id="nowhere")
        PythonOperator(task_id="other", python_callable=lambda: 1)
    services = _services()
    got = states(run_dag(controller, START, services=services))
    assert got == {"trigger": "success", "other": "success"}
    assert [r.state for (dag_id, _), r in services.runs.items() if dag_id == "nowhere"] == ["queued"]
