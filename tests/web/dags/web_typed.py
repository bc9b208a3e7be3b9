"""A DAG for the web tests: typed params (the trigger form) and a task group (the grid's folding)."""

import pendulum
from airflow import DAG
from airflow.models.param import Param
from airflow.operators.empty import EmptyOperator
from airflow.utils.task_group import TaskGroup

with DAG(
    dag_id="web_typed",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    tags=["web"],
    params={
        "n": Param(3, type="integer", minimum=1, description="how many"),
        "mode": Param("fast", enum=["fast", "slow"]),
        "flag": Param(False, type="boolean"),
        "items": Param([1, 2], type="array"),
    },
) as dag:
    first = EmptyOperator(task_id="first")
    with TaskGroup("grp") as grp:
        EmptyOperator(task_id="inner_a") >> EmptyOperator(task_id="inner_b")
    first >> grp
