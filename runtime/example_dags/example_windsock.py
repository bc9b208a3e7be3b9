"""A small example DAG written exactly as for Apache Airflow: bash, Python, branching, XCom."""

import pendulum
from airflow import DAG
from airflow.decorators import task
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator

with DAG(
    dag_id="example_windsock",
    description="Bash, TaskFlow, branching and mapping in one small DAG",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example"],
    is_paused_upon_creation=False,  # so `windsock standalone` shows a run on a fresh machine
    params={"greeting": "hello"},
) as dag:
    start = EmptyOperator(task_id="start")
    say = BashOperator(task_id="say", bash_command='echo "{{ params.greeting }} from {{ ds }}; a week later is {{ macros.ds_add(ds, 7) }}"')

    @task
    def numbers() -> list[int]:
        return [1, 2, 3]

    @task
    def square(n: int) -> int:
        return n * n

    @task
    def total(values: list[int]) -> int:
        print(f"sum of squares: {sum(values)}")
        return sum(values)

    @task.branch
    def pick(value: int) -> str:
        return "big" if value > 10 else "small"

    big = BashOperator(task_id="big", bash_command="echo big")
    small = BashOperator(task_id="small", bash_command="echo small")
    done = EmptyOperator(task_id="done", trigger_rule="none_failed_min_one_success")

    result = total(square.expand(n=numbers()))
    start >> say >> result
    pick(result) >> [big, small] >> done
