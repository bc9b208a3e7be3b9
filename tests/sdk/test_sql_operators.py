"""SQL operators and hooks running real statements on MariaDB, PostgreSQL and SQLite."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

from runtime.inprocess import MemoryServices, run_dag
from runtime.sdk import DAG
from runtime.sdk.hooks import BaseHook, MySqlHook, PostgresHook, SqliteHook
from runtime.sdk.hooks.dbapi import hook_for_connection, split_sql_string
from runtime.sdk.operators.python import PythonOperator
from runtime.sdk.operators.sql import (
    MySqlOperator,
    PostgresOperator,
    SQLExecuteQueryOperator,
    SqliteOperator,
    jsonable,
)

LOGICAL = pendulum.datetime(2024, 1, 2, tz="UTC")


@dataclass
class Backend:
    """A database reachable through an ``AIRFLOW_CONN_DB`` URI."""

    kind: str
    uri: str
    database: str
    placeholder: str

    def services(self, **extra: str) -> MemoryServices:
        return MemoryServices(environ={"AIRFLOW_CONN_DB": self.uri, **extra})


def _airflow_uri(scheme: str, sqlalchemy_url: str) -> tuple[str, str]:
    url = sa.engine.make_url(sqlalchemy_url)
    auth = url.username + (f":{url.password}" if url.password else "") + "@" if url.username else ""
    return f"{scheme}://{auth}{url.host}:{url.port}/{url.database}", str(url.database)


@pytest.fixture(params=[pytest.param("mariadb", marks=pytest.mark.mariadb), pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "mariadb":
        return Backend("mariadb", *_airflow_uri("mysql", request.getfixturevalue("mariadb_url")), "%s")
    if request.param == "postgres":
        return Backend("postgres", *_airflow_uri("postgres", request.getfixturevalue("scratch_postgres_url")), "%s")
    return Backend("sqlite", f"sqlite:///{tmp_path / 'test.db'}", "", "?")


def states(record: Any) -> dict[str, str]:
    return {tid: state for (tid, _), state in record.task_states.items()}


def xcom(services: MemoryServices, record: Any, task_id: str) -> Any:
    pairs = services.xcom_get(record.dag_id, record.run_id, task_id, "return_value", -1)
    return pairs[0][1] if pairs else None


def test_sql_execute_query_operator_runs_real_statements(backend: Backend, tmp_path: Path) -> None:
    table = f"events_{uuid.uuid4().hex[:8]}"
    ph = backend.placeholder
    (tmp_path / "count.sql").write_text(f"SELECT COUNT(*) FROM {table} WHERE day <= '{{{{ ds }}}}'")
    with DAG("sql", start_date=LOGICAL, schedule=None, template_searchpath=str(tmp_path)) as dag:
        create = SQLExecuteQueryOperator(task_id="create", conn_id="db", sql=f"CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(50), amount DECIMAL(10,2), day DATE)")
        insert = SQLExecuteQueryOperator(task_id="insert", conn_id="db", sql=f"INSERT INTO {table} VALUES ({ph}, {ph}, {ph}, {ph})",
                                         parameters=(1, "{{ ds }}", "2.50", "2024-01-01"))
        script = SQLExecuteQueryOperator(task_id="script", conn_id="db", split_statements=True, sql=(
            f"INSERT INTO {table} VALUES (2, 'b', 1.25, '2024-01-02');\n-- a comment; with a semicolon\n"
            f"INSERT INTO {table} VALUES (3, 'c;d', 3, '2024-01-03');"))
        broken = SQLExecuteQueryOperator(task_id="broken", conn_id="db", split_statements=True,
                                         sql=f"INSERT INTO {table} VALUES (9, 'z', 1, '2024-01-09'); INSERT INTO no_such_table VALUES (1)")
        select = SQLExecuteQueryOperator(task_id="select", conn_id="db", sql=f"SELECT id, name, amount, day FROM {table} ORDER BY id",
                                         trigger_rule="all_done")
        from_file = SQLExecuteQueryOperator(task_id="from_file", conn_id="db", sql="count.sql")
        as_list = SQLExecuteQueryOperator(task_id="as_list", conn_id="db", sql=["SELECT 1", "SELECT 2"])
        last = SQLExecuteQueryOperator(task_id="last", conn_id="db", sql="SELECT 1; SELECT 2", split_statements=True)
        every = SQLExecuteQueryOperator(task_id="every", conn_id="db", sql="SELECT 1; SELECT 2", split_statements=True, return_last=False)
        quiet = SQLExecuteQueryOperator(task_id="quiet", conn_id="db", sql="SELECT 1", do_xcom_push=False)
        create >> insert >> script >> broken >> select >> [from_file, as_list, last, every, quiet]
    services = backend.services()
    record = run_dag(dag, LOGICAL, services=services)
    assert states(record) == {
        "create": "success", "insert": "success", "script": "success", "broken": "failed", "select": "success",
        "from_file": "success", "as_list": "success", "last": "success", "every": "success", "quiet": "success",
    }
    assert xcom(services, record, "select") == [
        [1, "2024-01-02", 2.5, "2024-01-01"], [2, "b", 1.25, "2024-01-02"], [3, "c;d", 3, "2024-01-03"],
    ]  # row 9 was rolled back with the failed statement after it
    assert xcom(services, record, "from_file") == [[2]]
    assert xcom(services, record, "as_list") == [[[1]], [[2]]]
    assert xcom(services, record, "last") == [[2]]
    assert xcom(services, record, "every") == [[[1]], [[2]]]
    assert xcom(services, record, "quiet") is None
    assert xcom(services, record, "create") is None  # DDL returns no result set


def test_dialect_operators_and_hooks_inside_python_tasks(backend: Backend) -> None:
    table = f"t_{uuid.uuid4().hex[:8]}"
    hooks = {"mariadb": lambda: MySqlHook(mysql_conn_id="db"), "postgres": lambda: PostgresHook(postgres_conn_id="db"),
             "sqlite": lambda: SqliteHook(sqlite_conn_id="db")}

    def use_hooks() -> list[Any]:
        hook = hooks[backend.kind]()
        hook.run(f"INSERT INTO {table} VALUES (2)", autocommit=True)
        hook.insert_rows(table, [(3,), (4,)])
        generic = BaseHook.get_hook("db")
        return [hook.get_first(f"SELECT COUNT(*) FROM {table}")[0], [list(r) for r in generic.get_records(f"SELECT n FROM {table} ORDER BY n")]]

    with DAG("dialects", start_date=LOGICAL, schedule=None) as dag:
        if backend.kind == "mariadb":
            # the connection names another database; ``database`` points the task at ours
            op = MySqlOperator(task_id="create", mysql_conn_id="other", database=backend.database,
                               sql=[f"CREATE TABLE {table} (n INT)", f"INSERT INTO {table} VALUES (1)"])
        elif backend.kind == "postgres":
            op = PostgresOperator(task_id="create", postgres_conn_id="other", database=backend.database,
                                  sql=[f"CREATE TABLE {table} (n INT)", f"INSERT INTO {table} VALUES (1)"])
        else:
            op = SqliteOperator(task_id="create", sqlite_conn_id="db", sql=[f"CREATE TABLE {table} (n INT)", f"INSERT INTO {table} VALUES (1)"])
        op >> PythonOperator(task_id="hooks", python_callable=use_hooks)
    other = backend.uri.rsplit("/", 1)[0] + "/test" if backend.kind != "sqlite" else backend.uri
    services = backend.services(AIRFLOW_CONN_OTHER=other)
    record = run_dag(dag, LOGICAL, services=services)
    assert states(record) == {"create": "success", "hooks": "success"}
    assert xcom(services, record, "hooks") == [4, [[1], [2], [3], [4]]]


def test_missing_connection_fails_the_task_with_its_name() -> None:
    with DAG("sql", start_date=LOGICAL, schedule=None) as dag:
        SQLExecuteQueryOperator(task_id="q", conn_id="nowhere", sql="SELECT 1")
    assert states(run_dag(dag, LOGICAL, services=MemoryServices(environ={}))) == {"q": "failed"}
    with pytest.raises(Exception, match="nowhere"):
        hook_for_connection("nowhere")


def test_hook_outside_a_task_reads_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_SQLITE", f"sqlite:///{tmp_path / 'h.db'}")
    hook = SqliteHook("local_sqlite")
    assert hook.get_records("SELECT 1 + 1") == [(2,)]
    assert hook.test_connection() == (True, "Connection successfully tested")


def test_split_sql_string_respects_quotes_comments_and_dollar_bodies() -> None:
    script = "CREATE TABLE t (a TEXT);\nINSERT INTO t VALUES ('x;y', \"q;\");  -- done;\n/* c; */ ;\n" \
             "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;"
    assert split_sql_string(script) == [
        "CREATE TABLE t (a TEXT)",
        "INSERT INTO t VALUES ('x;y', \"q;\")",
        "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
    ]  # the comment-only statement is dropped


def test_rows_become_json_values() -> None:
    from datetime import date, datetime
    from decimal import Decimal

    row = (Decimal("2.00"), Decimal("0.5"), date(2024, 1, 2), datetime(2024, 1, 2, 3, 4), b"ab", memoryview(b"\xff"))
    assert jsonable([row]) == [[2, 0.5, "2024-01-02", "2024-01-02T03:04:00", "ab", "ff"]]
