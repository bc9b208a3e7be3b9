"""SQLExecuteQueryOperator and the SQL hooks of the real common-sql, postgres and mysql providers
on two connections, ``pg`` (PostgreSQL) and ``my`` (MariaDB through mysql-connector-python)."""

from datetime import datetime
from decimal import Decimal

from airflow import DAG
from airflow.decorators import task
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.mysql.hooks.mysql import MySqlHook
from airflow.providers.postgres.hooks.postgres import PostgresHook

TABLE = "{{ dag_run.conf['table'] }}"

with DAG("provider_sql", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
    counts = []
    for conn in ("pg", "my"):
        create = SQLExecuteQueryOperator(task_id=f"create_{conn}", conn_id=conn,
                                         sql=f"CREATE TABLE {TABLE} (ds VARCHAR(10), n INT)")
        insert = SQLExecuteQueryOperator(task_id=f"insert_{conn}", conn_id=conn,
                                         sql=[f"INSERT INTO {TABLE} VALUES ('{{{{ ds }}}}', 1)",
                                              f"INSERT INTO {TABLE} VALUES ('{{{{ ds }}}}', 2)"])
        count = SQLExecuteQueryOperator(task_id=f"count_{conn}", conn_id=conn,
                                        sql=f"SELECT COUNT(*), MAX(n), AVG(n) FROM {TABLE}")
        create >> insert >> count
        counts.append(count)

    @task
    def hooks(**context):
        table = context["dag_run"].conf["table"]
        for conn in ("pg", "my"):  # AVG is NUMERIC: the driver's Decimal, kept by XCom as in Airflow
            [(count, top, avg)] = context["ti"].xcom_pull(task_ids=f"count_{conn}")
            if (count, top, avg) != (2, 2, Decimal("1.5")) or not isinstance(avg, Decimal):
                raise ValueError(f"count_{conn} pushed {(count, top, avg)!r}")
        pg = PostgresHook(postgres_conn_id="pg")
        my = MySqlHook(mysql_conn_id="my")
        pg.insert_rows(table, [("hook", 3)])
        my.insert_rows(table, [("hook", 3)])
        return [pg.get_first(f"SELECT COUNT(*) FROM {table}")[0], my.get_first(f"SELECT COUNT(*) FROM {table}")[0]]

    counts >> hooks()
