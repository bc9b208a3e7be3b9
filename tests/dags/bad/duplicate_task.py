import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("duplicate_task", schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:
    BashOperator(task_id="same", bash_command="true")
    BashOperator(task_id="same", bash_command="false")
