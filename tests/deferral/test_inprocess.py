"""``dags test`` runs a deferred task's trigger in its own process and resumes the task, as Airflow's does."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pendulum
import pytest

from runtime import serde
from runtime.compat import install_import_hook
from runtime.inprocess import MemoryServices, run_dag

install_import_hook()

from airflow import DAG  # noqa: E402
from airflow.exceptions import TaskDeferred  # noqa: E402
from airflow.models.baseoperator import BaseOperator  # noqa: E402
from airflow.sensors.date_time import DateTimeSensorAsync  # noqa: E402
from airflow.sensors.time_delta import TimeDeltaSensorAsync  # noqa: E402
from airflow.triggers.base import BaseTrigger, TaskSkippedEvent, TriggerEvent  # noqa: E402
from airflow.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger  # noqa: E402

seen: list[Any] = []


class Sleepy(BaseTrigger):
    """Fires with ``value`` after ``delay`` seconds; raises if told to."""

    def __init__(self, value: Any = None, delay: float = 0.05, fail: bool = False, end: bool = False) -> None:
        super().__init__()
        self.value, self.delay, self.fail, self.end = value, delay, fail, end

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{__name__}.Sleepy", {"value": self.value, "delay": self.delay, "fail": self.fail, "end": self.end}

    async def run(self) -> Any:
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("upstream API said no")
        yield TaskSkippedEvent() if self.end else TriggerEvent(self.value)


class Defers(BaseOperator):
    def __init__(self, *, how: dict[str, Any], timeout: timedelta | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.how, self.timeout = how, timeout

    def execute(self, context: Any) -> None:
        self.defer(trigger=Sleepy(**self.how), method_name="step_two", kwargs={"since": context["logical_date"]},
                   timeout=self.timeout)

    def step_two(self, context: Any, event: Any = None, since: Any = None) -> Any:
        seen.append((self.task_id, event, since))
        if isinstance(event, dict) and event.get("again"):  # defer a second time from the resumed method
            self.defer(trigger=Sleepy({"at": "second"}), method_name="step_two", kwargs={"since": since})
        return event


def _dag(*tasks: Any) -> DAG:
    dag = DAG("deferring", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), schedule=None)
    for t in tasks:
        dag.add_task(t)
    return dag


def test_the_method_resumes_with_event_and_kwargs_and_may_defer_again() -> None:
    seen.clear()
    when = pendulum.datetime(2024, 5, 1, tz="UTC")
    services = MemoryServices()
    record = run_dag(_dag(Defers(task_id="a", how={"value": {"again": True}})), logical_date=when, services=services,
                     quiet=True)
    assert record.state == "success"
    assert seen == [("a", {"again": True}, when), ("a", {"at": "second"}, when)]
    assert record.tries[("a", -1)] == 1  # one try throughout, as in Airflow
    assert services.xcom_get("deferring", record.run_id, "a", "return_value", -1)[0][1] == {"at": "second"}


def test_trigger_failure_timeout_and_task_ending_events() -> None:
    record = run_dag(_dag(
        Defers(task_id="broken", how={"fail": True}),
        Defers(task_id="late", how={"delay": 30}, timeout=timedelta(seconds=0.2)),
        Defers(task_id="ended", how={"end": True}),
    ), logical_date=pendulum.now("UTC"), quiet=True)
    assert record.task_states == {("broken", -1): "failed", ("late", -1): "failed", ("ended", -1): "skipped"}


def test_deferrable_sensors_wait_their_time() -> None:
    now = pendulum.now("UTC")
    record = run_dag(_dag(
        TimeDeltaSensorAsync(task_id="delta", delta=timedelta(seconds=0.3)),
        DateTimeSensorAsync(task_id="moment", target_time=(now + timedelta(seconds=0.3)).isoformat()),
    ), logical_date=now, quiet=True)
    assert record.state == "success"
    assert pendulum.now("UTC") >= now + timedelta(seconds=0.3)


def test_defer_raises_task_deferred_with_what_airflow_carries() -> None:
    op = Defers(task_id="x", how={})
    with pytest.raises(TaskDeferred) as caught:
        op.execute({"logical_date": pendulum.datetime(2024, 1, 1, tz="UTC")})
    assert (caught.value.method_name, type(caught.value.trigger).__name__) == ("step_two", "Sleepy")
    assert isinstance(TimeDeltaTrigger(timedelta(0)), DateTimeTrigger)


def test_stored_arguments_keep_datetimes_timedeltas_tuples_and_sets() -> None:
    value = {"when": pendulum.datetime(2024, 1, 1, tz="UTC"), "wait": timedelta(minutes=5), "pair": (1, "a"),
             "tags": {"b", "a"}, "nested": [{"d": pendulum.date(2024, 2, 3)}]}
    assert serde.decode(serde.encode(value)) == value
    with pytest.raises(TypeError, match="object cannot be stored"):
        serde.encode({"x": object()})
