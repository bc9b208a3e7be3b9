"""DAG runs: run ids, creation with duplicate detection, and lookups (session first, never commit)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from runtime.paths import DEFAULT_RUN_ID_PATTERN, check_run_id
from runtime.sdk import exceptions as sdk_exceptions
from runtime.sdk import timezone
from runtime.sdk.timetables import DataInterval
from runtime.store.models import DagRun, TaskInstanceHistory
from runtime.store.states import DagRunState, DagRunType, state_value


class DagRunAlreadyExists(sdk_exceptions.DagRunAlreadyExists):
    """A run with this (dag_id, run_id) or (dag_id, logical_date) is already stored."""

    def __init__(self, dag_id: str, run_id: str, logical_date: dt.datetime) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        self.logical_date = logical_date
        super().__init__(
            f"A DAG run of {dag_id!r} with run_id {run_id!r} or logical date {logical_date.isoformat()} already exists"
        )


def generate_run_id(run_type: str | DagRunType, logical_date: dt.datetime) -> str:
    """Airflow's run id: ``manual__2024-01-01T00:00:00+00:00`` (type, two underscores, UTC ISO date)."""
    return f"{DagRunType(str(state_value(run_type))).value}__{timezone.to_utc(logical_date).isoformat()}"


def create_dag_run(
    session: Session,
    *,
    dag_id: str,
    run_type: str | DagRunType,
    logical_date: dt.datetime,
    data_interval: DataInterval | tuple[dt.datetime, dt.datetime] | None,
    now: dt.datetime,
    conf: dict[str, Any] | None = None,
    run_id: str | None = None,
    external_trigger: bool = False,
    dag_hash: str | None = None,
    state: str | DagRunState = DagRunState.QUEUED,
    run_id_pattern: str = DEFAULT_RUN_ID_PATTERN,
) -> DagRun:
    """Insert one dag_run row (no task instances); DagRunAlreadyExists on a duplicate, transaction intact.

    A given ``run_id`` must match ``run_id_pattern`` (it becomes part of log paths).
    """
    if run_id is not None:
        check_run_id(run_id, run_id_pattern)
    logical = timezone.to_utc(logical_date)
    start, end = _interval(data_interval)
    run = DagRun(
        dag_id=dag_id,
        run_id=run_id or generate_run_id(run_type, logical),
        run_type=DagRunType(str(state_value(run_type))).value,
        state=state_value(state),
        logical_date=logical,
        data_interval_start=start,
        data_interval_end=end,
        queued_at=now,
        conf=dict(conf or {}),
        external_trigger=external_trigger,
        dag_hash=dag_hash,
        updated_at=now,
    )
    if _exists(session, dag_id, run.run_id, logical):
        raise DagRunAlreadyExists(dag_id, run.run_id, logical)
    try:
        with session.begin_nested():  # a savepoint: a lost race must not spoil the caller's transaction
            session.add(run)
    except sa.exc.IntegrityError:
        raise DagRunAlreadyExists(dag_id, run.run_id, logical) from None
    if run.run_type != DagRunType.SCHEDULED.value:  # a manual run (CLI, web, API, operator): wake the scheduler
        from runtime.store import wakeup

        wakeup.notify(session)
    return run


def _interval(value: DataInterval | tuple[dt.datetime, dt.datetime] | None) -> tuple[Any, Any]:
    if value is None:
        return None, None
    if isinstance(value, DataInterval):
        return timezone.to_utc(value.start), timezone.to_utc(value.end)
    return timezone.to_utc(value[0]), timezone.to_utc(value[1])


def _exists(session: Session, dag_id: str, run_id: str, logical_date: dt.datetime) -> bool:
    stmt = sa.select(DagRun.id).where(
        DagRun.dag_id == dag_id, sa.or_(DagRun.run_id == run_id, DagRun.logical_date == logical_date)
    )
    return session.execute(stmt.limit(1)).first() is not None


def find_run(session: Session, dag_id: str, run_id: str) -> DagRun | None:
    """The run ``run_id`` of ``dag_id``, or None."""
    stmt = sa.select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    return session.scalars(stmt).first()


def find_run_at(session: Session, dag_id: str, logical_date: dt.datetime) -> DagRun | None:
    """The run of ``dag_id`` at ``logical_date``, or None."""
    stmt = sa.select(DagRun).where(
        DagRun.dag_id == dag_id, DagRun.logical_date == timezone.to_utc(logical_date)
    )
    return session.scalars(stmt).first()


def latest_run(
    session: Session,
    dag_id: str,
    *,
    run_types: Collection[str] | None = None,
    states: Collection[str] | None = None,
) -> DagRun | None:
    """The run of ``dag_id`` with the latest logical date (of the given types/states), or None."""
    stmt = sa.select(DagRun).where(DagRun.dag_id == dag_id)
    if run_types is not None:
        stmt = stmt.where(DagRun.run_type.in_([state_value(t) for t in run_types]))
    if states is not None:
        stmt = stmt.where(DagRun.state.in_([state_value(s) for s in states]))
    return session.scalars(stmt.order_by(DagRun.logical_date.desc()).limit(1)).first()


def delete_run(session: Session, dag_id: str, run_id: str) -> bool:
    """Delete a run with its task instances, XComs, reschedules and try history; True if it existed."""
    where = (DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    ids = list(session.scalars(sa.select(DagRun.id).where(*where)))
    session.execute(
        sa.delete(TaskInstanceHistory).where(
            TaskInstanceHistory.dag_id == dag_id, TaskInstanceHistory.run_id == run_id
        )
    )
    session.execute(sa.delete(DagRun).where(*where))
    for pk in ids:
        obj = session.identity_map.get(identity_key(DagRun, pk))
        if obj is not None:
            session.expunge(obj)  # SQLite may hand the freed id to the next run
    return bool(ids)
