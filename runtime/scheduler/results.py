"""Step (f): how tries ended. Each final state is a compare-and-set from running, for that try.

A crashed child, a zombie and a kill are failures decided here with the pure retry rule; a
try that reported a result carries its state already (the task runner applied the same rule).
A batch of ends is written with one UPDATE (executemany) and one INSERT of history rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.executors.messages import TaskEvent, parse_iso
from runtime.rules import failures
from runtime.scheduler.dags import CachedDag
from runtime.store import cas
from runtime.store.assets import record_asset_events
from runtime.store.models import TaskInstance, TaskInstanceHistory, TaskReschedule

_TI_COLS = (TaskInstance.id, TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index,
            TaskInstance.state, TaskInstance.try_number, TaskInstance.max_tries, TaskInstance.start_date,
            TaskInstance.hostname, TaskInstance.pid)
_TI: sa.Table = TaskInstance.__table__  # type: ignore[assignment]
_FINISH = (
    _TI.update()
    .where(_TI.c.id == sa.bindparam("b_id"), _TI.c.state == "running", _TI.c.try_number == sa.bindparam("b_try"))
    .values(state=sa.bindparam("b_state"), end_date=sa.bindparam("b_end"), duration=sa.bindparam("b_duration"),
            next_attempt_at=sa.bindparam("b_next"), rendered_fields=sa.bindparam("b_rendered"),
            executor_message=sa.bindparam("b_message"), updated_at=sa.bindparam("b_end"))
)


@dataclass
class Ended:
    """A try whose end this scheduler recorded."""

    row: Any
    state: str
    error: str | None
    skip_task_ids: list[str] = field(default_factory=list)
    end: datetime | None = None
    next_at: datetime | None = None
    rendered: dict[str, Any] | None = None
    pid: int | None = None
    crashed: bool = False  # the task's process died: its own failure/retry callbacks did not run
    asset_events: list[dict[str, Any]] = field(default_factory=list)


def running_rows(session: Session, ti_ids: list[int]) -> dict[int, Any]:
    """The task-instance rows of these ids (to check the try and read retries)."""
    if not ti_ids:
        return {}
    return {r.id: r for r in session.execute(sa.select(*_TI_COLS).where(TaskInstance.id.in_(ti_ids)))}


def failure_outcome(row: Any, dag: CachedDag | None, now: datetime) -> tuple[str, datetime | None]:
    """(state, next_attempt_at) of a try that died: retry if the task has tries left."""
    task = dag.sdag.tasks.get(row.task_id, {}) if dag else {}
    return failures.after_failure(
        retries_=int(task.get("retries") or 0), max_tries=row.max_tries, try_number=row.try_number,
        delay=timedelta(seconds=float(300 if task.get("retry_delay") is None else task["retry_delay"])),
        exponential=bool(task.get("retry_exponential_backoff")),
        max_delay=timedelta(seconds=float(task["max_retry_delay"])) if task.get("max_retry_delay") else None,
        key=f"{row.dag_id}#{row.task_id}#{row.run_id}#{row.map_index}", now=now,
    )


def plan(row: Any, event: TaskEvent, dag: CachedDag | None, now: datetime) -> Ended | None:
    """How the try of ``event`` ends (pure); None when the event is not about the running try."""
    if event.outcome == "unclaimed" or row is None or row.state != "running" or row.try_number != event.try_number:
        return None
    end = parse_iso(event.end_date) or now
    if event.outcome == "result" and event.state:
        return Ended(row, event.state, event.error, list(event.skip_task_ids), end, parse_iso(event.next_attempt_at),
                     event.rendered_fields or None, event.pid, asset_events=list(event.asset_events))
    state, next_at = failure_outcome(row, dag, end)
    return Ended(row, state, event.error, [], end, next_at, None, event.pid, crashed=True)


def record(session: Session, row: Any, event: TaskEvent, dag: CachedDag | None, now: datetime) -> Ended | None:
    """Write how one try ended; None if the try was not running."""
    planned = plan(row, event, dag, now)
    return write(session, [planned])[0] if planned else None


def finish_try(session: Session, row: Any, state: str, end: datetime, *, next_at: datetime | None = None,
               error: str | None = None, crashed: bool = False) -> Ended | None:
    """CAS one running try to ``state`` (zombies, kills) and write its history row."""
    won = write(session, [Ended(row, state, error, [], end, next_at, crashed=crashed)])
    return won[0] if won else None


def write(session: Session, ends: list[Ended]) -> list[Ended]:
    """CAS every planned end from running (one statement for the batch); history rows of the winners."""
    if not ends:
        return []
    params = [_params(e) for e in ends]
    conn = session.connection()
    if len(ends) > 1 and conn.dialect.supports_sane_multi_rowcount and conn.execute(_FINISH, params).rowcount == len(ends):
        won = ends
    elif len(ends) > 1 and conn.dialect.supports_sane_multi_rowcount:
        won = _confirm(session, ends)
    else:
        won = [e for e, p in zip(ends, params, strict=True) if conn.execute(_FINISH, p).rowcount == 1]
    _history(session, won)
    for e in (e for e in won if e.asset_events and e.state == "success"):  # outlets of successful tries
        record_asset_events(session, dag_id=e.row.dag_id, run_id=e.row.run_id, task_id=e.row.task_id,
                            map_index=e.row.map_index, events=e.asset_events, now=e.end or e.row.start_date)
    return won


def _params(e: Ended) -> dict[str, Any]:
    end = e.end or e.row.start_date
    duration = max(0.0, (end - (e.row.start_date or end)).total_seconds())
    return {"b_id": e.row.id, "b_try": e.row.try_number, "b_state": e.state, "b_end": end, "b_duration": duration,
            "b_next": e.next_at, "b_rendered": e.rendered, "b_message": e.error[-2000:] if e.error else None}


def _confirm(session: Session, ends: list[Ended]) -> list[Ended]:
    """After a partly applied batch: the ends whose row now shows exactly what we wrote."""
    stmt = sa.select(TaskInstance.id, TaskInstance.state, TaskInstance.try_number, TaskInstance.end_date).where(
        TaskInstance.id.in_([e.row.id for e in ends]))
    now = {r.id: (r.state, r.try_number, r.end_date) for r in session.execute(stmt)}
    return [e for e in ends if now.get(e.row.id) == (e.state, e.row.try_number, e.end)]


def _history(session: Session, won: list[Ended]) -> None:
    """A history row per finished try; a reschedule row per sensor poke."""
    tries = [_try_row(e) for e in won if e.state != "up_for_reschedule"]
    pokes = [_poke_row(e) for e in won if e.state == "up_for_reschedule"]
    conn = session.connection()
    if tries:
        conn.execute(sa.insert(TaskInstanceHistory), tries)
    if pokes:
        conn.execute(sa.insert(TaskReschedule), pokes)


def _key(e: Ended) -> dict[str, Any]:
    r = e.row
    return {"dag_id": r.dag_id, "run_id": r.run_id, "task_id": r.task_id, "map_index": r.map_index,
            "try_number": r.try_number, "start_date": r.start_date or e.end, "end_date": e.end}


def _try_row(e: Ended) -> dict[str, Any]:
    start = e.row.start_date or e.end
    duration = max(0.0, (e.end - start).total_seconds()) if e.end and start else None
    return {**_key(e), "state": e.state, "duration": duration, "hostname": e.row.hostname,
            "pid": e.pid or e.row.pid, "executor_message": e.error}


def _poke_row(e: Ended) -> dict[str, Any]:
    return {**_key(e), "reschedule_date": e.next_at or e.end}


def skip_tasks(session: Session, dag_id: str, run_id: str, task_ids: list[str], now: datetime) -> list[int]:
    """Apply a branch's skips: those tasks' waiting instances become skipped."""
    if not task_ids:
        return []
    stmt = sa.select(TaskInstance.id).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id,
                                            TaskInstance.task_id.in_(task_ids))
    return cas.set_ti_states(session, list(session.scalars(stmt)), expected=[None, "scheduled"], new="skipped",
                             start_date=now, end_date=now)
