"""Step (b): create the runs that are due, from ``dag`` rows and their serialized timetables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.scheduler.dags import CachedDag, DagCache
from runtime.sdk.timetables import DataInterval
from runtime.store import runs
from runtime.store.models import DagModel, DagRun
from runtime.store.states import DAGRUN_UNFINISHED, DagRunType

# The statements of every step, built once: building one costs more than running it here.
_PLANNABLE = (DagModel.is_paused.is_(False), DagModel.is_active.is_(True))
_DUE = (sa.select(DagModel.dag_id).where(*_PLANNABLE, DagModel.next_dagrun_create_after <= sa.bindparam("now"))
        .order_by(DagModel.next_dagrun_create_after).limit(sa.bindparam("limit", type_=sa.Integer))
        .with_for_update(skip_locked=True))
_UNPLANNED = sa.select(DagModel.dag_id).where(*_PLANNABLE, DagModel.next_dagrun_create_after.is_(None))
_LOCK_DAG = (sa.select(DagModel.dag_id).where(DagModel.dag_id == sa.bindparam("dag_id"))
             .with_for_update(skip_locked=True))


def due_dag_ids(session: Session, now: datetime, limit: int) -> list[str]:
    """Unpaused active DAGs whose next run may be created (claimed with SKIP LOCKED on PostgreSQL)."""
    return list(session.scalars(_DUE, {"now": now, "limit": limit}))


def unplanned_dag_ids(session: Session) -> list[str]:
    """Unpaused active DAGs with no next run computed yet."""
    return list(session.scalars(_UNPLANNED))


def lock_dag(session: Session, dag_id: str) -> bool:
    """Claim one dag row for this scheduler (always True on SQLite)."""
    return session.scalar(_LOCK_DAG, {"dag_id": dag_id}) is not None


def last_scheduled_interval(session: Session, dag_id: str) -> DataInterval | None:
    """The data interval of the latest scheduled run (what the timetable continues from)."""
    run = runs.latest_run(session, dag_id, run_types=[DagRunType.SCHEDULED])
    if run is None:
        return None
    start = run.data_interval_start or run.logical_date
    return DataInterval(start, run.data_interval_end or start)  # type: ignore[arg-type]


def active_run_count(session: Session, dag_id: str) -> int:
    """Runs of ``dag_id`` queued or running."""
    stmt = sa.select(sa.func.count(DagRun.id)).where(DagRun.state.in_(sorted(DAGRUN_UNFINISHED)), DagRun.dag_id == dag_id)
    return int(session.scalar(stmt) or 0)


def max_active_runs(dag: CachedDag, default: int) -> int:
    """The DAG's max_active_runs, or the configured default."""
    return int(dag.get("max_active_runs", default))


def create_due(session: Session, dag: CachedDag, now: datetime, default_max_runs: int) -> tuple[int, Any]:
    """Create every due run of ``dag`` within max_active_runs; (created, next run info or None)."""
    last = last_scheduled_interval(session, dag.dag_id)
    room = max_active_runs(dag, default_max_runs) - active_run_count(session, dag.dag_id)
    info = dag.sdag.next_dagrun_info(last, now)
    created = 0
    while info is not None and info.run_after <= now and room > 0:
        if _create(session, dag, info, now):
            created += 1
            room -= 1
        info = dag.sdag.next_dagrun_info(info.data_interval, now)
    _store_next(session, dag.dag_id, info)
    return created, info


def _create(session: Session, dag: CachedDag, info: Any, now: datetime) -> bool:
    try:
        runs.create_dag_run(
            session, dag_id=dag.dag_id, run_type=DagRunType.SCHEDULED, logical_date=info.logical_date,
            data_interval=info.data_interval, now=now, dag_hash=dag.dag_hash,
        )
    except runs.DagRunAlreadyExists:
        return False
    return True


def _store_next(session: Session, dag_id: str, info: Any) -> None:
    """Remember the next run on the dag row (the index the due query reads)."""
    values: dict[str, Any] = {"next_dagrun": None, "next_dagrun_data_interval_start": None,
                              "next_dagrun_data_interval_end": None, "next_dagrun_create_after": None}
    if info is not None:
        values = {"next_dagrun": info.logical_date, "next_dagrun_data_interval_start": info.data_interval.start,
                  "next_dagrun_data_interval_end": info.data_interval.end, "next_dagrun_create_after": info.run_after}
    session.execute(sa.update(DagModel).where(DagModel.dag_id == dag_id).values(**values))


def plan(session: Session, cache: DagCache, now: datetime, *, limit: int, default_max_runs: int,
         known: dict[str, str], unplanned: bool = True) -> int:
    """Create due runs of due DAGs and (when ``unplanned``) plan DAGs never planned; the number of runs created."""
    created = 0
    for dag_id in due_dag_ids(session, now, limit):
        dag = cache.get(session, dag_id)
        if dag is not None:
            created += create_due(session, dag, now, default_max_runs)[0]
    for dag_id in unplanned_dag_ids(session) if unplanned else []:
        dag = cache.get(session, dag_id)
        if dag is None or known.get(dag_id) == dag.dag_hash or not lock_dag(session, dag_id):
            continue
        made, info = create_due(session, dag, now, default_max_runs)
        created += made
        if info is None:
            known[dag_id] = dag.dag_hash  # nothing to plan until the DAG changes
    return created
