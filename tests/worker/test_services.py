"""DbServices round trips on SQLite and PostgreSQL, in this process and in a forked child."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from runtime.sdk import DAG, TaskGroup
from runtime.sdk.connection import Connection
from runtime.sdk.exceptions import DagRunAlreadyExists
from runtime.sdk.operators.bash import BashOperator
from runtime.sdk.serialization import dag_hash, serialize_dag
from runtime.secrets import ConnectionNotFound, VariableNotFound
from runtime.store.connections import set_connection
from runtime.store.crypto import get_fernet
from runtime.store.models import DagModel, DagRun, SerializedDagModel, TaskInstance
from runtime.store.session import transaction
from runtime.store.variables import set_variable
from runtime.worker.services import DagNotFound, DbServices

NOW = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)
DAY = dt.datetime(2026, 2, 27, tzinfo=dt.UTC)


def _store_dag(store: Any, dag_id: str, schedule: str | None = "@daily", active: bool = True) -> None:
    with DAG(dag_id, schedule=schedule, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) as dag:
        BashOperator(task_id="first", bash_command="true") >> BashOperator(
            task_id="second", bash_command="true"
        )
        with TaskGroup("grp"):
            BashOperator(task_id="inner", bash_command="true")
            with TaskGroup("sub"):
                BashOperator(task_id="leaf", bash_command="true")
    data = serialize_dag(dag)
    with transaction(store.session_factory) as session:
        session.add(
            SerializedDagModel(
                dag_id=dag_id,
                fileloc="/dags/x.py",
                data=json.dumps(data),
                dag_hash=dag_hash(data),
                last_updated=NOW,
            )
        )
        session.add(DagModel(dag_id=dag_id, fileloc="/dags/x.py", is_active=active))


def _services(store: Any, environ: dict[str, str] | None = None) -> DbServices:
    settings = store.settings
    if environ is not None:
        settings = type(settings)(
            settings.home, environ={**settings.environ, **environ}  # keeps the store's Fernet key (PostgreSQL)
        ).with_overrides(database__sql_alchemy_conn=store.url)
    return DbServices(settings, store.session_factory, clock=lambda: NOW)


@pytest.fixture
def services(store: Any) -> DbServices:
    _store_dag(store, "target")
    return _services(store)


def test_xcom_round_trip_replaces_same_key(services: DbServices) -> None:
    run_id = services.trigger_dag("target", None, None, DAY, False)  # xcom rows belong to a run
    services.xcom_set("target", run_id, "first", -1, "return_value", {"n": 1, "at": NOW})
    services.xcom_set("target", run_id, "first", -1, "return_value", [1, 2])
    services.xcom_set("target", run_id, "first", 0, "k", "zero")
    services.xcom_set("target", run_id, "first", 1, "k", "one")
    assert services.xcom_get("target", run_id, "first", "return_value", -1) == [(-1, [1, 2])]
    assert services.xcom_get("target", run_id, "first", "k", None) == [(0, "zero"), (1, "one")]
    assert services.xcom_get("target", run_id, "first", "k", 1) == [(1, "one")]
    assert services.xcom_get("target", run_id, "second", "k", None) == []
    services.xcom_set("target", run_id, "second", -1, "when", NOW)
    assert services.xcom_get("target", run_id, "second", "when", -1) == [(-1, NOW)]


def test_xcom_keeps_the_types_airflow_keeps(services: DbServices) -> None:
    """A SQL result (tuples of Decimal), a datetime and a set read back as they were pushed, as in Airflow."""
    run_id = services.trigger_dag("target", None, None, DAY, False)
    rows = [(1, Decimal("12.50"), "a"), (2, Decimal("-0.001"), None)]
    value = {"rows": rows, "at": NOW, "tags": {"x", "y"}, "wait": dt.timedelta(minutes=3)}
    services.xcom_set("target", run_id, "sql", -1, "return_value", value)
    [(_, got)] = services.xcom_get("target", run_id, "sql", "return_value", -1)
    assert got == value and isinstance(got["rows"][0], tuple) and isinstance(got["rows"][0][1], Decimal)


def test_trigger_dag_creates_a_queued_manual_run(services: DbServices, store: Any) -> None:
    run_id = services.trigger_dag("target", None, {"x": 1}, DAY, False)
    assert run_id == "manual__2026-02-27T00:00:00+00:00"
    assert services.dag_run_state("target", run_id) == "queued"
    assert services.dag_run_state("target", "nope") is None
    with store.session_factory() as session:
        run = session.scalars(sa.select(DagRun)).one()
        tis = session.scalars(sa.select(TaskInstance)).all()
    assert (run.run_type, run.external_trigger, run.conf, run.queued_at) == ("manual", True, {"x": 1}, NOW)
    assert (run.data_interval_start, run.data_interval_end) == (
        DAY - dt.timedelta(days=1),
        DAY,
    )  # @daily inferred
    assert run.dag_hash is not None and tis == []  # the scheduler creates task instances


def test_trigger_dag_defaults_to_now_and_handles_duplicates(services: DbServices, store: Any) -> None:
    run_id = services.trigger_dag("target", None, None, None, False)
    assert run_id == f"manual__{NOW.isoformat()}"
    with pytest.raises(DagRunAlreadyExists):
        services.trigger_dag("target", run_id, None, None, False)
    with pytest.raises(DagRunAlreadyExists):
        services.trigger_dag("target", "another_id", None, NOW, False)  # same logical date
    with transaction(store.session_factory) as session:
        session.add(TaskInstance(dag_id="target", run_id=run_id, task_id="first", state="failed"))
    assert services.trigger_dag("target", run_id, {"again": True}, None, True) == run_id  # replace
    with store.session_factory() as session:
        run = session.scalars(sa.select(DagRun)).one()
        assert run.conf == {"again": True} and session.scalars(sa.select(TaskInstance)).all() == []


def test_trigger_unknown_or_inactive_dag_fails(services: DbServices, store: Any) -> None:
    _store_dag(store, "gone", active=False)
    for dag_id in ("missing", "gone"):
        with pytest.raises(DagNotFound):
            services.trigger_dag(dag_id, None, None, None, False)


def test_task_states_and_count_dag_runs(services: DbServices, store: Any) -> None:
    assert services.task_states("target", ["first"], DAY) == [None]
    assert services.task_states("target", None, DAY) == [None]
    run_id = services.trigger_dag("target", None, None, DAY, False)
    with transaction(store.session_factory) as session:
        session.add(TaskInstance(dag_id="target", run_id=run_id, task_id="first", state="success"))
        session.add(TaskInstance(dag_id="target", run_id=run_id, task_id="second", state=None))
    assert services.task_states("target", ["first"], DAY) == ["success"]
    assert sorted(services.task_states("target", ["first", "second"], DAY), key=str) == [None, "success"]
    assert services.task_states("target", None, DAY) == ["queued"]
    assert services.count_dag_runs("target", DAY, ["queued", "running"]) == 1
    assert services.count_dag_runs("target", DAY, ["success"]) == 0
    assert services.count_dag_runs("target", NOW, ["queued"]) == 0
    assert services.group_task_ids("target", "grp") == ["grp.inner", "grp.sub.leaf"]
    with pytest.raises(DagNotFound):
        services.group_task_ids("target", "no_such_group")


def test_variables_and_connections_env_before_metastore(store: Any) -> None:
    with transaction(store.session_factory) as session:
        set_variable(session, "both", "from-db")
        set_variable(session, "db_only", "db-value", fernet=get_fernet(store.settings))
        set_connection(
            session,
            Connection(conn_id="both", conn_type="postgres", host="db-host"),
            fernet=get_fernet(store.settings),
        )
        set_connection(
            session,
            Connection(conn_id="db_only", conn_type="http", host="h", password="pw"),
            fernet=get_fernet(store.settings),
        )
    env = {"AIRFLOW_VAR_BOTH": "from-env", "AIRFLOW_CONN_BOTH": "postgres://env-host:5432/x"}
    services = _services(store, env)
    assert services.get_variable("both") == "from-env"
    assert services.get_variable("db_only") == "db-value"
    assert services.get_connection("both").host == "env-host"
    assert services.get_connection("db_only").password == "pw"
    with pytest.raises(VariableNotFound):
        services.get_variable("absent")
    with pytest.raises(ConnectionNotFound):
        services.get_connection("absent")
    assert isinstance(VariableNotFound("x"), KeyError)


def _in_child(work: Callable[[], Any]) -> Any:
    """Run ``work`` in a forked child (as a task does under the local executor); its JSON result."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_fd)
        code = 0
        try:
            payload = json.dumps({"ok": work()})
        except BaseException as exc:  # noqa: BLE001
            payload, code = json.dumps({"error": repr(exc)}), 1
        os.write(write_fd, payload.encode())
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as handle:
        data = handle.read()
    os.waitpid(pid, 0)
    result = json.loads(data)
    assert "ok" in result, result["error"]
    return result["ok"]


