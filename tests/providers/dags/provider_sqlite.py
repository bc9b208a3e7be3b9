"""SQLExecuteQueryOperator on a sqlite connection through the real sqlite provider, and the
PostgresOperator/SqliteOperator names the current providers dropped (Windsock's stand-ins)."""

from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.sqlite.hooks.sqlite import SqliteHook
from airflow.providers.sqlite.operators.sqlite import SqliteOperator

with DAG("provider_sqlite", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
    create = SQLExecuteQueryOperator(task_id="create", conn_id="lite", sql="CREATE TABLE t (ds TEXT, n INT)")
    insert = SqliteOperator(task_id="insert", sqlite_conn_id="lite", sql="INSERT INTO t VALUES ('{{ ds }}', 7)")

    @task
    def read():
        hook = SqliteHook(sqlite_conn_id="lite")
        assert type(hook).__module__ == "airflow.providers.sqlite.hooks.sqlite"
        return hook.get_records("SELECT ds, n FROM t")

    create >> insert >> read()
