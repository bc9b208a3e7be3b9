"""DAG authoring: default_args, wiring operators, TaskGroups, labels, chain and cross_downstream."""

from __future__ import annotations

from datetime import timedelta

import pendulum
import pytest

from runtime.sdk import DAG, Label, TaskGroup, chain, cross_downstream, dag, task
from runtime.sdk.baseoperator import BaseOperator
from runtime.sdk.exceptions import AirflowDagCycleException, AirflowException, DuplicateTaskIdFound
from runtime.sdk.operators.bash import BashOperator
from runtime.sdk.operators.python import PythonOperator

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def _noop() -> None:
    return None


def test_default_args_fill_operator_arguments() -> None:
    """default_args supply arguments the operator did not get; explicit ones win."""
    args = {"owner": "ct", "retries": 3, "retry_delay": timedelta(minutes=5), "env": {"A": "1"}}
    with DAG("d", start_date=START, default_args=args):
        a = BashOperator(task_id="a", bash_command="true")
        b = BashOperator(task_id="b", bash_command="true", retries=0)
    assert (a.owner, a.retries, a.retry_delay, a.env) == ("ct", 3, timedelta(minutes=5), {"A": "1"})
    assert b.retries == 0


def test_start_date_in_default_args_becomes_the_dags() -> None:
    """A start_date given only in default_args is the DAG's start date (ct1's style)."""
    d = DAG("d", default_args={"start_date": pendulum.datetime(2016, 5, 29, 8, 30)}, schedule_interval="@once")
    assert d.start_date == pendulum.datetime(2016, 5, 29, 8, 30, tz="UTC")


def test_naive_dates_mean_utc() -> None:
    """A naive datetime is read in the default timezone (UTC)."""
    from datetime import datetime

    d = DAG("d", start_date=datetime(2024, 3, 1, 6))
    assert d.start_date.isoformat() == "2024-03-01T06:00:00+00:00"


def test_bitshift_lists_and_set_upstream() -> None:
    """>> and << accept single tasks and lists on either side."""
    with DAG("d", start_date=START) as d:
        a, b, c, e = (BashOperator(task_id=n, bash_command="true") for n in "abce")
        a >> [b, c]
        [b, c] >> e
        e << a
    assert d.get_task("a").downstream_task_ids == {"b", "c", "e"}
    assert d.get_task("e").upstream_task_ids == {"a", "b", "c"}


def test_dag_argument_instead_of_context() -> None:
    """Tasks join a DAG through dag= as well as through the with block."""
    d = DAG("d", start_date=START)
    t = BashOperator(task_id="t", bash_command="true", dag=d)
    assert d.has_task("t") and t.dag is d


def test_chain_and_cross_downstream() -> None:
    """chain pairs equal-length lists; cross_downstream wires every pair."""
    with DAG("d", start_date=START) as d:
        ops = {n: BashOperator(task_id=n, bash_command="true") for n in ["a", "b1", "b2", "c1", "c2", "x", "y"]}
        chain(ops["a"], [ops["b1"], ops["b2"]], [ops["c1"], ops["c2"]])
        cross_downstream([ops["c1"], ops["c2"]], [ops["x"], ops["y"]])
    assert d.get_task("b1").downstream_task_ids == {"c1"}
    assert d.get_task("b2").downstream_task_ids == {"c2"}
    assert d.get_task("x").upstream_task_ids == {"c1", "c2"}


def test_chain_rejects_unequal_lists() -> None:
    with DAG("d", start_date=START):
        a, b, c = (BashOperator(task_id=n, bash_command="true") for n in "abc")
        with pytest.raises(ValueError, match="equal length"):
            chain([a, b], [c])


def test_task_group_prefixes_ids_and_wires_roots_and_leaves() -> None:
    """Task ids inside a group are prefixed; group >> task wires the group's leaves."""
    with DAG("d", start_date=START) as d:
        start = BashOperator(task_id="start", bash_command="true")
        with TaskGroup("grp") as grp:
            one = BashOperator(task_id="one", bash_command="true")
            two = BashOperator(task_id="two", bash_command="true")
            one >> two
        end = BashOperator(task_id="end", bash_command="true")
        start >> grp >> end
    assert set(d.task_ids) == {"start", "grp.one", "grp.two", "end"}
    assert d.get_task("grp.one").upstream_task_ids == {"start"}
    assert d.get_task("end").upstream_task_ids == {"grp.two"}
    assert one.label == "one" and two.task_group is grp


