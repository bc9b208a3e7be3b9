import pendulum
from airflow import DAG

dag = DAG(
    "bad_cron",
    schedule="0 25 * * *",
    start_date=pendulum.datetime(2024, 1, 1),
)
