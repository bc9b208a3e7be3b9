"""Items where the same DAG file behaved differently from Airflow, plus the small standard modules."""

from __future__ import annotations

import datetime
from datetime import timedelta
from typing import Any

import pendulum
import pytest

from runtime.compat.api import DAG
from runtime.inprocess import MemoryServices, run_dag
from runtime.rules.mapping import task_in_run
from runtime.sdk import Param, task
from runtime.sdk.exceptions import ParamValidationError
from runtime.sdk.operators.bash import BashOperator
from runtime.sdk.operators.datetime import BranchDateTimeOperator
from runtime.sdk.operators.empty import EmptyOperator
from runtime.sdk.operators.weekday import BranchDayOfWeekOperator
from runtime.sdk.retry_policy import ExceptionRetryPolicy, RetryAction, RetryRule
from runtime.sdk.sensors.bash import BashSensor
from runtime.sdk.weekday import WeekDay

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def _states(dag: DAG, **kw: Any) -> dict[str, str]:
    record = run_dag(dag, services=MemoryServices(environ={}), quiet=True, **kw)
    return {t if m < 0 else f"{t}[{m}]": s for (t, m), s in record.task_states.items()}


def test_taskflow_function_gets_the_context_keys_it_declares() -> None:
    seen: dict[str, Any] = {}
    with DAG("ctx", start_date=START, schedule=None) as d:
        @task
        def f(x: int, data_interval_end: Any, ti: Any = None) -> None:
            seen.update(x=x, end=data_interval_end, task=ti.task_id)

        f(3)
    assert _states(d) == {"f": "success"}
    assert seen["x"] == 3 and seen["task"] == "f" and seen["end"] is not None


def test_required_param_without_value_refuses_the_run() -> None:
    with DAG("p", start_date=START, schedule=None, params={"name": Param(type="string")}) as d:
        EmptyOperator(task_id="t")
    with pytest.raises(ParamValidationError, match="name"):
        run_dag(d, quiet=True)
    assert _states(d, conf={"name": "x"}) == {"t": "success"}


def test_a_task_starting_after_the_logical_date_gets_no_instance() -> None:
    with DAG("late", start_date=START, schedule=None) as d:
        EmptyOperator(task_id="now")
        EmptyOperator(task_id="later", start_date=START + timedelta(days=30))
    assert _states(d, logical_date=START + timedelta(days=1)) == {"now": "success"}
    assert task_in_run(START, None, START, "manual") and not task_in_run(START, START, START + timedelta(1), "scheduled")
    assert task_in_run(START + timedelta(30), None, START, "backfill")


def test_branch_on_weekday_and_on_time_window() -> None:
    monday = pendulum.datetime(2024, 1, 1, 10, tz="UTC")
    with DAG("b", start_date=START, schedule=None) as d:
        day = BranchDayOfWeekOperator(task_id="day", week_day={WeekDay.MONDAY, "tuesday"}, use_task_logical_date=True,
                                      follow_task_ids_if_true="weekday", follow_task_ids_if_false="weekend")
        window = BranchDateTimeOperator(task_id="window", target_lower=datetime.time(9), target_upper=datetime.time(11),
                                        use_task_logical_date=True, follow_task_ids_if_true="in", follow_task_ids_if_false="out")
        day >> [EmptyOperator(task_id="weekday"), EmptyOperator(task_id="weekend")]
        window >> [EmptyOperator(task_id="in"), EmptyOperator(task_id="out")]
    got = _states(d, logical_date=monday)
    assert (got["weekday"], got["weekend"], got["in"], got["out"]) == ("success", "skipped", "success", "skipped")
    with pytest.raises(ValueError, match="funday"):
        WeekDay.get_weekday_number("funday")


def test_bash_sensor_done_on_exit_zero_and_failed_on_other_codes(tmp_path: Any) -> None:
    flag = tmp_path / "flag"
    flag.write_text("x")
    with DAG("s", start_date=START, schedule=None) as d:
        BashSensor(task_id="ok", bash_command=f"test -f {flag}", poke_interval=0.01, timeout=5)
        BashSensor(task_id="bad", bash_command="exit 3", retry_exit_code=1, poke_interval=0.01, timeout=5)
    assert _states(d) == {"ok": "success", "bad": "failed"}


