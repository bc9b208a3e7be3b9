import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("bad_trigger_rule", schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:
    BashOperator(task_id="t", bash_command="true", trigger_rule="when_ready")
