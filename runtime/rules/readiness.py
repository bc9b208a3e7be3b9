"""Which waiting task instances of a run may start, be skipped or be marked upstream_failed.

Pure: given the run's task graph and the current states, returns verdicts. The scheduler calls
it only for task instances whose upstreams changed; ``dags test`` and backfill call it too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from runtime.rules.trigger_rules import DONE_STATES, UpstreamCounts, Verdict, evaluate
from runtime.store.states import FINISHED, RUN, TI

TiKey = tuple[str, int]  # (task_id, map_index)


@dataclass(frozen=True)
class TaskNode:
    """The part of a task the readiness decision needs (``setups``: its indirect relevant setups)."""

    task_id: str
    trigger_rule: str
    upstream: frozenset[str]
    setups: frozenset[str] = frozenset()


def setup_verdict(node: TaskNode, grouped: Mapping[str, list[str | None]]) -> Verdict | None:
    """Airflow's setup constraint: a failed indirect setup fails the task, a skipped one skips it,
    an unfinished one makes it wait; None when every indirect setup is done and none went wrong."""
    states = [s for up in node.setups for s in (grouped.get(up) or [None])]
    if any(s in (TI.FAILED, TI.UPSTREAM_FAILED) for s in states):
        return Verdict.UPSTREAM_FAILED
    if TI.SKIPPED in states:
        return Verdict.SKIP
    if any(s not in DONE_STATES for s in states):
        return Verdict.WAIT
    return None


def states_by_task(states: Mapping[TiKey, str | None]) -> dict[str, list[str | None]]:
    """Group task-instance states by task id (a mapped task contributes each instance)."""
    grouped: dict[str, list[str | None]] = defaultdict(list)
    for (task_id, _), state in states.items():
        grouped[task_id].append(state)
    return grouped


def verdict_for(node: TaskNode, grouped: Mapping[str, list[str | None]]) -> Verdict:
    """The trigger-rule verdict for one task given its upstreams' states (indirect setups first)."""
    if node.trigger_rule == "all_done_setup_success":
        return teardown_verdict(node, grouped)
    if node.setups:
        verdict = setup_verdict(node, grouped)
        if verdict is not None:
            return verdict
    ups: list[str | None] = []
    for up in node.upstream:
        ups.extend(grouped.get(up) or [None])
    return evaluate(node.trigger_rule, UpstreamCounts.of(ups))


def verdicts(nodes: Mapping[str, TaskNode], states: Mapping[TiKey, str | None], pending: Iterable[TiKey]) -> dict[TiKey, Verdict]:
    """Verdicts for the ``pending`` task instances (those in state none/scheduled)."""
    grouped = states_by_task(states)
    return {key: verdict_for(nodes[key[0]], grouped) for key in pending}


def downstream_of(nodes: Mapping[str, TaskNode]) -> dict[str, set[str]]:
    """Direct downstream ids of each task (and tasks waiting on it as a setup), for re-evaluating only what a change affects."""
    down: dict[str, set[str]] = defaultdict(set)
    for node in nodes.values():
        for up in node.upstream | node.setups:
            down[up].add(node.task_id)
    return down


def run_state(states: Iterable[str | None], leaves_states: Iterable[str | None]) -> str | None:
    """The DAG run's state once nothing is left to do: failed if any leaf failed, else success.

    Returns None while any task instance is unfinished.
    """
    if any(s not in FINISHED for s in states):
        return None
    failed = any(s in (TI.FAILED, TI.UPSTREAM_FAILED) for s in leaves_states)
    return RUN.FAILED.value if failed else RUN.SUCCESS.value


def teardown_verdict(node: TaskNode, grouped: Mapping[str, list[str | None]]) -> Verdict:
    """``all_done_setup_success`` (teardowns; ``setups`` are its direct setups): wait for every upstream,
    then run if a setup succeeded; skipped when all setups skipped, upstream_failed when none succeeded."""
    ups = [s for up in node.upstream for s in (grouped.get(up) or [None])]
    if any(s not in DONE_STATES for s in ups):
        return Verdict.WAIT
    setup_states = [s for up in node.setups for s in (grouped.get(up) or [None])]
    if setup_states and all(s == TI.SKIPPED for s in setup_states):
        return Verdict.SKIP
    if setup_states and TI.SUCCESS not in setup_states:
        return Verdict.UPSTREAM_FAILED
    return Verdict.RUN


def effective_leaves(tasks: Mapping[str, tuple[Iterable[str], bool, bool]]) -> set[str]:
    """The tasks whose states decide the run's (Airflow's rule): leaves, where a teardown counts only
    with ``on_failure_fail_dagrun`` and a task whose only downstream are ignored teardowns is a leaf.

    ``tasks`` maps task_id -> (downstream ids, is_teardown, on_failure_fail_dagrun).
    """

    def ignorable(task_id: str) -> bool:
        _, teardown, fail_dagrun = tasks[task_id]
        return teardown and not fail_dagrun

    leaves = {tid for tid, (down, _, _) in tasks.items()
              if not ignorable(tid) and all(ignorable(d) for d in down if d in tasks)}
    return leaves or {tid for tid, (down, _, _) in tasks.items() if not list(down)}