def test_retry_policy_fails_at_once_or_retries_by_exception() -> None:
    calls: list[str] = []
    policy = ExceptionRetryPolicy(rules=[RetryRule(exception=KeyError, action=RetryAction.FAIL),
                                         RetryRule(exception="builtins.ValueError", retry_delay=timedelta(0))])
    with DAG("r", start_date=START, schedule=None) as d:
        @task(retries=3, retry_delay=timedelta(hours=1), retry_policy=policy)
        def key() -> None:
            calls.append("key")
            raise KeyError("x")

        @task(retries=1, retry_delay=timedelta(hours=1), retry_policy=policy)
        def value() -> None:
            calls.append("value")
            raise ValueError("x")

        key(), value()
    assert _states(d) == {"key": "failed", "value": "failed"}
    assert calls.count("key") == 1 and calls.count("value") == 2  # no waiting an hour: the policy's delay is 0


def test_xcomarg_output_and_map_feed_a_mapped_task() -> None:
    got: list[Any] = []
    with DAG("m", start_date=START, schedule=None) as d:
        numbers = BashOperator(task_id="numbers", bash_command="echo 1")

        @task
        def make() -> list[int]:
            return [1, 2, 3]

        @task
        def show(n: int) -> None:
            got.append(n)

        show.expand(n=make().map(lambda v: v * 10))
        assert numbers.output.output.operator is numbers
    assert _states(d)["show[2]"] == "success" and sorted(got) == [10, 20, 30]


def test_bash_decorator_applies_its_output_processor() -> None:
    with DAG("op", start_date=START, schedule=None) as d:
        @task.bash(output_processor=lambda out: out.split(","))
        def listing() -> str:
            return "echo a,b"

        listing()
    services = MemoryServices(environ={})
    record = run_dag(d, services=services, quiet=True)
    assert services.xcom_get("op", record.run_id, "listing", "return_value", -1) == [(-1, ["a", "b"])]


def test_a_scheduled_dag_with_a_required_param_is_refused() -> None:
    with pytest.raises(ValueError, match="not allowed to define a Schedule"):
        DAG("sched", start_date=START, schedule="@daily", params={"n": Param(type="integer")})
    DAG("manual_only", start_date=START, schedule=None, params={"n": Param(type="integer")})


def test_dags_test_triggering_a_dag_outside_the_folder_queues_it_and_cannot_wait_for_it() -> None:
    """As Airflow 3's dags test: the trigger succeeds; waiting for a run nothing here runs fails instead of hanging."""
    from runtime.sdk.operators.trigger_dagrun import TriggerDagRunOperator

    with DAG("ctl", start_date=START, schedule=None) as d:
        TriggerDagRunOperator(task_id="fire", trigger_dag_id="elsewhere")
        TriggerDagRunOperator(task_id="wait", trigger_dag_id="elsewhere", trigger_run_id="w", wait_for_completion=True,
                              poke_interval=0.01)
    services = MemoryServices(environ={}, dag_lookup=lambda dag_id: None)
    record = run_dag(d, services=services, quiet=True)
    assert {t: s for (t, _), s in record.task_states.items()} == {"fire": "success", "wait": "failed"}
    assert [r.state for (dag_id, _), r in services.runs.items() if dag_id == "elsewhere"] == ["queued", "queued"]


def test_bash_decorator_multiple_outputs_feed_another_tasks_env() -> None:
    import json

    seen: list[str] = []
    with DAG("mo", start_date=START, schedule=None) as d:
        @task.bash(multiple_outputs=True, output_processor=json.loads)
        def describe() -> str:
            return """echo '{"folder": "/x", "count": "2"}'"""

        @task
        def show(folder: str, count: str) -> None:
            seen.append(f"{folder}:{count}")

        out = describe()
        show(out["folder"], out["count"])
    assert _states(d) == {"describe": "success", "show": "success"} and seen == ["/x:2"]