def test_round_trips_from_a_forked_child(services: DbServices, store: Any) -> None:
    with store.session_factory() as session:  # the parent holds a pooled connection across the fork
        session.execute(sa.select(1))
        run_id = _in_child(lambda: services.trigger_dag("target", None, None, DAY, False))
        _in_child(lambda: services.xcom_set("target", run_id, "first", -1, "return_value", {"from": "child"}))
        session.execute(sa.select(1))  # the parent's connection still works
    assert services.xcom_get("target", run_id, "first", "return_value", -1) == [(-1, {"from": "child"})]
    assert _in_child(lambda: services.dag_run_state("target", run_id)) == "queued"
    assert _in_child(lambda: services.task_states("target", None, DAY)) == ["queued"]
    assert _in_child(lambda: services.xcom_get("target", run_id, "first", "return_value", None)) == [
        [-1, {"from": "child"}]
    ]


def test_lazy_store_opened_in_the_child(store: Any) -> None:
    """Without a session factory, the child opens the settings' store itself on first use."""
    _store_dag(store, "target")
    lazy = DbServices(store.settings, clock=lambda: NOW)
    run_id = _in_child(lambda: lazy.trigger_dag("target", None, None, DAY, False))
    assert lazy.dag_run_state("target", run_id) == "queued"
