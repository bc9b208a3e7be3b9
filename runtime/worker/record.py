"""Recording how tries ended, by the side that ran them: one transaction for a batch of ends.

Every executor (fork server, SQS worker, in-process) and the scheduler's zombie check record
through :func:`record`: the end of each try (``finish`` or ``interrupt``, compare-and-set for
that try number), its history row (or a sensor's reschedule row), the skips a branch asked
for, a success's asset events, and a ``fail_stop`` DAG's stop. The scheduler only reads what
was recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store import transitions, triggers
from runtime.store.assets import record_asset_events
from runtime.store.models import TaskInstance, TaskInstanceHistory, TaskReschedule
from runtime.store.states import ACTIVE, TI
from runtime.worker.outcome import TryOutcome

__all__ = ["TryOutcome", "record"]


def record(session: Session, outcomes: Sequence[TryOutcome]) -> list[TryOutcome]:
    """Write every end (one batch); the outcomes that won (a lost one: the try was changed elsewhere).

    With a success go its outlets' asset events, in the same transaction.
    """
    by_key = {(o.ti_id, o.try_number): o for o in outcomes}
    won = [by_key[(e.ti_id, e.try_number)] for e in transitions.end_tries(session, [_end(o) for o in by_key.values()])]
    _history(session, won)
    for o in won:
        if o.skip_task_ids and o.state == TI.SUCCESS:
            skip_tasks(session, o.dag_id, o.run_id, o.skip_task_ids, o.end)
        if o.asset_events and o.state == TI.SUCCESS:  # in the same transaction as the success itself
            record_asset_events(session, dag_id=o.dag_id, run_id=o.run_id, task_id=o.task_id,
                                map_index=o.map_index, events=o.asset_events, now=o.end)
        if o.deferral is not None and o.state == TI.DEFERRED:
            triggers.defer(session, o.ti_id, o.try_number, o.deferral, o.end)
        if o.fail_stop and o.state == TI.FAILED:
            stop_run(session, o.dag_id, o.run_id, o.end, "stopped: another task of this fail_stop DAG failed")
    return won


def _end(o: TryOutcome) -> transitions.TryEnd:
    return transitions.TryEnd(o.ti_id, o.try_number, o.state, o.end, duration=_duration(o),
                              next_attempt_at=o.next_attempt_at, rendered_fields=o.rendered_fields, message=o.error)


def _duration(o: TryOutcome) -> float | None:
    """Seconds from the try's start to its end (plain datetime arithmetic: pendulum's builds an Interval)."""
    return max(0.0, datetime.__sub__(o.end, o.start).total_seconds()) if o.start else None


def _history(session: Session, won: list[TryOutcome]) -> None:
    """A history row per ended try (interrupted ones as ``restarting``); a reschedule row per sensor poke."""
    tries = [_try_row(o) for o in won if o.state not in (TI.UP_FOR_RESCHEDULE, TI.DEFERRED)]  # a deferral goes on
    pokes = [_poke_row(o) for o in won if o.state == TI.UP_FOR_RESCHEDULE]
    conn = session.connection()
    if tries:
        conn.execute(sa.insert(TaskInstanceHistory), tries)
    if pokes:
        conn.execute(sa.insert(TaskReschedule), pokes)


def _key(o: TryOutcome) -> dict[str, Any]:
    return {"dag_id": o.dag_id, "run_id": o.run_id, "task_id": o.task_id, "map_index": o.map_index,
            "try_number": o.try_number, "start_date": o.start or o.end, "end_date": o.end}


def _try_row(o: TryOutcome) -> dict[str, Any]:
    state = TI.RESTARTING.value if o.interrupted else o.state
    return {**_key(o), "state": state, "duration": _duration(o), "hostname": o.hostname, "pid": o.pid,
            "executor_message": o.error}


def _poke_row(o: TryOutcome) -> dict[str, Any]:
    return {**_key(o), "reschedule_date": o.next_attempt_at or o.end}


def skip_tasks(session: Session, dag_id: str, run_id: str, task_ids: Sequence[str], now: datetime) -> list[int]:
    """A branch's choice: the waiting instances of ``task_ids`` in the run are skipped."""
    if not task_ids:
        return []
    stmt = sa.select(TaskInstance.id).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id,
                                            TaskInstance.task_id.in_(sorted(task_ids)))
    return transitions.ti(session, transitions.SKIP, list(session.scalars(stmt)), start_date=now, end_date=now)


def stop_run(session: Session, dag_id: str, run_id: str, now: datetime, why: str) -> list[int]:
    """``fail_stop``: running tries of the run fail, what has not run is skipped; the failed ids.

    Their executors see the change at their next heartbeat and kill those tries' processes.
    """
    rows = session.execute(sa.select(TaskInstance.id, TaskInstance.state).where(
        TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id,
        sa.or_(TaskInstance.state.is_(None), TaskInstance.state.in_(sorted(ACTIVE))))).all()
    running = [i for i, s in rows if s == TI.RUNNING]
    waiting = {s for i, s in rows if s != TI.RUNNING}
    failed = transitions.ti(session, transitions.STOP, running, to=TI.FAILED, expected=[TI.RUNNING], end_date=now,
                            executor_message=why)
    for state in waiting:
        transitions.ti(session, transitions.STOP, [i for i, s in rows if s == state], to=TI.SKIPPED, expected=[state],
                       end_date=now)
    return failed


def dead_letter(session: Session, ti_id: int, try_number: int, now: datetime, reason: str) -> bool:
    """A try whose message kept failing to be delivered (it reached the dead-letter queue) fails with ``reason``."""
    row = session.execute(sa.select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id,
                                    TaskInstance.map_index, TaskInstance.start_date, TaskInstance.hostname,
                                    TaskInstance.pid).where(TaskInstance.id == ti_id)).first()
    if row is None or not transitions.one_try(session, transitions.DEAD_LETTER, ti_id, try_number, end_date=now,
                                              executor_message=reason, updated_at=now):
        return False
    o = TryOutcome(ti_id, try_number, row.dag_id, row.run_id, row.task_id, row.map_index, TI.FAILED.value, now,
                   start=row.start_date, error=reason, hostname=row.hostname, pid=row.pid)
    _history(session, [o])
    return True

