"""A provider operator with deferrable=True: HttpOperator's request runs in its HttpTrigger
(aiohttp) through Windsock's deferral, then the task resumes in execute_complete."""

from datetime import datetime

from airflow import DAG
from airflow.providers.http.operators.http import HttpOperator

with DAG("provider_deferrable", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
    HttpOperator(task_id="get", http_conn_id="web", endpoint="health", method="GET", deferrable=True,
                 response_filter=lambda r: r.text)
