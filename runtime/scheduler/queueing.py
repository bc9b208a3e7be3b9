"""Step (e): scheduled -> queued, by priority, within pools, DAG and task caps and executor slots."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.executors.messages import TaskWork, iso
from runtime.rules.queueing import Candidate, Caps, pick
from runtime.scheduler.active import Registry
from runtime.scheduler.dags import DagCache
from runtime.store import cas
from runtime.store.models import Pool, TaskInstance, TaskReschedule

_COLS = (TaskInstance.id, TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index,
         TaskInstance.state, TaskInstance.pool, TaskInstance.pool_slots, TaskInstance.priority_weight,
         TaskInstance.try_number, TaskInstance.max_tries)


def lock_pools(session: Session) -> dict[str, int]:
    """Pool sizes (-1 = unlimited), rows locked so that two schedulers never overfill a pool."""
    rows = session.execute(sa.select(Pool.pool, Pool.slots).with_for_update()).all()
    return {name: (1 << 30 if slots < 0 else slots) for name, slots in rows}


def caps_for(session: Session, cache: DagCache, slots: int, default_tasks: int) -> tuple[Caps, list[Any]]:
    """The room left in every cap, and the scheduled rows (one query over scheduled/queued/running)."""
    rows = session.execute(sa.select(*_COLS).where(TaskInstance.state.in_(("scheduled", "queued", "running")))).all()
    caps = Caps(slots=slots, pool_free=lock_pools(session), dag_used=Counter(), task_used=Counter(), run_task_used=Counter())
    dag_max, task_max, run_max = {}, {}, {}
    for r in rows:
        dag = cache.get(session, r.dag_id)
        if dag is not None:
            dag_max[r.dag_id] = int(dag.get("max_active_tasks", default_tasks))
            task = dag.sdag.tasks.get(r.task_id, {})
            task_max[(r.dag_id, r.task_id)] = task.get("max_active_tis_per_dag")
            run_max[(r.dag_id, r.task_id)] = task.get("max_active_tis_per_dagrun")
        if r.state != "scheduled":
            caps.pool_free[r.pool] = caps.pool_free.get(r.pool, -1) - r.pool_slots
            caps.dag_used[r.dag_id] += 1
            caps.task_used[(r.dag_id, r.task_id)] += 1
            caps.run_task_used[(r.dag_id, r.run_id, r.task_id)] += 1
    caps.dag_max, caps.task_max, caps.run_task_max = dag_max, task_max, run_max
    return caps, [r for r in rows if r.state == "scheduled"]


def queue_ready(session: Session, cache: DagCache, registry: Registry, now: datetime, *, slots: int,
                default_tasks: int) -> list[TaskWork]:
    """Queue what fits; the work messages to send once the transaction commits."""
    if slots <= 0:
        return []
    caps, scheduled = caps_for(session, cache, slots, default_tasks)
    by_id = {r.id: r for r in scheduled if registry.get(r.dag_id, r.run_id) is not None}
    candidates = [_candidate(r, registry) for r in by_id.values()]
    chosen = pick(candidates, caps)
    won = cas.set_ti_states(session, [c.ti_id for c in chosen], expected=["scheduled"], new="queued", queued_dttm=now)
    return [w for w in (_work(session, cache, registry, by_id[i]) for i in won) if w is not None]


def _candidate(r: Any, registry: Registry) -> Candidate:
    ctx = registry.get(r.dag_id, r.run_id)
    logical = ctx.info["logical_date"] if ctx else ""
    return Candidate(r.id, r.dag_id, r.run_id, r.task_id, r.map_index, r.pool, r.pool_slots, r.priority_weight, logical)


def _work(session: Session, cache: DagCache, registry: Registry, r: Any) -> TaskWork | None:
    dag = cache.get(session, r.dag_id)
    ctx = registry.get(r.dag_id, r.run_id)
    if dag is None or ctx is None:
        return None
    task = dag.sdag.tasks.get(r.task_id, {})
    return TaskWork(
        ti_id=r.id, dag_id=r.dag_id, task_id=r.task_id, run_id=r.run_id, map_index=r.map_index,
        try_number=r.try_number, max_tries=r.max_tries, fileloc=dag.fileloc, run=ctx.info,
        first_try_start=_first_poke(session, r) if task.get("is_sensor") else None,
        execution_timeout=task.get("execution_timeout"),
    )


def _first_poke(session: Session, r: Any) -> str | None:
    """When a rescheduling sensor's try first started (its timeout counts from there)."""
    stmt = sa.select(sa.func.min(TaskReschedule.start_date)).where(
        TaskReschedule.dag_id == r.dag_id, TaskReschedule.run_id == r.run_id, TaskReschedule.task_id == r.task_id,
        TaskReschedule.map_index == r.map_index, TaskReschedule.try_number == r.try_number,
    )
    return iso(session.scalar(stmt))
