import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("good_next_to_bad_ones", schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:
    BashOperator(task_id="fine", bash_command="echo fine")
