"""Dynamic task mapping, the rest of the API: mapped task groups, ``.output``, ``.map()``, and the scheduler's view."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest

from runtime.compat.api import DAG
from runtime.inprocess import MemoryServices, run_dag
from runtime.sdk import task, task_group
from runtime.sdk.serialization import serialize_dag
from tests.scheduler.helpers import Env

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def _run(dag: DAG) -> tuple[MemoryServices, Any]:
    services = MemoryServices(environ={})
    return services, run_dag(dag, services=services, quiet=True)


def _values(services: MemoryServices, record: Any, task_id: str) -> list[Any]:
    return [v for _, v in sorted(services.xcom_get(record.dag_id, record.run_id, task_id, "return_value", None))]


def test_mapped_task_group_maps_every_task_and_keeps_the_map_index_inside() -> None:
    with DAG("g", start_date=START, schedule=None) as d:
        @task_group
        def op(num: int, offset: int) -> Any:
            @task
            def add(n: int, k: int) -> int:
                return n + k

            @task
            def double(n: int) -> int:
                return n * 2

            return double(add(num, offset))

        @task
        def total(values: list[int]) -> int:
            return sum(values)

        total(op.partial(offset=1).expand(num=[1, 2, 3]))
    services, record = _run(d)
    assert record.state == "success"
    assert _values(services, record, "op.add") == [2, 3, 4]
    assert _values(services, record, "op.double") == [4, 6, 8]
    assert _values(services, record, "total") == [18]
    tasks = {t["task_id"]: t for t in serialize_dag(d)["tasks"]}
    assert tasks["op.double"]["is_mapped"] and tasks["op.double"]["map_literal_length"] == 3


def test_mapped_task_group_over_an_upstream_output() -> None:
    with DAG("gx", start_date=START, schedule=None) as d:
        @task
        def nums() -> list[int]:
            return [5, 6]

        @task_group
        def grp(n: int) -> Any:
            @task
            def square(x: int) -> int:
                return x * x

            return square(n)

        grp.expand(n=nums())
    services, record = _run(d)
    assert record.state == "success" and _values(services, record, "grp.square") == [25, 36]


def test_expand_refuses_an_argument_in_both_partial_and_expand() -> None:
    with DAG("bad", start_date=START, schedule=None):
        @task_group
        def grp(n: int) -> None:
            task(lambda x: x, task_id="t")(n)

        with pytest.raises(Exception, match="both"):
            grp.partial(n=1).expand(n=[1])


GROUP_DAG = '''
from airflow.sdk import task, task_group
with DAG("mapped_group", start_date=datetime(2024, 1, 1), schedule=None) as d:
    @task
    def nums():
        return [1, 2]

    @task_group
    def grp(n):
        @task
        def inc(x):
            return x + 1

        @task
        def record(x):
            mark("record", x=x)

        record(inc(n))

    grp.expand(n=nums())
'''


def test_the_scheduler_runs_a_mapped_group_over_an_upstream_output(seq_env: Env) -> None:
    seq_env.write_dag("mapped_group", GROUP_DAG)
    seq_env.sync()
    seq_env.trigger("mapped_group")
    seq_env.drive(seq_env.finished("mapped_group"))
    assert seq_env.run_states("mapped_group") == ["success"]
    assert sorted(m["x"] for m in seq_env.marks("record")) == [2, 3]
    assert {k for k in seq_env.tis("mapped_group")} >= {("grp.inc", 0), ("grp.inc", 1), ("grp.record", 1)}