def test_label_names_the_edge() -> None:
    """a >> Label("x") >> b wires a to b and records the label."""
    with DAG("d", start_date=START) as d:
        a = BashOperator(task_id="a", bash_command="true")
        b = BashOperator(task_id="b", bash_command="true")
        a >> Label("when ok") >> b
    assert d.get_task("b").upstream_task_ids == {"a"}
    assert d.get_edge_info("a", "b") == {"label": "when ok"}


def test_duplicate_task_id_is_an_error() -> None:
    with DAG("d", start_date=START), pytest.raises(DuplicateTaskIdFound, match="'a'"):
        BashOperator(task_id="a", bash_command="true")
        BashOperator(task_id="a", bash_command="true")


def test_unknown_trigger_rule_is_an_error() -> None:
    with DAG("d", start_date=START), pytest.raises(AirflowException, match="trigger_rule"):
        BashOperator(task_id="a", bash_command="true", trigger_rule="sometimes")


def test_cycle_is_detected() -> None:
    with DAG("d", start_date=START) as d:
        a = BashOperator(task_id="a", bash_command="true")
        b = BashOperator(task_id="b", bash_command="true")
        a >> b >> a
    with pytest.raises(AirflowDagCycleException):
        d.check_cycle()


def test_invalid_cron_is_an_error() -> None:
    with pytest.raises(ValueError, match="invalid cron"):
        DAG("d", start_date=START, schedule="61 * * * *")


def test_schedule_forms() -> None:
    """Presets, cron, timedelta and None all build timetables; schedule_interval is the alias."""
    assert DAG("a", schedule="@hourly").timetable.summary == "@hourly"
    assert DAG("b", schedule_interval="0 3 * * *").timetable.summary == "0 3 * * *"
    assert DAG("c", schedule=timedelta(hours=2)).timetable.periodic
    assert not DAG("e", schedule=None).timetable.can_be_scheduled
    assert DAG("f", schedule="@once").timetable.summary == "@once"
    with pytest.raises(AirflowException, match="only one"):
        DAG("g", schedule="@daily", schedule_interval="@daily")


def test_operator_rejects_unknown_arguments() -> None:
    """As in Airflow 2, a misspelled argument is an error naming it."""
    with DAG("d", start_date=START), pytest.raises(AirflowException, match="colour"):
        BashOperator(task_id="a", bash_command="true", colour="red")  # type: ignore[call-arg]
    with DAG("e", start_date=START), pytest.raises(AirflowException, match="bash_command"):
        BashOperator(task_id="a", bash_comand="true")  # type: ignore[call-arg]


def test_keyword_arguments_required() -> None:
    with pytest.raises(AirflowException, match="keyword arguments"):
        PythonOperator("a", _noop)  # type: ignore[misc]


def test_priority_weight_rules() -> None:
    """downstream (default) sums downstream weights; upstream sums upstream; absolute is own."""
    with DAG("d", start_date=START):
        a = BaseOperator(task_id="a", priority_weight=1)
        b = BaseOperator(task_id="b", priority_weight=2, weight_rule="upstream")
        c = BaseOperator(task_id="c", priority_weight=5, weight_rule="absolute")
        a >> b >> c
    assert (a.priority_weight_total, b.priority_weight_total, c.priority_weight_total) == (8, 3, 5)


def test_dag_decorator_turns_arguments_into_params() -> None:
    """@dag: the function's arguments become DAG params; tasks created inside belong to it."""

    @dag(start_date=START, schedule=None)
    def pipeline(size: int = 3) -> None:
        @task
        def show(n: int) -> int:
            return n

        show(7)

    d = pipeline()
    assert d.dag_id == "pipeline" and d.params["size"] == 3 and d.task_ids == ["show"]
