"""Step (c): move queued runs to running (within max_active_runs) and create their task instances."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.rules.mapping import task_in_run
from runtime.scheduler.dags import CachedDag, DagCache
from runtime.sdk import timezone
from runtime.store import transitions
from runtime.store.models import DagModel, DagRun, TaskInstance
from runtime.store.states import RUN, TI

# The statements of every step, built once: building one costs more than running it here.
_ORDER = (DagRun.queued_at, DagRun.logical_date)
_QUEUED = (sa.select(DagRun).join(DagModel, DagModel.dag_id == DagRun.dag_id)  # a paused DAG's queued runs wait
           .where(DagRun.state == RUN.QUEUED, DagModel.is_paused.is_(False))
           .order_by(*_ORDER).limit(sa.bindparam("limit", type_=sa.Integer)).with_for_update(skip_locked=True))
_QUEUED_OF = (sa.select(DagRun).where(DagRun.state == RUN.QUEUED, DagRun.dag_id.in_(sa.bindparam("dag_ids", expanding=True)))
              .order_by(*_ORDER).limit(sa.bindparam("limit", type_=sa.Integer)).with_for_update(skip_locked=True))
_RUNNING_COUNTS = (sa.select(DagRun.dag_id, sa.func.count(DagRun.id)).where(DagRun.state == RUN.RUNNING)
                   .group_by(DagRun.dag_id))


def queued_runs(session: Session, limit: int = 100, dag_ids: set[str] | None = None) -> list[DagRun]:
    """Queued runs, oldest first, claimed with SKIP LOCKED on PostgreSQL."""
    if dag_ids is None:  # queued runs of a paused DAG wait (Airflow)
        return list(session.scalars(_QUEUED, {"limit": limit}))
    return list(session.scalars(_QUEUED_OF, {"limit": limit, "dag_ids": sorted(dag_ids)}))


def running_counts(session: Session) -> Counter[str]:
    """Running runs per DAG."""
    return Counter({dag_id: int(n) for dag_id, n in session.execute(_RUNNING_COUNTS)})


def start_runs(session: Session, cache: DagCache, now: datetime, default_max_runs: int,
               dag_ids: set[str] | None = None) -> list[DagRun]:
    """Start the queued runs that fit; the runs started."""
    started: list[DagRun] = []
    queued = queued_runs(session, dag_ids=dag_ids)
    if not queued:
        return started
    counts = running_counts(session)  # needed only when a run waits
    for run in queued:
        dag = cache.get(session, run.dag_id)
        if dag is None or counts[run.dag_id] >= int(dag.get("max_active_runs", default_max_runs)):
            continue
        if transitions.run(session, transitions.START_RUN, run.id, start_date=now, end_date=None,
                           last_scheduling_decision=now):
            counts[run.dag_id] += 1
            create_task_instances(session, dag, run.run_id, now, run=run)
            started.append(run)
    return started


def create_task_instances(session: Session, dag: CachedDag, run_id: str, now: datetime, run: DagRun | None = None) -> int:
    """Insert the task instances a run lacks (a new run, or a DAG that gained tasks); the number inserted.

    With ``run``, a task whose start_date is after the run's logical date (or end_date before it) gets none.
    """
    stmt = sa.select(TaskInstance.task_id).where(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run_id)
    existing = set(session.scalars(stmt))
    rows = [row for tid, task in dag.sdag.tasks.items() if tid not in existing and _belongs(task, run)
            for row in _rows(dag, run_id, task, now)]
    if rows:
        session.execute(sa.insert(TaskInstance), rows)
    _mark_removed(session, dag, run_id, existing - set(dag.sdag.tasks), now)
    return len(rows)


def _belongs(task: dict[str, Any], run: DagRun | None) -> bool:
    if run is None:
        return True
    start, end = (timezone.datetime_from_iso(task.get(k)) for k in ("start_date", "end_date"))
    return task_in_run(start, end, run.logical_date, run.run_type)


def _rows(dag: CachedDag, run_id: str, task: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """One row per instance: mapped tasks with literal inputs expand now; none at all is one skipped row."""
    base = {
        "dag_id": dag.dag_id, "run_id": run_id, "task_id": task["task_id"], "state": None, "try_number": 0,
        "max_tries": int(task.get("retries") or 0), "operator": task.get("operator"),
        "pool": task.get("pool") or "default_pool", "pool_slots": int(task.get("pool_slots") or 1),
        "priority_weight": int(task.get("priority_weight_total") or task.get("priority_weight") or 1),
        "queue": task.get("queue"), "map_index": -1, "updated_at": now,
    }
    length = task.get("map_literal_length") if task.get("is_mapped") else None
    if length is None:
        return [base]
    if length == 0:
        return [{**base, "state": TI.SKIPPED.value, "start_date": now, "end_date": now}]
    return [{**base, "map_index": i} for i in range(int(length))]


def _mark_removed(session: Session, dag: CachedDag, run_id: str, gone: set[str], now: datetime) -> None:
    """Task instances whose task left the DAG and never ran become ``removed``."""
    if not gone:
        return
    stmt = sa.select(TaskInstance.id).where(
        TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id.in_(sorted(gone))
    )
    transitions.ti(session, transitions.REMOVE, list(session.scalars(stmt)), end_date=now)
