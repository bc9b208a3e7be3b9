"""Deferred tries under the scheduler: the slot is freed, the triggerer resumes or ends them, failures and
deadlines fail them as Airflow does, and clearing a deferred try drops its trigger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from runtime.store.models import TaskInstance, TaskInstanceHistory, Trigger, XCom
from runtime.store.session import transaction
from tests.scheduler.helpers import Env

OPS = """
from datetime import timedelta
from airflow.models.baseoperator import BaseOperator
from test_triggers import Echo, Broken, Never, FailTask

class Deferring(BaseOperator):
    def __init__(self, trigger, timeout=None, **kw):
        super().__init__(**kw)
        self.trigger, self.timeout = trigger, timeout

    def execute(self, context):
        mark(self.task_id + "_execute", try_number=context["ti"].try_number)
        self.defer(trigger={"echo": Echo(value={"at": context["ds"], "when": context["logical_date"]}),
                            "broken": Broken(), "never": Never(), "fail": FailTask()}[self.trigger],
                   method_name="finish", kwargs={"extra": (1, 2)}, timeout=self.timeout)

    def finish(self, context, event=None, extra=None):
        mark(self.task_id + "_finish", event_type=type(event["when"]).__name__, extra_type=type(extra).__name__,
             try_number=context["ti"].try_number)
        return event["at"]
"""


def _trigger_count(env: Env) -> int:
    with transaction(env.factory) as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(Trigger)) or 0)


def _ti(env: Env, dag_id: str, task_id: str) -> Any:
    return env.tis(dag_id)[(task_id, -1)]


def _state(env: Env, dag_id: str, task_id: str) -> str | None:
    ti = env.tis(dag_id).get((task_id, -1))
    return None if ti is None else ti.state


def test_a_deferred_sensor_frees_its_slot_and_resumes_in_the_same_try(denv: Env, triggerer: Callable[..., Any]) -> None:
    flag = denv.out / "arrived"
    denv.write_dag("slots", OPS + f"""
