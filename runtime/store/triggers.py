"""Deferred tries and their triggers: storing a deferral, and what a trigger's event does.

A deferral (the try's end recorded as ``deferred``) stores its trigger (classpath and keyword
arguments) and, on the task instance, the trigger, the deadline and the method to resume at.
When the trigger fires, the try is resumed (``resume``: deferred -> scheduled, the same try
number) with the event among the method's arguments; a task-ending event ends it directly
(``end_from_trigger``); a failed trigger, or a passed deadline, resumes it at ``__fail__``, so
the task raises TaskDeferralError / TaskDeferralTimeout in its own process. Functions take the
caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store import transitions
from runtime.store.models import TaskInstance, TaskInstanceHistory, Trigger
from runtime.store.states import TI

TIMEOUT = "Trigger/execution timeout"


def defer(session: Session, ti_id: int, try_number: int, deferral: dict[str, Any], now: datetime) -> int:
    """Store the trigger of a try just recorded as deferred and point the try at it; the trigger's id."""
    from runtime.sdk import timezone

    trigger = Trigger(classpath=str(deferral["classpath"]), kwargs=dict(deferral.get("kwargs") or {}), created_date=now)
    session.add(trigger)
    session.flush()
    timeout = deferral.get("timeout")
    session.execute(
        sa.update(TaskInstance)
        .where(TaskInstance.id == ti_id, TaskInstance.try_number == try_number, TaskInstance.state == TI.DEFERRED)
        .values(trigger_id=trigger.id, trigger_timeout=timezone.parse(timeout) if timeout else None,
                next_method=str(deferral.get("method") or "__trigger_exit__"),
                next_kwargs=dict(deferral.get("method_kwargs") or {}))
        .execution_options(synchronize_session=False))
    return int(trigger.id)


def _waiting(session: Session, trigger_id: int) -> list[Any]:
    """The deferred tries that wait on ``trigger_id``."""
    return list(session.execute(sa.select(
        TaskInstance.id, TaskInstance.try_number, TaskInstance.next_method, TaskInstance.next_kwargs,
        TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index,
        TaskInstance.start_date, TaskInstance.hostname).where(
        TaskInstance.trigger_id == trigger_id, TaskInstance.state == TI.DEFERRED)))


def fired(session: Session, trigger_id: int, payload: Any, now: datetime) -> list[int]:
    """The trigger fired: its tries resume with ``event=payload``; the trigger goes. The ids resumed."""
    resumed = []
    for row in _waiting(session, trigger_id):
        kwargs = {**(row.next_kwargs or {}), "event": payload}
        resumed += transitions.ti(session, transitions.RESUME, [row.id], next_kwargs=kwargs, trigger_id=None,
                                  trigger_timeout=None, queued_dttm=None)
    _delete(session, [trigger_id])
    return resumed


def failed(session: Session, trigger_id: int, error: str, traceback: list[str], now: datetime) -> list[int]:
    """The trigger raised: its tries resume at ``__fail__`` (the task raises TaskDeferralError)."""
    return _resume_failing(session, [r.id for r in _waiting(session, trigger_id)], error, traceback, [trigger_id])


def ended(session: Session, trigger_id: int, state: str, xcoms: dict[str, Any], now: datetime) -> list[int]:
    """A task-ending event: its tries end in ``state`` (with its XComs); the trigger goes."""
    from runtime.store import xcom

    rows = _waiting(session, trigger_id)
    done = []
    for row in rows:
        if not transitions.ti(session, transitions.END_FROM_TRIGGER, [row.id], to=state, end_date=now,
                              trigger_id=None, trigger_timeout=None, next_method=None, next_kwargs=None):
            continue
        done.append(row.id)
        for key, value in xcoms.items():
            xcom.set_xcom(session, dag_id=row.dag_id, run_id=row.run_id, task_id=row.task_id,
                          map_index=row.map_index, key=key, value=value, timestamp=now)
        session.add(TaskInstanceHistory(dag_id=row.dag_id, run_id=row.run_id, task_id=row.task_id,
                                        map_index=row.map_index, try_number=row.try_number, state=state,
                                        start_date=row.start_date or now, end_date=now, hostname=row.hostname,
                                        executor_message="ended by its trigger"))
    _delete(session, [trigger_id])
    return done


