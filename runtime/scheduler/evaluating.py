"""Step (d): decide the task instances whose upstreams changed, with the pure readiness rules.

Only the dirty tasks of a run (and their upstreams' states) are read. A verdict that finishes
a task (skipped, upstream_failed) makes its downstream dirty in the same step, so a skip
travels down a whole branch at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.rules import failures
from runtime.rules.mapping import MappingError, expansion_length, value_length
from runtime.rules.readiness import verdicts
from runtime.rules.trigger_rules import Verdict
from runtime.scheduler.active import RunCtx
from runtime.scheduler.dags import CachedDag
from runtime.store import transitions
from runtime.store.models import DagRun, TaskInstance, XCom
from runtime.store.states import TI

Key = tuple[str, int]


@dataclass
class Outcome:
    """What one evaluation pass changed."""

    scheduled: int = 0
    finished: set[str] = field(default_factory=set)


_STATES = sa.select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.id, TaskInstance.state).where(
    TaskInstance.dag_id == sa.bindparam("dag_id"), TaskInstance.run_id == sa.bindparam("run_id"))
_STATES_OF = _STATES.where(TaskInstance.task_id.in_(sa.bindparam("task_ids", expanding=True)))


def load_states(session: Session, ctx: RunCtx, task_ids: set[str] | None) -> dict[Key, tuple[int, str | None]]:
    """(task_id, map_index) -> (ti id, state) of a run, for ``task_ids`` or every task."""
    params: dict[str, Any] = {"dag_id": ctx.dag_id, "run_id": ctx.run_id}
    if task_ids is None:
        return {(t, m): (i, s) for t, m, i, s in session.execute(_STATES, params)}
    return {(t, m): (i, s) for t, m, i, s in session.execute(_STATES_OF, {**params, "task_ids": sorted(task_ids)})}


def evaluate(session: Session, ctx: RunCtx, dag: CachedDag, now: datetime) -> Outcome:
    """Evaluate the run's dirty tasks (all of them when ``ctx.full``) until nothing more changes."""
    out = Outcome()
    targets: set[str] | None = None if ctx.full else set(ctx.dirty)
    ctx.full, ctx.dirty = False, set()
    while targets is None or targets:
        needed = None if targets is None else targets | {u for t in targets for u in dag.up.get(t, ())}
        rows = load_states(session, ctx, needed)
        finished = _decide(session, ctx, dag, rows, targets, now, out)
        out.finished |= finished
        targets = {d for t in finished for d in dag.down.get(t, ())}
    return out


def _decide(session: Session, ctx: RunCtx, dag: CachedDag, rows: dict[Key, tuple[int, str | None]],
            targets: set[str] | None, now: datetime, out: Outcome) -> set[str]:
    """Apply one round of verdicts; the tasks that reached a final state."""
    before = set(out.finished)
    states = {k: s for k, (_, s) in rows.items()}
    pending = [k for k, s in states.items() if s is None and k[0] in dag.nodes and (targets is None or k[0] in targets)]
    groups: dict[Verdict, list[int]] = {Verdict.RUN: [], Verdict.SKIP: [], Verdict.UPSTREAM_FAILED: []}
    for key, verdict in verdicts(dag.nodes, states, pending).items():
        ti_id = rows[key][0]
        if verdict is Verdict.RUN:
            _ready(session, ctx, dag, key, ti_id, now, groups, out)
        elif verdict in (Verdict.SKIP, Verdict.UPSTREAM_FAILED):
            groups[verdict].append(ti_id)
    won = transitions.ti(session, transitions.SCHEDULE, groups[Verdict.RUN], try_number=transitions.NEXT_TRY)
    out.scheduled += len(won)
    ids_to_task = {i: k[0] for k, (i, _) in rows.items()}
    finished = out.finished - before
    for verdict, transition in ((Verdict.SKIP, transitions.SKIP), (Verdict.UPSTREAM_FAILED, transitions.UPSTREAM_FAILED)):
        for ti_id in transitions.ti(session, transition, groups[verdict], expected=[None], start_date=now, end_date=now):
            finished.add(ids_to_task[ti_id])
    return finished


