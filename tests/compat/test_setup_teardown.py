"""Setup and teardown tasks with Airflow's semantics, in ``dags test`` and in the store's clear."""

from __future__ import annotations

import json

import pendulum

from runtime.compat.api import DAG
from runtime.inprocess import MemoryServices, run_dag
from runtime.rules.readiness import TaskNode, effective_leaves, teardown_verdict
from runtime.rules.trigger_rules import Verdict
from runtime.sdk import task
from runtime.sdk.operators.bash import BashOperator
from runtime.sdk.serialization import serialize_dag
from runtime.sdk.setup_teardown import scope_of_clear, setup, teardown
from runtime.store import clear
from runtime.store.models import SerializedDagModel
from runtime.store.session import transaction
from tests.scheduler.helpers import Env

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def _run(dag: DAG) -> tuple[str, dict[str, str]]:
    record = run_dag(dag, services=MemoryServices(environ={}), quiet=True)
    return record.state, {t: s for (t, _), s in record.task_states.items()}


def _dag(work: str = "true", down: str = "true", fail_dagrun: bool = False, setup_cmd: str = "true") -> DAG:
    with DAG("st", start_date=START, schedule=None) as d:
        s = BashOperator(task_id="create", bash_command=setup_cmd).as_setup()
        w = BashOperator(task_id="work", bash_command=work)
        t = BashOperator(task_id="delete", bash_command=down).as_teardown(setups=s, on_failure_fail_dagrun=fail_dagrun)
        s >> w >> t
    return d


def test_teardown_runs_after_failed_work_and_the_run_fails_from_the_work() -> None:
    assert _run(_dag(work="exit 1")) == ("failed", {"create": "success", "work": "failed", "delete": "success"})


def test_a_failed_teardown_does_not_fail_the_run_unless_on_failure_fail_dagrun() -> None:
    assert _run(_dag(down="exit 1"))[0] == "success"
    assert _run(_dag(down="exit 1", fail_dagrun=True))[0] == "failed"


def test_a_failed_setup_fails_its_work_and_its_teardown_upstream() -> None:
    state, tis = _run(_dag(setup_cmd="exit 1"))
    assert state == "failed" and tis == {"create": "failed", "work": "upstream_failed", "delete": "upstream_failed"}


def test_decorators_and_the_teardown_context_manager_wire_the_work_inside() -> None:
    with DAG("ctx", start_date=START, schedule=None) as d:
        @setup
        def make() -> str:
            return "cluster-1"

        @teardown
        def drop(cluster: str) -> None:
            raise RuntimeError(f"cannot drop {cluster}")

        @task
        def work() -> int:
            return 1

        with drop(make()):
            work()
    assert d.get_task("work").upstream_task_ids == {"make"} and d.get_task("work").downstream_task_ids == {"drop"}
    assert d.get_task("drop").is_teardown and d.get_task("make").is_setup
    assert _run(d) == ("success", {"make": "success", "work": "success", "drop": "failed"})


def test_teardown_rule_skips_when_setups_skipped_and_waits_for_all_upstreams() -> None:
    node = TaskNode("t", "all_done_setup_success", frozenset({"s", "w"}), frozenset({"s"}))
    assert teardown_verdict(node, {"s": ["success"], "w": [None]}) is Verdict.WAIT
    assert teardown_verdict(node, {"s": ["skipped"], "w": ["skipped"]}) is Verdict.SKIP
    assert teardown_verdict(node, {"s": ["failed"], "w": ["upstream_failed"]}) is Verdict.UPSTREAM_FAILED
    assert teardown_verdict(node, {"s": ["success"], "w": ["failed"]}) is Verdict.RUN


def test_effective_leaves_ignore_teardowns_without_fail_dagrun() -> None:
    graph = {"s": ({"w", "t"}, False, False), "w": ({"t"}, False, False), "t": (set(), True, False)}
    assert effective_leaves(graph) == {"w"}
    graph["t"] = (set(), True, True)
    assert effective_leaves(graph) == {"t"}


def test_clearing_work_clears_its_setup_and_teardown() -> None:
    with DAG("clr", start_date=START, schedule=None) as d:
        s = BashOperator(task_id="s", bash_command="true").as_setup()
        w1 = BashOperator(task_id="w1", bash_command="true")
        w2 = BashOperator(task_id="w2", bash_command="true")
        t = BashOperator(task_id="t", bash_command="true").as_teardown(setups=s)
        other = BashOperator(task_id="other", bash_command="true")
        s >> w1 >> w2 >> t
    graph = {x["task_id"]: x for x in serialize_dag(d)["tasks"]}
    assert graph["w2"]["setups"] == ["s"]  # an indirect setup, through w1
    assert scope_of_clear(graph, {"w2"}) == {"s", "t"}
    assert clear.related(graph, ["w2"], downstream=False, upstream=False) | scope_of_clear(graph, {"w2"}) == {"w2", "s", "t"}
    assert scope_of_clear(graph, {other.task_id}) == set()


SCHEDULED = '''
with DAG("st_sched", start_date=datetime(2024, 1, 1), schedule=None) as d:
    s = BashOperator(task_id="create", bash_command="true").as_setup()
    w1 = BashOperator(task_id="w1", bash_command="true")
    w2 = BashOperator(task_id="w2", bash_command="true")
    t = BashOperator(task_id="delete", bash_command="exit 1").as_teardown(setups=s)
    s >> w1 >> w2 >> t
'''


def test_scheduler_ignores_a_failed_teardown_for_the_run_state_and_clear_brings_the_setup_back(seq_env: Env) -> None:
    seq_env.write_dag("st_sched", SCHEDULED)
    seq_env.sync()
    run_id = seq_env.trigger("st_sched")
    seq_env.drive(seq_env.finished("st_sched"))
    assert seq_env.run_states("st_sched") == ["success"]
    assert seq_env.tis("st_sched")[("delete", -1)].state == "failed"
    with transaction(seq_env.factory) as s:
        data = json.loads(s.get(SerializedDagModel, "st_sched").data)
        cleared = clear.clear_task_instances(s, "st_sched", run_id, ["w2"], serialized=data)
    assert cleared == 3  # w2, its indirect setup and that setup's teardown
    assert {k[0] for k, ti in seq_env.tis("st_sched").items() if ti.state is None} == {"create", "w2", "delete"}
