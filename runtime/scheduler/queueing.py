"""Step (e): scheduled -> queued, by priority, within pools, DAG and task caps and executor slots."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.executors.messages import TaskWork, iso
from runtime.rules.queueing import Candidate, Caps, pick
from runtime.scheduler.active import Registry
from runtime.scheduler.dags import DagCache
from runtime.store import transitions
from runtime.store.models import DagRun, Pool, TaskInstance, TaskReschedule
from runtime.store.states import TI

_COLS = (TaskInstance.id, TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index,
         TaskInstance.state, TaskInstance.pool, TaskInstance.pool_slots, TaskInstance.priority_weight,
         TaskInstance.try_number, TaskInstance.max_tries, TaskInstance.queue, TaskInstance.next_method,
         TaskInstance.next_kwargs)


# The statements of every queueing step, built once: building one costs more than running it here.
_POOLS = sa.select(Pool.pool, Pool.slots).with_for_update()
_USAGE = sa.select(TaskInstance.pool, TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id,
                   sa.func.count(), sa.func.sum(TaskInstance.pool_slots)).where(
    TaskInstance.state.in_((TI.QUEUED.value, TI.RUNNING.value))).group_by(
    TaskInstance.pool, TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id)
_SCHEDULED = sa.select(*_COLS).join(DagRun, sa.and_(DagRun.dag_id == TaskInstance.dag_id,
                                                    DagRun.run_id == TaskInstance.run_id)).where(
    TaskInstance.state == TI.SCHEDULED)
_ORDER = (TaskInstance.priority_weight.desc(), DagRun.logical_date, TaskInstance.dag_id, TaskInstance.run_id,
          TaskInstance.task_id, TaskInstance.map_index)
_FIRST: dict[tuple[int, bool, bool, bool], Any] = {}  # the first N scheduled, by (N, filters used)
_OF_RUN = (TaskInstance.dag_id == sa.bindparam("dag_id"), TaskInstance.run_id == sa.bindparam("run_id"))
_NOT_DAGS = TaskInstance.dag_id.not_in(sa.bindparam("skip_dags", expanding=True))
_NOT_POOLS = TaskInstance.pool.not_in(sa.bindparam("skip_pools", expanding=True))


def lock_pools(session: Session) -> dict[str, int]:
    """Pool sizes (-1 = unlimited), rows locked so that two schedulers never overfill a pool."""
    rows = session.execute(_POOLS).all()
    return {name: (1 << 30 if slots < 0 else slots) for name, slots in rows}


WINDOW = 256  # the most scheduled task instances one queueing step looks at


def scheduled_rows(session: Session, limit: int, run: tuple[str, str] | None = None, *,
                   skip_dags: Sequence[str] = (), skip_pools: Sequence[str] = ()) -> list[Any]:
    """The first ``limit`` scheduled task instances (of one run, if given; of no DAG in ``skip_dags`` and no
    pool in ``skip_pools``) in queueing order (Airflow's: priority weight desc, then the run's logical
    date; ``rules.queueing.order``)."""
    key = (limit, run is not None, bool(skip_dags), bool(skip_pools))
    stmt = _FIRST.get(key)
    if stmt is None:
        if len(_FIRST) > 64:  # limits follow the executor's slots: a handful of values
            _FIRST.clear()
        stmt = _SCHEDULED.where(*_OF_RUN) if run is not None else _SCHEDULED
        stmt = stmt.where(_NOT_DAGS) if skip_dags else stmt
        stmt = stmt.where(_NOT_POOLS) if skip_pools else stmt
        stmt = _FIRST[key] = stmt.order_by(*_ORDER).limit(limit)
    params: dict[str, Any] = {}
    if run is not None:
        params.update(dag_id=run[0], run_id=run[1])
    if skip_dags:
        params["skip_dags"] = list(skip_dags)
    if skip_pools:
        params["skip_pools"] = list(skip_pools)
    return list(session.execute(stmt, params))


def usage(session: Session, cache: DagCache, slots: int, default_tasks: int) -> Caps:
    """The room left before this step picks: pool sizes minus what queued and running task instances
    hold, what each DAG, task and run holds, and the caps of the DAGs that hold any."""
    caps = Caps(slots=slots, pool_free=lock_pools(session))
    for pool, dag_id, run_id, task_id, count, pool_slots in session.execute(_USAGE):
        caps.pool_free[pool] = caps.pool_free.get(pool, -1) - int(pool_slots or 0)
        caps.dag_used[dag_id] += count
        caps.task_used[(dag_id, task_id)] += count
        caps.run_task_used[(dag_id, run_id, task_id)] += count
    _add_maxes(caps, session, cache, default_tasks, {(d, None) for d in caps.dag_used})
    return caps


def full(caps: Caps) -> tuple[list[str], list[str]]:
    """The DAGs at their max_active_tasks and the pools without a free slot: nothing of theirs can be
    queued now, so the step does not read their scheduled task instances (Airflow's starved DAGs and
    pools)."""
    dags = sorted(d for d, n in caps.dag_used.items() if n >= caps.dag_max.get(d, 1 << 30))
    pools = sorted(p for p, free in caps.pool_free.items() if free <= 0)
    return dags, pools


def caps_for(session: Session, cache: DagCache, default_tasks: int, scheduled: list[Any], base: Caps) -> Caps:
    """The room left in every cap for ``scheduled``: a copy of ``base`` (``usage``) with the caps of
    their DAGs and tasks."""
    caps = base.copy()
    _add_maxes(caps, session, cache, default_tasks, {(r.dag_id, r.task_id) for r in scheduled})
    return caps


def _add_maxes(caps: Caps, session: Session, cache: DagCache, default_tasks: int,
               keys: set[tuple[str, str | None]]) -> None:
    dag_max, task_max, run_max = caps.dag_max, caps.task_max, caps.run_task_max
    by_dag: dict[str, list[str | None]] = {}  # each DAG looked up once, however many of its tasks
    for dag_id, task_id in keys:
        if task_id is None or (dag_id, task_id) not in task_max:
            by_dag.setdefault(dag_id, []).append(task_id)
    for dag_id, task_ids in by_dag.items():
        dag = cache.get(session, dag_id)
        if dag is None:
            continue
        dag_max[dag_id] = int(dag.get("max_active_tasks", default_tasks))
        for task_id in task_ids:
            if task_id is not None:
                task = dag.sdag.tasks.get(task_id, {})
                task_max[(dag_id, task_id)] = task.get("max_active_tis_per_dag")
                run_max[(dag_id, task_id)] = task.get("max_active_tis_per_dagrun")


def queue_ready(session: Session, cache: DagCache, registry: Registry, now: datetime, *, slots: int,
                default_tasks: int, job_id: int | None = None, run: tuple[str, str] | None = None) -> list[TaskWork]:
    """Queue what fits (of one run, if given); the work messages to send once the transaction commits.

    It reads what is queued and running first, and skips the DAGs at their max_active_tasks and the
    full pools (Airflow's starved DAGs and pools). Of the rest it looks at the first ``4 * slots`` (at
    least 32) scheduled task instances in queueing order, and at the first ``WINDOW`` only when caps
    (pools, DAG and task limits) left slots unfilled: the same choice as looking at ``WINDOW`` every
    time, at a fraction of the cost while tries end a few at a time (Airflow's scheduler likewise reads
    ``max_tis_per_query`` rows and reads again when starved)."""
    if slots <= 0:
        return []
    limit, widest = max(4 * slots, 32), max(4 * slots, WINDOW)
    base = usage(session, cache, slots, default_tasks)
    skip_dags, skip_pools = full(base)
    scheduled = scheduled_rows(session, limit, run, skip_dags=skip_dags, skip_pools=skip_pools)
    if not scheduled:
        return []
    caps = caps_for(session, cache, default_tasks, scheduled, base)
    by_id = {r.id: r for r in scheduled if registry.get(r.dag_id, r.run_id) is not None}
    chosen = pick([_candidate(r, registry) for r in by_id.values()], caps)
    if len(chosen) < slots and len(scheduled) >= limit and limit < widest:
        # Caps left slots unfilled: read further, past what this pick filled too. A row further on comes
        # after every row of the first read in queueing order, so picking it now with the caps left
        # chooses what one pick over the wider read would.
        skip_dags, skip_pools = full(caps)
        further = [r for r in scheduled_rows(session, widest, run, skip_dags=skip_dags, skip_pools=skip_pools)
                   if r.id not in by_id and registry.get(r.dag_id, r.run_id) is not None]
        _add_maxes(caps, session, cache, default_tasks, {(r.dag_id, r.task_id) for r in further})
        by_id.update((r.id, r) for r in further)
        chosen += pick([_candidate(r, registry) for r in further], caps)
    won = transitions.ti(session, transitions.QUEUE, [c.ti_id for c in chosen], queued_dttm=now, queued_by_job_id=job_id)
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
        execution_timeout=task.get("execution_timeout"), queue=r.queue, next_method=r.next_method,
        next_kwargs=r.next_kwargs,
    )


def _first_poke(session: Session, r: Any) -> str | None:
    """When a rescheduling sensor's try first started (its timeout counts from there)."""
    stmt = sa.select(sa.func.min(TaskReschedule.start_date)).where(
        TaskReschedule.dag_id == r.dag_id, TaskReschedule.run_id == r.run_id, TaskReschedule.task_id == r.task_id,
        TaskReschedule.map_index == r.map_index, TaskReschedule.try_number == r.try_number,
    )
    return iso(session.scalar(stmt))