def _ready(session: Session, ctx: RunCtx, dag: CachedDag, key: Key, ti_id: int, now: datetime,
           groups: dict[Verdict, list[int]], out: Outcome) -> None:
    """A task whose trigger rule says run: check its past, expand it if mapped, then schedule it."""
    task = dag.task(key[0])
    if task.get("depends_on_past") and not past_ok(session, ctx, dag, key):
        return
    if task.get("is_mapped") and key[1] == -1 and task.get("map_literal_length") is None:
        expand(session, ctx, dag, task, ti_id, now, out)
        return
    groups[Verdict.RUN].append(ti_id)


def past_ok(session: Session, ctx: RunCtx, dag: CachedDag, key: Key) -> bool:
    """``depends_on_past``: the same task in the previous run succeeded or was skipped."""
    prev = session.scalar(
        sa.select(DagRun.run_id).where(DagRun.dag_id == ctx.dag_id, DagRun.logical_date < ctx.logical_date)
        .order_by(DagRun.logical_date.desc()).limit(1)
    )
    if prev is None:
        return True
    prev_states = load_states(session, RunCtx(0, ctx.dag_id, prev, ctx.logical_date, {}), {key[0], *dag.down.get(key[0], ())})
    if (key[0], key[1]) not in prev_states:
        return True  # the task did not exist in the previous run
    done = all(s in (TI.SUCCESS, TI.SKIPPED) for (t, _), (_, s) in prev_states.items() if t != key[0])
    return failures.past_allows(prev_states[key][1], has_prev_run=True, downstream_done=done,
                                wait_for_downstream=bool(dag.task(key[0]).get("wait_for_downstream")))


def expand(session: Session, ctx: RunCtx, dag: CachedDag, task: dict[str, Any], ti_id: int, now: datetime,
           out: Outcome) -> None:
    """Turn a mapped task's placeholder into one scheduled instance per mapped input."""
    try:
        length = mapped_length(session, ctx, dag, task)
    except MappingError as exc:
        if transitions.ti(session, transitions.FAIL_EXPANSION, [ti_id], executor_message=str(exc), end_date=now):
            out.finished.add(task["task_id"])
        return
    if length == 0:
        if transitions.ti(session, transitions.SKIP, [ti_id], expected=[None], start_date=now, end_date=now):
            out.finished.add(task["task_id"])
        return
    if not transitions.ti(session, transitions.SCHEDULE, [ti_id], map_index=0, try_number=1):
        return
    rows = [_mapped_row(ctx, task, i, now) for i in range(1, length)]
    if rows:
        session.execute(sa.insert(TaskInstance), rows)
    out.scheduled += length


def _mapped_row(ctx: RunCtx, task: dict[str, Any], index: int, now: datetime) -> dict[str, Any]:
    return {
        "dag_id": ctx.dag_id, "run_id": ctx.run_id, "task_id": task["task_id"], "map_index": index,
        "state": TI.SCHEDULED.value, "try_number": 1, "max_tries": int(task.get("retries") or 0),
        "operator": task.get("operator"), "pool": task.get("pool") or "default_pool",
        "pool_slots": int(task.get("pool_slots") or 1), "queue": task.get("queue"), "updated_at": now,
        "priority_weight": int(task.get("priority_weight_total") or 1),
    }


def mapped_length(session: Session, ctx: RunCtx, dag: CachedDag, task: dict[str, Any]) -> int:
    """Instances of a mapped task, from the lengths of the upstream XComs it maps over (JSON only)."""
    lengths = [_source_length(session, ctx, dag, src) for src in task.get("map_xcom_sources") or []]
    return expansion_length(task.get("map_mode") or "product", lengths + list(task.get("map_literal_lengths") or []))


def _source_length(session: Session, ctx: RunCtx, dag: CachedDag, src: dict[str, str]) -> int:
    stmt = sa.select(XCom.map_index, XCom.value).where(
        XCom.dag_id == ctx.dag_id, XCom.run_id == ctx.run_id, XCom.task_id == src["task_id"], XCom.key == src["key"]
    )
    rows = session.execute(stmt).all()
    if dag.sdag.tasks.get(src["task_id"], {}).get("is_mapped"):
        return len(rows)
    value = json.loads(rows[0][1]) if rows and rows[0][1] is not None else None
    return value_length(src["task_id"], value, pushed=bool(rows))
