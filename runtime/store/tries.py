"""Bookkeeping of running tries that is not a state change: pids, heartbeats, rows to inspect."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store.models import TaskInstance
from runtime.store.states import ACTIVE, TI

ROW_COLS = (TaskInstance.id, TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index,
            TaskInstance.state, TaskInstance.try_number, TaskInstance.max_tries, TaskInstance.start_date,
            TaskInstance.hostname, TaskInstance.pid, TaskInstance.job_id, TaskInstance.queued_by_job_id,
            TaskInstance.queued_dttm, TaskInstance.last_heartbeat_at)


def set_pids(session: Session, pids: dict[int, int]) -> None:
    """Record the process id of each claimed try (``task_instance.pid``) still running."""
    if pids:
        stmt = (sa.update(TaskInstance).where(TaskInstance.id == sa.bindparam("ti"), TaskInstance.state == TI.RUNNING)
                .values(pid=sa.bindparam("p")))
        session.connection().execute(stmt, [{"ti": ti, "p": pid} for ti, pid in pids.items()])


def beat(session: Session, ti_ids: Iterable[int], now: datetime) -> set[int]:
    """Stamp ``last_heartbeat_at`` of the running tries; the ids no longer running (their process must go)."""
    ids = list(ti_ids)
    if not ids:
        return set()
    session.execute(
        sa.update(TaskInstance).where(TaskInstance.id.in_(ids), TaskInstance.state == TI.RUNNING)
        .values(last_heartbeat_at=now).execution_options(synchronize_session=False)
    )
    alive = set(session.scalars(sa.select(TaskInstance.id).where(TaskInstance.id.in_(ids),
                                                                 TaskInstance.state == TI.RUNNING)))
    return set(ids) - alive


def rows(session: Session, ti_ids: Iterable[int]) -> dict[int, Any]:
    """The task-instance rows of these ids (to check a try and its retries)."""
    ids = list(ti_ids)
    if not ids:
        return {}
    return {r.id: r for r in session.execute(sa.select(*ROW_COLS).where(TaskInstance.id.in_(ids)))}


def active_rows(session: Session, dag_ids: Iterable[str] | None = None) -> list[Any]:
    """Task instances in an active state (what the scheduler's sweep inspects)."""
    stmt = sa.select(*ROW_COLS).where(TaskInstance.state.in_(sorted(ACTIVE)))
    if dag_ids is not None:
        stmt = stmt.where(TaskInstance.dag_id.in_(sorted(dag_ids)))
    return list(session.execute(stmt))
