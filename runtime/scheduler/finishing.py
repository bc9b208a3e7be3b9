"""Step (g): a run whose task instances are all done becomes success or failed (a CAS)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.rules.readiness import run_state
from runtime.scheduler.active import RunCtx
from runtime.scheduler.dags import CachedDag
from runtime.store import cas
from runtime.store.models import TaskInstance
from runtime.store.states import ACTIVE


def unfinished_count(session: Session, ctx: RunCtx) -> int:
    """Task instances of the run that still need work."""
    stmt = sa.select(sa.func.count(TaskInstance.id)).where(
        TaskInstance.dag_id == ctx.dag_id, TaskInstance.run_id == ctx.run_id,
        sa.or_(TaskInstance.state.is_(None), TaskInstance.state.in_(sorted(ACTIVE))),
    )
    return int(session.scalar(stmt) or 0)


def try_finish(session: Session, ctx: RunCtx, dag: CachedDag, now: datetime) -> str | None:
    """Finish the run if nothing is left to do; its final state, or None while it goes on."""
    if unfinished_count(session, ctx):
        return None
    rows = session.execute(sa.select(TaskInstance.task_id, TaskInstance.state).where(
        TaskInstance.dag_id == ctx.dag_id, TaskInstance.run_id == ctx.run_id)).all()
    final = run_state([s for _, s in rows], [s for t, s in rows if t in dag.leaves]) or "failed"
    if not cas.set_run_state(session, ctx.pk, expected=["running"], new=final, end_date=now, last_scheduling_decision=now):
        return None
    return final


def stop_remaining(session: Session, ctx: RunCtx, now: datetime) -> list[int]:
    """``fail_stop``: fail the running tries of the run and skip what has not run; the failed ids."""
    rows = session.execute(sa.select(TaskInstance.id, TaskInstance.state).where(
        TaskInstance.dag_id == ctx.dag_id, TaskInstance.run_id == ctx.run_id,
        sa.or_(TaskInstance.state.is_(None), TaskInstance.state.in_(sorted(ACTIVE))))).all()
    running = [i for i, s in rows if s == "running"]
    waiting = [i for i, s in rows if s != "running"]
    failed = cas.set_ti_states(session, running, expected=["running"], new="failed", end_date=now,
                               executor_message="stopped: another task of this fail_stop DAG failed")
    cas.set_ti_states(session, waiting, expected=[None, "scheduled", "queued", "up_for_retry", "up_for_reschedule"],
                      new="skipped", end_date=now)
    return failed


def timed_out(ctx: RunCtx, dag: CachedDag, now: datetime) -> bool:
    """The run has been running longer than the DAG's ``dagrun_timeout`` (pure)."""
    limit = dag.get("dagrun_timeout")
    return bool(limit) and ctx.start_date is not None and (now - ctx.start_date).total_seconds() > float(limit)


def time_out(session: Session, ctx: RunCtx, now: datetime) -> list[int]:
    """Fail a run past ``dagrun_timeout``: what has not finished is skipped; the running tries to kill."""
    rows = session.execute(sa.select(TaskInstance.id, TaskInstance.state).where(
        TaskInstance.dag_id == ctx.dag_id, TaskInstance.run_id == ctx.run_id,
        sa.or_(TaskInstance.state.is_(None), TaskInstance.state.in_(sorted(ACTIVE))))).all()
    if not cas.set_run_state(session, ctx.pk, expected=["running"], new="failed", end_date=now):
        return []
    for state in {s for _, s in rows}:
        cas.set_ti_states(session, [i for i, s in rows if s == state], expected=[state], new="skipped", end_date=now,
                          executor_message="skipped: the run passed its dagrun_timeout")
    return [i for i, s in rows if s == "running"]
