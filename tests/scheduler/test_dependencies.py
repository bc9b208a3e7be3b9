"""Readiness under the scheduler: depends_on_past, skips, upstream_failed, mapping, clear."""

from __future__ import annotations

from datetime import datetime, timedelta

import pendulum
import sqlalchemy as sa

from runtime.store.clear import clear_task_instances
from runtime.store.models import DagRun, SerializedDagModel
from runtime.store.session import transaction

UTC = pendulum.UTC


def test_depends_on_past_holds_until_previous_try_succeeded(env):
    env.write_dag("dop", """
def gate(**ctx):
    day = ctx["logical_date"].day
    mark("gate", day=day, try_number=ctx["ti"].try_number)
    if day == 1 and ctx["ti"].try_number == 1:
        time.sleep(0.5)
        raise ValueError("the first run's first try fails")
with DAG("dop", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=True, max_active_runs=2) as dag:
    PythonOperator(task_id="gate", python_callable=gate, depends_on_past=True)
    PythonOperator(task_id="free", python_callable=lambda: None)
""")
    env.sync()
    now = datetime(2024, 1, 3, 1, tzinfo=UTC)
    env.step(now)
    env.drive(lambda: env.run_states("dop")[:1] == ["failed"] and env.run_states("dop")[1:] == ["running"])
    with transaction(env.factory) as s:
        second = s.scalars(sa.select(DagRun.run_id).where(DagRun.dag_id == "dop").order_by(DagRun.logical_date)).all()
    tis = env.tis("dop", second[1])
    assert tis[("gate", -1)].state is None and tis[("free", -1)].state == "success"  # held, not failed
    assert [m["day"] for m in env.marks("gate")] == [1], (env.marks("gate"), env.states())
    with transaction(env.factory) as s:  # the first run's try succeeds on a rerun: the second may go
        clear_task_instances(s, "dop", second[0], ["gate"], serialized=_serialized(s, "dop"))
    env.drive(lambda: env.run_states("dop")[:2] == ["success", "success"])
    # (the real clock lets a third run start meanwhile: only the first two runs are this test's)
    assert [m["day"] for m in env.marks("gate") if m["day"] <= 2] == [1, 1, 2]


def _serialized(session, dag_id):
    import json

    return json.loads(session.get(SerializedDagModel, dag_id).data)


def test_branch_skips_and_upstream_failed_propagate(env):
    env.write_dag("br", """
from airflow.operators.python import BranchPythonOperator
def boom():
    raise RuntimeError("boom")
with DAG("br", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    pick = BranchPythonOperator(task_id="pick", python_callable=lambda: "left")
    left, right = EmptyOperator(task_id="left"), EmptyOperator(task_id="right")
    right_after = EmptyOperator(task_id="right_after")
    join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
    pick >> [left, right]
    right >> right_after >> join
    left >> join
    bad = PythonOperator(task_id="bad", python_callable=boom)
    after_bad = EmptyOperator(task_id="after_bad")
    cleanup = EmptyOperator(task_id="cleanup", trigger_rule="all_done")
    bad >> after_bad >> cleanup
""")
    env.sync()
    env.trigger("br")
    env.drive(env.finished("br"))
    states = {k[0]: ti.state for k, ti in env.tis("br").items()}
    assert states == {"pick": "success", "left": "success", "right": "skipped", "right_after": "skipped",
                      "join": "success", "bad": "failed", "after_bad": "upstream_failed", "cleanup": "success"}
    assert env.run_states("br") == ["success"]  # Airflow: the leaves (join, cleanup) decide the run


def test_mapping_expands_from_upstream_xcom(env):
    env.write_dag("mp", """
from airflow.decorators import task
with DAG("mp", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    @task
    def make():
        return [1, 2, 3]
    @task
    def double(x, factor):
        return x * factor
    @task
    def total(values):
        mark("total", value=sum(values))
    @task
    def nothing():
        return []
    total(double.partial().expand(x=make(), factor=[2, 10]))
    double.override(task_id="empty_map").expand(x=nothing(), factor=[1])
""")
    env.sync()
    env.trigger("mp")
    env.drive(env.finished("mp"))
    tis = env.tis("mp")
    assert sorted(k[1] for k in tis if k[0] == "double") == list(range(6))
    assert [m["value"] for m in env.marks("total")] == [72]  # (1 + 2 + 3) * (2 + 10)
    assert tis[("empty_map", -1)].state == "skipped"
    assert env.run_states("mp") == ["success"]


def test_clear_reruns_a_task_and_its_downstream(env):
    env.write_dag("cl", """
def note(name):
    mark("runs", task=name)
with DAG("cl", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    a, b, c = (PythonOperator(task_id=n, python_callable=note, op_args=[n], retries=1) for n in "abc")
    up = PythonOperator(task_id="up", python_callable=note, op_args=["up"])
    up >> a >> b >> c
""")
    env.sync()
    run_id = env.trigger("cl")
    env.drive(env.finished("cl"))
    with transaction(env.factory) as s:
        count = clear_task_instances(s, "cl", run_id, ["a"], downstream=True, serialized=_serialized(s, "cl"))
    assert count == 3
    assert env.run_states("cl") == ["queued"]
    env.drive(env.finished("cl"))
    assert [m["task"] for m in env.marks("runs")] == ["up", "a", "b", "c", "a", "b", "c"]
    tis = env.tis("cl")
    assert {t: tis[(t, -1)].try_number for t in ("up", "a", "b", "c")} == {"up": 1, "a": 2, "b": 2, "c": 2}
    assert tis[("a", -1)].max_tries == 2
    assert env.run_states("cl") == ["success"]


def test_wait_for_downstream_holds_until_previous_downstream_done(env):
    start = (pendulum.now(UTC) - timedelta(hours=2, minutes=1)).replace(second=0, microsecond=0)
    env.write_dag("wfd", f"""
with DAG("wfd", start_date=datetime.fromisoformat({start.isoformat()!r}), schedule=timedelta(hours=1),
         catchup=True, max_active_runs=2) as dag:
    a = PythonOperator(task_id="a", python_callable=lambda: None, wait_for_downstream=True)
    b = PythonOperator(task_id="b", python_callable=lambda: time.sleep(1))
    a >> b
""")
    env.sync()
    env.drive(lambda: env.run_states("wfd") == ["success", "success"])
    with transaction(env.factory) as s:
        run_ids = s.scalars(sa.select(DagRun.run_id).where(DagRun.dag_id == "wfd").order_by(DagRun.logical_date)).all()
    first, second = env.tis("wfd", run_ids[0]), env.tis("wfd", run_ids[1])
    assert second[("a", -1)].start_date >= first[("b", -1)].end_date
