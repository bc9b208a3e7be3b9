"""Step (g): a run whose task instances are all done becomes success or failed; runs past dagrun_timeout fail."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.rules.readiness import run_state
from runtime.scheduler.active import RunCtx
from runtime.scheduler.dags import CachedDag
from runtime.store import transitions
from runtime.store.models import TaskInstance
from runtime.store.states import ACTIVE, RUN, TI

_OF_RUN = (TaskInstance.dag_id == sa.bindparam("dag_id"), TaskInstance.run_id == sa.bindparam("run_id"))
_UNFINISHED = sa.select(sa.func.count(TaskInstance.id)).where(
    *_OF_RUN, sa.or_(TaskInstance.state.is_(None), TaskInstance.state.in_(sorted(ACTIVE))))
_STATES = sa.select(TaskInstance.task_id, TaskInstance.state).where(*_OF_RUN)


def unfinished_count(session: Session, ctx: RunCtx) -> int:
    """Task instances of the run that still need work."""
    return int(session.scalar(_UNFINISHED, {"dag_id": ctx.dag_id, "run_id": ctx.run_id}) or 0)


def try_finish(session: Session, ctx: RunCtx, dag: CachedDag, now: datetime) -> str | None:
    """Finish the run if nothing is left to do; its final state, or None while it goes on."""
    if unfinished_count(session, ctx):
        return None
    rows = session.execute(_STATES, {"dag_id": ctx.dag_id, "run_id": ctx.run_id}).all()
    final = run_state([s for _, s in rows], [s for t, s in rows if t in dag.leaves]) or RUN.FAILED
    if not transitions.run(session, transitions.FINISH_RUN, ctx.pk, to=final, end_date=now,
                           last_scheduling_decision=now):
        return None
    return final


def timed_out(ctx: RunCtx, dag: CachedDag, now: datetime) -> bool:
    """The run has been running longer than the DAG's ``dagrun_timeout`` (pure)."""
    limit = dag.get("dagrun_timeout")
    return bool(limit) and ctx.start_date is not None and (now - ctx.start_date).total_seconds() > float(limit)


def time_out(session: Session, ctx: RunCtx, now: datetime) -> list[int]:
    """Fail a run past ``dagrun_timeout``: what has not finished is skipped; the running tries to kill."""
    rows = session.execute(sa.select(TaskInstance.id, TaskInstance.state).where(
        TaskInstance.dag_id == ctx.dag_id, TaskInstance.run_id == ctx.run_id,
        sa.or_(TaskInstance.state.is_(None), TaskInstance.state.in_(sorted(ACTIVE))))).all()
    if not transitions.run(session, transitions.TIME_OUT_RUN, ctx.pk, end_date=now):
        return []
    for state in {s for _, s in rows}:
        transitions.ti(session, transitions.STOP, [i for i, s in rows if s == state], to=TI.SKIPPED, expected=[state],
                       end_date=now, executor_message="skipped: the run passed its dagrun_timeout")
    return [i for i, s in rows if s == TI.RUNNING]