from airflow.sensors.filesystem import FileSensor
with DAG("slots", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    waits = [FileSensor(task_id=f"wait{{i}}", filepath={str(flag)!r}, deferrable=True, poke_interval=0.1)
             for i in range(2)]
    quick = [BashOperator(task_id=f"quick{{i}}", bash_command="true") for i in range(3)]
    after = PythonOperator(task_id="after", python_callable=lambda: mark("after"))
    waits >> after
""")
    denv.sync()
    denv.trigger("slots")
    denv.drive(lambda: all(_state(denv, "slots", f"wait{i}") == "deferred" for i in range(2)))
    # parallelism is 2 and both sensors wait: the quick tasks still run, as nothing holds a slot
    denv.drive(lambda: all(_state(denv, "slots", f"quick{i}") == "success" for i in range(3)))
    assert all(_state(denv, "slots", f"wait{i}") == "deferred" for i in range(2))
    assert _trigger_count(denv) == 2
    triggerer()
    flag.write_text("here")
    denv.drive(denv.finished("slots"), timeout=60)
    assert denv.run_states("slots") == ["success"]
    for i in range(2):
        ti = _ti(denv, "slots", f"wait{i}")
        assert (ti.state, ti.try_number, ti.trigger_id, ti.next_method) == ("success", 1, None, None)
    assert _trigger_count(denv) == 0
    assert denv.marks("after")


def test_the_resumed_method_gets_the_event_and_its_kwargs_as_objects(denv: Env, triggerer: Callable[..., Any]) -> None:
    denv.write_dag("resume", OPS + """
with DAG("resume", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    Deferring(task_id="d", trigger="echo")
""")
    denv.sync()
    triggerer()
    run_id = denv.trigger("resume")
    denv.drive(denv.finished("resume"), timeout=60)
    assert denv.run_states("resume") == ["success"]
    assert [m["try_number"] for m in denv.marks("d_execute")] == [1]
    (finish,) = denv.marks("d_finish")
    # a datetime and a tuple crossed the database as themselves (Airflow serializes them too)
    assert (finish["event_type"], finish["extra_type"], finish["try_number"]) == ("DateTime", "tuple", 1)
    with transaction(denv.factory) as s:
        value = s.scalar(sa.select(XCom.value).where(XCom.run_id == run_id, XCom.task_id == "d"))
    assert value is not None
    history = denv.history("resume", "d")
    assert [(h.try_number, h.state) for h in history] == [(1, "success")]


def test_a_failing_trigger_fails_the_try_with_task_deferral_error_and_retries(denv: Env,
                                                                               triggerer: Callable[..., Any]) -> None:
    denv.write_dag("broken", OPS + """
with DAG("broken", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    Deferring(task_id="d", trigger="broken", retries=1, retry_delay=timedelta(seconds=0))
""")
    denv.sync()
    triggerer()
    denv.trigger("broken")
    denv.drive(denv.finished("broken"), timeout=60)
    assert denv.run_states("broken") == ["failed"]
    ti = _ti(denv, "broken", "d")
    assert (ti.state, ti.try_number) == ("failed", 2)
    assert [m["try_number"] for m in denv.marks("d_execute")] == [1, 2]
    text = "".join(p.read_text() for p in (denv.dags.parent / "logs").rglob("attempt=2.log"))
    assert "TaskDeferralError" in text and "the remote job vanished" in text, text[-2000:]


def test_a_passed_deadline_fails_with_task_deferral_timeout(denv: Env) -> None:
    denv.write_dag("late", OPS + """
with DAG("late", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    Deferring(task_id="d", trigger="never", timeout=timedelta(seconds=1))
""")
    denv.sync()
    denv.trigger("late")
    # no triggerer at all: the scheduler alone enforces the deadline
    denv.drive(denv.finished("late"), timeout=60)
    assert _ti(denv, "late", "d").state == "failed"
    text = "".join(p.read_text() for p in (denv.dags.parent / "logs").rglob("attempt=1.log"))
    assert "TaskDeferralTimeout" in text
    assert _trigger_count(denv) == 0


def test_a_task_ending_event_ends_the_try_without_resuming_it(denv: Env, triggerer: Callable[..., Any]) -> None:
    denv.write_dag("ends", OPS + """
with DAG("ends", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    Deferring(task_id="d", trigger="fail", retries=3)
""")
    denv.sync()
    triggerer()
    run_id = denv.trigger("ends")
    denv.drive(denv.finished("ends"), timeout=60)
    ti = _ti(denv, "ends", "d")
    assert (ti.state, ti.try_number) == ("failed", 1)  # ended by the trigger: no retry, as Airflow
    assert not denv.marks("d_finish")
    with transaction(denv.factory) as s:
        why = s.scalar(sa.select(XCom.value).where(XCom.run_id == run_id, XCom.key == "why"))
        rows = s.execute(sa.select(TaskInstanceHistory.try_number, TaskInstanceHistory.state)).all()
    assert why is not None and rows == [(1, "failed")]


def test_clearing_a_deferred_try_drops_its_trigger(denv: Env, triggerer: Callable[..., Any]) -> None:
    from runtime.sdk import timezone
    from runtime.store import actions

    denv.write_dag("clear", OPS + """
with DAG("clear", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    Deferring(task_id="d", trigger="never")
""")
    denv.sync()
    run_id = denv.trigger("clear")
    denv.drive(lambda: _state(denv, "clear", "d") == "deferred")
    assert _trigger_count(denv) == 1
    t = triggerer()
    denv.drive(lambda: bool(t.runner.running))
    with transaction(denv.factory) as s:
        actions.mark_task_instance(s, "clear", run_id, "d", -1, "success", now=timezone.utcnow())
    denv.drive(lambda: not t.runner.running and _trigger_count(denv) == 0, timeout=60)
    with transaction(denv.factory) as s:
        ti = s.scalars(sa.select(TaskInstance).where(TaskInstance.task_id == "d")).one()
    assert (ti.state, ti.trigger_id, ti.next_method) == ("success", None, None)


def test_trigger_dag_run_and_external_task_sensor_wait_in_the_triggerer(denv: Env,
                                                                        triggerer: Callable[..., Any]) -> None:
    denv.write_dag("pair", """
from airflow.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sensors.external_task import ExternalTaskSensor
with DAG("child", start_date=datetime(2024, 1, 1), schedule=None) as child:
    BashOperator(task_id="work", bash_command="sleep 1")
with DAG("parent", start_date=datetime(2024, 1, 1), schedule=None) as parent:
    TriggerDagRunOperator(task_id="kick", trigger_dag_id="child", wait_for_completion=True, deferrable=True,
                          poke_interval=0.2, logical_date="{{ logical_date }}")
    ExternalTaskSensor(task_id="watch", external_dag_id="child", external_task_id="work", deferrable=True,
                       poke_interval=0.2, timeout=60)
""")
    denv.sync()
    triggerer()
    denv.trigger("parent")
    denv.drive(denv.finished("parent"), timeout=90)
    assert denv.run_states("child") == ["success"]
    assert denv.run_states("parent") == ["success"]
    assert {k[0]: t.try_number for k, t in denv.tis("parent").items()} == {"kick": 1, "watch": 1}
    assert _trigger_count(denv) == 0