def timed_out(session: Session, now: datetime) -> list[int]:
    """Deferred tries past their deadline resume at ``__fail__`` with Airflow's timeout error."""
    rows = list(session.execute(sa.select(TaskInstance.id, TaskInstance.trigger_id).where(
        TaskInstance.state == TI.DEFERRED, TaskInstance.trigger_timeout.is_not(None),
        TaskInstance.trigger_timeout <= now)))
    return _resume_failing(session, [r.id for r in rows], TIMEOUT, [], [r.trigger_id for r in rows if r.trigger_id])


def _resume_failing(session: Session, ids: list[int], error: str, traceback: list[str],
                    trigger_ids: Collection[int]) -> list[int]:
    resumed = transitions.ti(session, transitions.RESUME, ids, next_method="__fail__",
                             next_kwargs={"error": error, "traceback": traceback}, trigger_id=None,
                             trigger_timeout=None, queued_dttm=None)
    _delete(session, [t for t in trigger_ids if not _still_used(session, t)])
    return resumed


def _still_used(session: Session, trigger_id: int) -> bool:
    count = session.scalar(sa.select(sa.func.count()).select_from(TaskInstance).where(
        TaskInstance.trigger_id == trigger_id, TaskInstance.state == TI.DEFERRED))
    return bool(count)


def _delete(session: Session, ids: Collection[int]) -> None:
    if ids:
        session.execute(sa.delete(Trigger).where(Trigger.id.in_(sorted(ids))))


# --- the triggerer's side -----------------------------------------------------------------------

def claim(session: Session, triggerer_id: int, dead: Collection[int], capacity: int) -> list[int]:
    """Take unassigned triggers (and those of dead triggerers) up to ``capacity`` in all; the ids taken."""
    mine = session.scalar(sa.select(sa.func.count()).select_from(Trigger).where(Trigger.triggerer_id == triggerer_id))
    room = capacity - int(mine or 0)
    if room <= 0:
        return []
    free = sa.or_(Trigger.triggerer_id.is_(None), Trigger.triggerer_id.in_(sorted(dead))) if dead else \
        Trigger.triggerer_id.is_(None)
    ids = list(session.scalars(sa.select(Trigger.id).where(free).order_by(Trigger.id).limit(room)
                               .with_for_update(skip_locked=True)))
    if ids:
        session.execute(sa.update(Trigger).where(Trigger.id.in_(ids), free).values(triggerer_id=triggerer_id)
                        .execution_options(synchronize_session=False))
    return ids


def assigned(session: Session, triggerer_id: int) -> dict[int, tuple[str, dict[str, Any]]]:
    """The triggers this triggerer runs: id -> (classpath, kwargs)."""
    rows = session.execute(sa.select(Trigger.id, Trigger.classpath, Trigger.kwargs).where(
        Trigger.triggerer_id == triggerer_id))
    return {r.id: (r.classpath, dict(r.kwargs or {})) for r in rows}


def holders(session: Session) -> set[int | None]:
    """The triggerer jobs that hold triggers (None: unassigned)."""
    return set(session.scalars(sa.select(Trigger.triggerer_id).distinct()))


def unused(session: Session, among: Collection[int]) -> set[int]:
    """Which of ``among`` no deferred try waits on any more (the try was cleared, marked, or its run deleted)."""
    if not among:
        return set()
    used = set(session.scalars(sa.select(TaskInstance.trigger_id).where(
        TaskInstance.trigger_id.in_(sorted(among)), TaskInstance.state == TI.DEFERRED)))
    return set(among) - used


def delete(session: Session, ids: Collection[int]) -> None:
    """Drop triggers."""
    _delete(session, ids)

