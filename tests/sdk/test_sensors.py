"""Sensors in poke and reschedule mode, timeouts and soft_fail, run in-process with run_dag."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest

from runtime.inprocess import MemoryServices, run_dag
from runtime.sdk import DAG, TaskGroup, task
from runtime.sdk.exceptions import AirflowException, AirflowSkipException
from runtime.sdk.operators.empty import EmptyOperator
from runtime.sdk.operators.python import PythonOperator
from runtime.sdk.sensors.base import BaseSensorOperator, PokeReturnValue, next_poke_interval, timed_out
from runtime.sdk.sensors.date_time import DateTimeSensor
from runtime.sdk.sensors.external_task import ExternalTaskMarker, ExternalTaskSensor, verdict
from runtime.sdk.sensors.filesystem import FileSensor
from runtime.sdk.sensors.python import PythonSensor
from runtime.sdk.sensors.time_delta import TimeDeltaSensor

START = pendulum.datetime(2024, 1, 1, tz="UTC")
FAST = {"poke_interval": 0.02, "timeout": 0.3}


def states(record: Any) -> dict[str, str]:
    """task_id -> state of an unmapped run."""
    return {tid: state for (tid, _), state in record.task_states.items()}


def run(dag: DAG, services: MemoryServices | None = None, when: Any = START) -> dict[str, str]:
    return states(run_dag(dag, when, services=services or MemoryServices(environ={})))


def _counter(done_after: int, value: Any = None) -> tuple[list[int], Any]:
    pokes: list[int] = []

    def poke() -> Any:
        pokes.append(1)
        return PokeReturnValue(len(pokes) >= done_after, value)

    return pokes, poke


# -- BaseSensorOperator --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_pokes_until_done_and_pushes_the_poke_value(mode: str) -> None:
    pokes, poke = _counter(3, {"found": 3})
    with DAG("s", start_date=START, schedule=None) as dag:
        PythonSensor(task_id="wait", python_callable=poke, mode=mode, **FAST)
    services = MemoryServices(environ={})
    record = run_dag(dag, START, services=services)
    assert states(record) == {"wait": "success"}
    assert len(pokes) == 3
    assert record.tries[("wait", -1)] == 1  # a reschedule is not a new try
    assert services.xcom_get("s", record.run_id, "wait", "return_value", -1) == [(-1, {"found": 3})]


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_timeout_fails_without_retrying(mode: str) -> None:
    pokes, poke = _counter(10**6)
    with DAG("s", start_date=START, schedule=None) as dag:
        PythonSensor(task_id="wait", python_callable=poke, mode=mode, retries=2, retry_delay=0, **FAST)
        EmptyOperator(task_id="after") << dag.get_task("wait")
    record = run_dag(dag, START, services=MemoryServices(environ={}))
    assert states(record) == {"wait": "failed", "after": "upstream_failed"}
    assert record.tries[("wait", -1)] == 1
    assert len(pokes) >= 3


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_soft_fail_skips_on_timeout(mode: str) -> None:
    _, poke = _counter(10**6)
    with DAG("s", start_date=START, schedule=None) as dag:
        PythonSensor(task_id="wait", python_callable=poke, mode=mode, soft_fail=True, **FAST) >> EmptyOperator(task_id="after")
    assert run(dag) == {"wait": "skipped", "after": "skipped"}


def test_reschedule_timeout_counts_from_the_first_try() -> None:
    """Each reschedule is short, yet the sensor times out: the clock starts at the first poke."""
    pokes, poke = _counter(10**6)
    with DAG("s", start_date=START, schedule=None) as dag:
        PythonSensor(task_id="wait", python_callable=poke, mode="reschedule", poke_interval=0.05, timeout=0.25)
    assert run(dag) == {"wait": "failed"}
    assert 3 <= len(pokes) <= 10


def test_sensor_error_in_poke_fails_and_retries_normally() -> None:
    def poke() -> bool:
        raise RuntimeError("broken poke")

    with DAG("s", start_date=START, schedule=None) as dag:
        PythonSensor(task_id="wait", python_callable=poke, retries=1, retry_delay=0, **FAST)
    record = run_dag(dag, START, services=MemoryServices(environ={}))
    assert states(record) == {"wait": "failed"} and record.tries[("wait", -1)] == 2


def test_sensor_arguments_are_validated() -> None:
    with DAG("s", start_date=START, schedule=None):
        with pytest.raises(AirflowException, match="mode"):
            PythonSensor(task_id="a", python_callable=bool, mode="wait")
        with pytest.raises(AirflowException, match="poke_interval"):
            PythonSensor(task_id="b", python_callable=bool, poke_interval=-1)
        sensor = PythonSensor(task_id="c", python_callable=bool, poke_interval=timedelta(minutes=2), timeout=timedelta(hours=1))
    assert (sensor.poke_interval, sensor.timeout, sensor.is_sensor) == (120.0, 3600.0, True)
    with DAG("d", start_date=START, schedule=None):
        default = PythonSensor(task_id="d", python_callable=bool)
    assert (default.poke_interval, default.timeout, default.mode, default.soft_fail) == (60.0, 604800.0, "poke", False)


def test_exponential_backoff_grows_and_is_capped() -> None:
    waits = [next_poke_interval(10, 10_000, 0, n, exponential=True, max_wait=None, seed="d#t") for n in range(1, 8)]
    assert all(a <= b * 2 for a, b in zip(waits, waits[1:], strict=False))
    assert waits[-1] > waits[0]
    assert next_poke_interval(10, 10_000, 0, 12, exponential=True, max_wait=30, seed="d#t") == 30
    assert next_poke_interval(10, 100, 95, 12, exponential=True, max_wait=None, seed="d#t") <= 5
    assert next_poke_interval(10, 100, 0, 5, exponential=False, max_wait=None, seed="x") == 10
    assert timed_out(START, START + timedelta(seconds=11), 10) and not timed_out(START, START + timedelta(seconds=10), 10)


def test_task_sensor_decorator() -> None:
    pokes: list[int] = []
    with DAG("s", start_date=START, schedule=None) as dag:

        @task.sensor(poke_interval=0.02, timeout=5, mode="reschedule")
        def wait_for(n: int) -> PokeReturnValue:
            pokes.append(n)
            return PokeReturnValue(len(pokes) >= n, xcom_value=f"after {len(pokes)}")

        @task
        def use(value: str) -> str:
            return value.upper()

        use(wait_for(2))
    services = MemoryServices(environ={})
    record = run_dag(dag, START, services=services)
    assert states(record) == {"wait_for": "success", "use": "success"}
    assert services.xcom_get("s", record.run_id, "use", "return_value", -1) == [(-1, "AFTER 2")]


# -- time sensors --------------------------------------------------------------------------------


def test_time_delta_sensor_waits_past_the_interval_end() -> None:
    with DAG("t", start_date=START, schedule="@daily") as dag:
        TimeDeltaSensor(task_id="past", delta=timedelta(hours=1), **FAST)
        TimeDeltaSensor(task_id="future", delta=timedelta(days=3), soft_fail=True, **FAST)
    now = pendulum.now("UTC")  # the interval ends at most 26 h ago, at least 2 h ago, whatever the time of day
    assert run(dag, when=now.subtract(hours=2)) == {"past": "success", "future": "skipped"}


def test_date_time_sensor_renders_its_target() -> None:
    soon = pendulum.now("UTC").add(seconds=0.15)
    with DAG("t", start_date=START, schedule=None) as dag:
        DateTimeSensor(task_id="templated", target_time="{{ data_interval_end }}", **FAST)
        DateTimeSensor(task_id="soon", target_time=soon, poke_interval=0.02, timeout=5)
        DateTimeSensor(task_id="never", target_time="{{ macros.ds_add(ds, 3650) }}", soft_fail=True, **FAST)
    assert run(dag) == {"templated": "success", "soon": "success", "never": "skipped"}
    assert pendulum.now("UTC") > soon


def test_date_time_sensor_rejects_other_types() -> None:
    with pytest.raises(TypeError), DAG("t", start_date=START, schedule=None):
        DateTimeSensor(task_id="bad", target_time=12)  # type: ignore[arg-type]


# -- FileSensor ----------------------------------------------------------------------------------


def test_file_sensor_finds_files_dirs_and_globs(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data_2024-01-01.csv").write_text("x")
    (tmp_path / "deep" / "a" / "b").mkdir(parents=True)
    (tmp_path / "deep" / "a" / "b" / "x.parquet").write_text("x")
    (tmp_path / "empty").mkdir()
    with DAG("f", start_date=START, schedule=None) as dag:
        FileSensor(task_id="templated", filepath=str(tmp_path / "in" / "data_{{ ds }}.csv"), **FAST)
        FileSensor(task_id="glob", filepath=str(tmp_path / "in" / "*.csv"), **FAST)
        FileSensor(task_id="dir", filepath=str(tmp_path / "deep"), **FAST)
        FileSensor(task_id="recursive", filepath=str(tmp_path / "**" / "*.parquet"), recursive=True, **FAST)
        FileSensor(task_id="not_recursive", filepath=str(tmp_path / "**" / "*.parquet"), soft_fail=True, **FAST)
        FileSensor(task_id="empty_dir", filepath=str(tmp_path / "empty"), soft_fail=True, **FAST)
    assert run(dag) == {
        "templated": "success", "glob": "success", "dir": "success", "recursive": "success",
        "not_recursive": "skipped", "empty_dir": "skipped",
    }


def test_file_sensor_joins_the_connection_base_path(tmp_path: Path) -> None:
    (tmp_path / "ready.flag").write_text("")
    services = MemoryServices(environ={"AIRFLOW_CONN_FS_LANDING": f"fs://?path={tmp_path}"})
    with DAG("f", start_date=START, schedule=None) as dag:
        FileSensor(task_id="flag", fs_conn_id="fs_landing", filepath="ready.flag", **FAST)
    assert run(dag, services) == {"flag": "success"}


def test_file_sensor_sees_a_file_that_appears_later(tmp_path: Path) -> None:
    target = tmp_path / "late.txt"
    with DAG("f", start_date=START, schedule=None) as dag:
        FileSensor(task_id="wait", filepath=str(target), mode="reschedule", poke_interval=0.02, timeout=5)
        PythonOperator(task_id="write", python_callable=lambda: target.write_text("now"))
    assert run(dag) == {"wait": "success", "write": "success"}
    assert os.path.exists(target)


# -- ExternalTaskSensor --------------------------------------------------------------------------


def _upstream() -> DAG:
    with DAG("up", start_date=START, schedule="@daily") as dag:
        EmptyOperator(task_id="ok")
        PythonOperator(task_id="bad", python_callable=lambda: 1 / 0)

        def skip() -> None:
            raise AirflowSkipException("nothing to do")

        PythonOperator(task_id="skip", python_callable=skip)
        with TaskGroup("grp"):
            EmptyOperator(task_id="one") >> EmptyOperator(task_id="two")
    return dag


@pytest.fixture
def upstream_ran() -> MemoryServices:
    up = _upstream()
    services = MemoryServices(environ={}, dag_lookup={"up": up}.get)
    run_dag(up, START, services=services, quiet=True)
    return services


def test_external_task_sensor_outcomes(upstream_ran: MemoryServices) -> None:
    with DAG("down", start_date=START, schedule="@daily") as dag:
        ExternalTaskSensor(task_id="task_ok", external_dag_id="up", external_task_id="ok", **FAST)
        ExternalTaskSensor(task_id="tasks_ok", external_dag_id="up", external_task_ids=["ok", "grp.one"], **FAST)
        ExternalTaskSensor(task_id="group_ok", external_dag_id="up", external_task_group_id="grp", **FAST)
        ExternalTaskSensor(task_id="waits", external_dag_id="up", external_task_id="bad", soft_fail=True, **FAST)
        ExternalTaskSensor(task_id="fails", external_dag_id="up", external_task_id="bad", failed_states=["failed"], **FAST)
        ExternalTaskSensor(task_id="soft", external_dag_id="up", external_task_id="bad", failed_states=["failed"], soft_fail=True, **FAST)
        ExternalTaskSensor(task_id="skips", external_dag_id="up", external_task_id="skip", skipped_states=["skipped"], **FAST)
        ExternalTaskSensor(task_id="skip_ok", external_dag_id="up", external_task_id="skip", allowed_states=["success", "skipped"], **FAST)
    assert run(dag, upstream_ran) == {
        "task_ok": "success", "tasks_ok": "success", "group_ok": "success", "waits": "skipped",
        "fails": "failed", "soft": "skipped", "skips": "skipped", "skip_ok": "success",
    }


def test_external_task_sensor_on_the_whole_run_and_other_dates(upstream_ran: MemoryServices) -> None:
    with DAG("down", start_date=START, schedule="@daily") as dag:
        ExternalTaskSensor(task_id="run_failed", external_dag_id="up", external_task_id=None, allowed_states=["failed"], **FAST)
        ExternalTaskSensor(task_id="run_fails", external_dag_id="up", failed_states=["failed"], **FAST)
        ExternalTaskSensor(task_id="delta", external_dag_id="up", external_task_id="ok", execution_delta=timedelta(days=1), **FAST)
        ExternalTaskSensor(task_id="fn", external_dag_id="up", external_task_id="ok",
                           execution_date_fn=lambda dt, **_: [dt - timedelta(days=1)], **FAST)
        ExternalTaskSensor(task_id="missing_day", external_dag_id="up", external_task_id="ok",
                           execution_delta=timedelta(days=2), soft_fail=True, **FAST)
    got = run(dag, upstream_ran, when=START + timedelta(days=1))
    assert got == {"run_failed": "failed", "run_fails": "failed", "delta": "success", "fn": "success", "missing_day": "skipped"}
    got = run(dag, upstream_ran, when=START)
    assert got["run_failed"] == "success" and got["run_fails"] == "failed"


def test_external_task_sensor_check_existence(upstream_ran: MemoryServices) -> None:
    with DAG("down", start_date=START, schedule=None) as dag:
        ExternalTaskSensor(task_id="no_task", external_dag_id="up", external_task_id="nope", check_existence=True, **FAST)
        ExternalTaskSensor(task_id="no_dag", external_dag_id="gone", external_task_id="ok", check_existence=True, **FAST)
    assert run(dag, upstream_ran) == {"no_task": "failed", "no_dag": "failed"}


def test_external_task_sensor_validates_its_arguments() -> None:
    with DAG("down", start_date=START, schedule=None):
        with pytest.raises(ValueError, match="Only one of"):
            ExternalTaskSensor(task_id="a", external_dag_id="up", external_task_id="x", external_task_ids=["y"])
        with pytest.raises(ValueError, match="Only one of"):
            ExternalTaskSensor(task_id="b", external_dag_id="up", execution_delta=timedelta(1), execution_date_fn=lambda d: d)
        with pytest.raises(ValueError, match="not valid DAG run states"):
            ExternalTaskSensor(task_id="c", external_dag_id="up", allowed_states=["skipped"])
        with pytest.raises(AirflowException, match="Duplicate"):
            ExternalTaskSensor(task_id="d", external_dag_id="up", external_task_id="x", allowed_states=["failed"], failed_states=["failed"])
        sensor = ExternalTaskSensor(task_id="e", external_dag_id="up", external_task_id="x")
        marker = ExternalTaskMarker(task_id="m", external_dag_id="down2", external_task_id="t")
    assert (sensor.allowed_states, sensor.failed_states, sensor.skipped_states) == (["success"], [], [])
    assert marker.inherits_from_empty_operator and marker.execution_date == "{{ logical_date.isoformat() }}"


def test_external_verdict_is_pure() -> None:
    assert verdict(["success", "success"], 2, ["success"], [], []) == "done"
    assert verdict(["success"], 2, ["success"], [], []) == "wait"
    assert verdict(["success", None], 2, ["success"], ["failed"], []) == "wait"
    assert verdict(["success", "failed"], 2, ["success"], ["failed"], []) == "fail"
    assert verdict(["skipped"], 1, ["success"], [], ["skipped"]) == "skip"


class _CountingSensor(BaseSensorOperator):
    """A user-defined sensor, as DAG files write them."""

    template_fields = ("target",)

    def __init__(self, *, target: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.seen = 0

    def poke(self, context: Any) -> bool:
        self.seen += 1
        return self.seen >= int(self.target)


def test_custom_sensor_subclass_uses_rendered_fields() -> None:
    with DAG("s", start_date=START, schedule=None, params={"n": 3}) as dag:
        _CountingSensor(task_id="custom", target="{{ params.n }}", poke_interval=0.01, timeout=5)
    assert run(dag) == {"custom": "success"}
