"""Step (f): how tries ended. Each final state is a compare-and-set from running, for that try.

A crashed child, a zombie and a kill are failures decided here with the pure retry rule; a
try that reported a result carries its state already (the task runner applied the same rule).
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
from runtime.store.models import TaskInstance, TaskInstanceHistory, TaskReschedule

_TI_COLS = (TaskInstance.id, TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index,
            TaskInstance.state, TaskInstance.try_number, TaskInstance.max_tries, TaskInstance.start_date,
            TaskInstance.hostname, TaskInstance.pid)


@dataclass
class Ended:
    """A try whose end this scheduler recorded."""

    row: Any
    state: str
    error: str | None
    skip_task_ids: list[str] = field(default_factory=list)


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


def record(session: Session, row: Any, event: TaskEvent, dag: CachedDag | None, now: datetime) -> Ended | None:
    """Write how one try ended (CAS running -> final for this try); None if the try was not running."""
    if event.outcome == "unclaimed" or row is None or row.state != "running" or row.try_number != event.try_number:
        return None
    end = parse_iso(event.end_date) or now
    if event.outcome == "result" and event.state:
        state, next_at, error = event.state, parse_iso(event.next_attempt_at), event.error
    else:
        state, next_at = failure_outcome(row, dag, end)
        error = event.error
    return finish_try(session, row, state, end, next_at=next_at, error=error, event=event)


def finish_try(session: Session, row: Any, state: str, end: datetime, *, next_at: datetime | None = None,
               error: str | None = None, event: TaskEvent | None = None) -> Ended | None:
    """CAS the try to its final state and write its history (or reschedule) row."""
    start = row.start_date or end
    duration = max(0.0, (end - start).total_seconds())
    fields: dict[str, Any] = {"end_date": end, "duration": duration, "next_attempt_at": next_at}
    if event is not None and event.outcome == "result":
        fields["rendered_fields"] = event.rendered_fields or None
    if error is not None:
        fields["executor_message"] = error[-2000:]
    stmt = (sa.update(TaskInstance).where(TaskInstance.id == row.id, TaskInstance.state == "running",
                                          TaskInstance.try_number == row.try_number)
            .values(state=state, updated_at=end, **fields).execution_options(synchronize_session=False))
    if int(session.execute(stmt).rowcount) != 1:  # type: ignore[attr-defined]
        return None
    if state == "up_for_reschedule":
        session.add(TaskReschedule(dag_id=row.dag_id, run_id=row.run_id, task_id=row.task_id, map_index=row.map_index,
                                   try_number=row.try_number, start_date=start, end_date=end,
                                   reschedule_date=next_at or end))
    else:
        session.add(TaskInstanceHistory(
            dag_id=row.dag_id, run_id=row.run_id, task_id=row.task_id, map_index=row.map_index,
            try_number=row.try_number, state=state, start_date=start, end_date=end, duration=duration,
            hostname=row.hostname, pid=(event.pid if event and event.pid else row.pid), executor_message=error,
        ))
    return Ended(row, state, error, list(event.skip_task_ids) if event else [])


def skip_tasks(session: Session, dag_id: str, run_id: str, task_ids: list[str], now: datetime) -> list[int]:
    """Apply a branch's skips: those tasks' waiting instances become skipped."""
    if not task_ids:
        return []
    stmt = sa.select(TaskInstance.id).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id,
                                            TaskInstance.task_id.in_(task_ids))
    return cas.set_ti_states(session, list(session.scalars(stmt)), expected=[None, "scheduled"], new="skipped",
                             start_date=now, end_date=now)
