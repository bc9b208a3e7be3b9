"""Run creation: catchup, catchup=False, @once, None, pause, max_active_runs; observed in dag_run."""

from __future__ import annotations

from datetime import datetime, timedelta

import pendulum
import sqlalchemy as sa

from runtime.store.models import DagModel, DagRun
from runtime.store.session import transaction

UTC = pendulum.UTC


def _runs(env, dag_id):
    with transaction(env.factory) as s:
        rows = s.execute(sa.select(DagRun.logical_date, DagRun.data_interval_end, DagRun.run_type, DagRun.run_id)
                         .where(DagRun.dag_id == dag_id).order_by(DagRun.logical_date)).all()
    return [tuple(r) for r in rows]


def _daily(env, dag_id, catchup, schedule="'@daily'", extra=""):
    env.write_dag(dag_id, f"""
        with DAG({dag_id!r}, start_date=datetime(2024, 1, 1), schedule={schedule}, catchup={catchup}{extra}) as dag:
            EmptyOperator(task_id="t")
    """)


def test_catchup_creates_exactly_the_missed_intervals(seq_env):
    _daily(seq_env, "cu", True)
    seq_env.sync()
    seq_env.step(datetime(2024, 1, 4, 3, tzinfo=UTC))
    runs = _runs(seq_env, "cu")
    assert [r[0].day for r in runs] == [1, 2, 3]
    assert [r[1].day for r in runs] == [2, 3, 4]
    assert {r[2] for r in runs} == {"scheduled"}
    assert runs[0][3] == "scheduled__2024-01-01T00:00:00+00:00"
    seq_env.step(datetime(2024, 1, 4, 5, tzinfo=UTC))
    assert len(_runs(seq_env, "cu")) == 3  # nothing new until the next interval ends


def test_catchup_false_creates_only_the_latest_interval(seq_env):
    _daily(seq_env, "nocu", False)
    seq_env.sync()
    seq_env.step(datetime(2024, 1, 4, 3, tzinfo=UTC))
    assert [r[0] for r in _runs(seq_env, "nocu")] == [datetime(2024, 1, 3, tzinfo=UTC)]
    seq_env.step(datetime(2024, 1, 5, 0, 1, tzinfo=UTC))
    assert [r[0].day for r in _runs(seq_env, "nocu")] == [3, 4]


def test_once_runs_once_and_none_never(seq_env):
    _daily(seq_env, "once", True, "'@once'")
    _daily(seq_env, "never", True, "None")
    seq_env.sync()
    for hour in (1, 2, 3):
        seq_env.step(datetime(2024, 3, 1, hour, tzinfo=UTC))
    assert [r[0] for r in _runs(seq_env, "once")] == [datetime(2024, 1, 1, tzinfo=UTC)]
    assert _runs(seq_env, "never") == []


def test_pause_stops_new_runs(seq_env):
    _daily(seq_env, "pz", False)
    seq_env.sync()
    seq_env.step(datetime(2024, 1, 4, 3, tzinfo=UTC))
    with transaction(seq_env.factory) as s:
        s.execute(sa.update(DagModel).where(DagModel.dag_id == "pz").values(is_paused=True))
    seq_env.step(datetime(2024, 1, 6, 3, tzinfo=UTC))
    assert len(_runs(seq_env, "pz")) == 1
    with transaction(seq_env.factory) as s:
        s.execute(sa.update(DagModel).where(DagModel.dag_id == "pz").values(is_paused=False))
    seq_env.step(datetime(2024, 1, 6, 3, tzinfo=UTC))
    assert [r[0].day for r in _runs(seq_env, "pz")] == [3, 5]  # catchup=False: the latest only


def test_runs_of_a_paused_dag_wait(seq_env):
    _daily(seq_env, "held", True, "None")
    seq_env.sync(unpause=False)
    seq_env.trigger("held")
    seq_env.step()
    seq_env.step()
    assert seq_env.run_states("held") == ["queued"] and seq_env.tis("held") == {}
    with transaction(seq_env.factory) as s:
        s.execute(sa.update(DagModel).where(DagModel.dag_id == "held").values(is_paused=False))
    seq_env.drive(seq_env.finished("held"))
    assert seq_env.run_states("held") == ["success"]


def test_max_active_runs_caps_running_runs(env):
    start = (pendulum.now(UTC) - timedelta(hours=3, minutes=1)).replace(second=0, microsecond=0)
    env.write_dag("mar", f"""
        with DAG("mar", start_date=datetime.fromisoformat({start.isoformat()!r}), schedule=timedelta(hours=1),
                 catchup=True, max_active_runs=1) as dag:
            PythonOperator(task_id="t", python_callable=lambda: time.sleep(0.3))
    """)
    env.sync()
    env.step()
    assert len(_runs(env, "mar")) == 1  # the cap holds back creation too
    env.drive(lambda: env.run_states("mar") == ["success"] * 3, timeout=30)
    with transaction(env.factory) as s:
        spans = sorted(s.execute(sa.select(DagRun.start_date, DagRun.end_date).where(DagRun.dag_id == "mar")).all())
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))  # never two at once
