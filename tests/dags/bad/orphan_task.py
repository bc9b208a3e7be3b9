import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

dag = DAG("orphan_task", schedule=None, start_date=pendulum.datetime(2024, 1, 1))

inside = BashOperator(task_id="inside", bash_command="true", dag=dag)
outside = BashOperator(task_id="outside", bash_command="true")
