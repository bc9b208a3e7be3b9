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
_NOT_DONE = sa.or_(TaskInstance.state.is_(None), TaskInstance.state.in_(sorted(ACTIVE)))
_UNFINISHED = sa.select(sa.func.count(TaskInstance.id)).where(*_OF_RUN, _NOT_DONE)
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


_UNFINISHED_ROWS = sa.select(TaskInstance.id, TaskInstance.state).where(*_OF_RUN, _NOT_DONE)
_STOP_PASSES = 5  # an executor moves a try on (queued -> running) between the read and the skip: read again


def time_out(session: Session, ctx: RunCtx, now: datetime) -> list[int]:
    """Fail a run past ``dagrun_timeout``: what has not finished is skipped; the running tries to kill.

    A try that changed state between the read and its skip (an executor claimed it: queued -> running)
    lost that compare-and-set; it is read again and skipped from its new state, so that a claimed try is
    killed rather than left running in a failed run."""
    if not transitions.run(session, transitions.TIME_OUT_RUN, ctx.pk, end_date=now):
        return []
    running: list[int] = []
    params = {"dag_id": ctx.dag_id, "run_id": ctx.run_id}
    rows = session.execute(_UNFINISHED_ROWS, params).all()
    for _ in range(_STOP_PASSES):
        lost: list[int] = []
        for state in {s for _, s in rows}:
            ids = [i for i, s in rows if s == state]
            won = transitions.ti(session, transitions.STOP, ids, to=TI.SKIPPED, expected=[state], end_date=now,
                                 executor_message="skipped: the run passed its dagrun_timeout")
            running += won if state == TI.RUNNING else []
            skipped = set(won)
            lost += [i for i in ids if i not in skipped]
        if not lost:
            break
        again = set(lost)
        rows = [r for r in session.execute(_UNFINISHED_ROWS, params).all() if r[0] in again]
    return running
