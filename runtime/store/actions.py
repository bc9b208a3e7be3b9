"""User actions on DAGs, runs and task instances, shared by the CLI, the web UI and the REST API.

Session first, never commit (the caller owns the transaction and writes the audit row).
Every state change goes through ``cas`` with the enums of ``states``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.errors import UserError
from runtime.paths import DEFAULT_RUN_ID_PATTERN
from runtime.store import clear, transitions, wakeup
from runtime.store.models import DagModel, DagRun, SerializedDagModel, TaskInstance
from runtime.store.reads import NotFound, dag_missing
from runtime.store.states import (
    ACTIVE,
    DAGRUN_FINISHED,
    DagRunState,
    DagRunType,
    TaskInstanceState,
)

if TYPE_CHECKING:  # the SDK loads only for the actions that read a DAG (the CLI's db verbs start fast)
    from runtime.sdk.serialization import SerializedDag


# a marked try no longer waits on a trigger (the triggerer drops the trigger no try waits on)
NOT_DEFERRED: dict[str, Any] = {"trigger_id": None, "trigger_timeout": None, "next_method": None, "next_kwargs": None}


def dag_row(session: Session, dag_id: str) -> DagModel:
    """The ``dag`` row of ``dag_id``; NotFound otherwise."""
    row = session.get(DagModel, dag_id)
    if row is None:
        raise dag_missing(dag_id)
    return row


def serialized(session: Session, dag_id: str) -> SerializedDag:
    """The serialized DAG of ``dag_id``; NotFound if it was never parsed."""
    row = session.get(SerializedDagModel, dag_id)
    if row is None:
        raise NotFound(f"DAG {dag_id!r} has not been parsed yet (no serialized DAG in the database)")
    from runtime.sdk.serialization import SerializedDag

    return SerializedDag(json.loads(row.data))


def run_row(session: Session, dag_id: str, run_id: str) -> DagRun:
    """The run ``run_id`` of ``dag_id``; NotFound otherwise."""
    from runtime.store import runs  # runs loads the SDK's timetables: only when a run is looked up

    run = runs.find_run(session, dag_id, run_id)
    if run is None:
        raise NotFound(f"DAG {dag_id!r} has no run {run_id!r}")
    return run


def check_conf(sdag: SerializedDag, conf: dict[str, Any]) -> None:
    """Validate a run conf against the DAG's params (as Airflow does at trigger); UserError naming the param."""
    from runtime.sdk.exceptions import ParamValidationError
    from runtime.sdk.params import validate_conf

    try:
        validate_conf(sdag.data.get("params") or {}, conf)
    except ParamValidationError as exc:
        raise UserError(f"conf does not match the DAG's params: {exc}") from None


def trigger_dag(
    session: Session, dag_id: str, *, now: dt.datetime, conf: dict[str, Any] | None = None,
    logical_date: dt.datetime | None = None, run_id: str | None = None,
    run_id_pattern: str = DEFAULT_RUN_ID_PATTERN,
) -> DagRun:
    """A manual run of ``dag_id`` (queued; the scheduler creates its task instances); UserError on a duplicate."""
    from runtime.store import runs

    dag_row(session, dag_id)
    sdag = serialized(session, dag_id)
    check_conf(sdag, dict(conf or {}))
    logical = logical_date or now
    interval = sdag.timetable.infer_manual_data_interval(logical)
    try:
        return runs.create_dag_run(
            session, dag_id=dag_id, run_type=DagRunType.MANUAL, logical_date=logical, data_interval=interval,
            now=now, conf=conf, run_id=run_id, external_trigger=True, run_id_pattern=run_id_pattern,
        )
    except runs.DagRunAlreadyExists as exc:
        raise UserError(str(exc)) from None


def set_paused(session: Session, dag_id: str, paused: bool) -> DagModel:
    """Pause or unpause ``dag_id``."""
    row = dag_row(session, dag_id)
    row.is_paused = paused
    session.flush()
    if not paused:
        wakeup.notify(session)  # its due runs (and queued ones) start now, not at the next safety poll
    return row


@dataclass(frozen=True)
class ClearItem:
    """One task instance a clear touches (or would touch, in a dry run)."""

    run_id: str
    task_id: str
    map_index: int
    state: str | None


def plan_clear(
    session: Session, dag_id: str, run_ids: Sequence[str], task_ids: Iterable[str], *, downstream: bool = False,
    upstream: bool = False, only_failed: bool = False, sdag: SerializedDag | None = None,
) -> list[ClearItem]:
    """What :func:`clear_tasks` would clear, without changing anything (the dry-run list)."""
    sdag = sdag or serialized(session, dag_id)
    chosen = clear.related(sdag.tasks, task_ids, downstream=downstream, upstream=upstream)
    stmt = sa.select(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state).where(
        TaskInstance.dag_id == dag_id, TaskInstance.run_id.in_(list(run_ids)), TaskInstance.task_id.in_(sorted(chosen))
    )
    if only_failed:
        stmt = stmt.where(TaskInstance.state.in_(clear.FAILED_STATES))
    rows = session.execute(stmt.order_by(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index))
    return [ClearItem(r.run_id, r.task_id, r.map_index, r.state) for r in rows]


def clear_tasks(
    session: Session, dag_id: str, run_ids: Sequence[str], task_ids: Iterable[str], *, downstream: bool = False,
    upstream: bool = False, only_failed: bool = False, sdag: SerializedDag | None = None,
) -> int:
    """Clear the chosen tasks in each run (they run again); the number of task instances cleared."""
    sdag = sdag or serialized(session, dag_id)
    ids = list(task_ids)
    wakeup.notify(session)
    return sum(
        clear.clear_task_instances(session, dag_id, run_id, ids, downstream=downstream, upstream=upstream,
                                   only_failed=only_failed, serialized=sdag)
        for run_id in run_ids
    )


MARKABLE = (TaskInstanceState.SUCCESS, TaskInstanceState.FAILED)


def mark_task_instance(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int, state: str, *, now: dt.datetime
) -> bool:
    """Set one task instance to success or failed; its finished run is requeued to be re-evaluated."""
    new = TaskInstanceState(state)
    if new not in MARKABLE:
        raise UserError(f"a task instance can be marked success or failed, not {state!r}")
    ti = session.scalars(sa.select(TaskInstance).where(
        TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id,
        TaskInstance.map_index == map_index)).first()
    if ti is None:
        raise NotFound(f"run {run_id!r} of {dag_id!r} has no task instance {task_id!r} (map_index {map_index})")
    if ti.state == new.value:
        return False
    won = bool(transitions.ti(session, transitions.MARK, [ti.id], to=new, expected=[ti.state],
                              end_date=ti.end_date or now, start_date=ti.start_date or now, **NOT_DEFERRED))
    run = run_row(session, dag_id, run_id)
    wakeup.notify(session)
    if won and run.state in DAGRUN_FINISHED:
        transitions.run(session, transitions.REQUEUE_RUN, run.id, expected=[run.state], end_date=None, queued_at=now)
    return won


def set_run_state(session: Session, dag_id: str, run_id: str, state: str, *, now: dt.datetime) -> DagRun:
    """Airflow's "mark run": success marks unfinished tasks success; failed fails running ones and skips the rest."""
    new = DagRunState(state)
    run = run_row(session, dag_id, run_id)
    unfinished = list(session.execute(sa.select(TaskInstance.id, TaskInstance.state).where(
        TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id,
        sa.or_(TaskInstance.state.is_(None), TaskInstance.state.in_(sorted(ACTIVE))))))
    if new is DagRunState.SUCCESS:
        _set_tis(session, unfinished, TaskInstanceState.SUCCESS, now)
    elif new is DagRunState.FAILED:
        running = [r for r in unfinished if r.state == TaskInstanceState.RUNNING]
        _set_tis(session, running, TaskInstanceState.FAILED, now)
        _set_tis(session, [r for r in unfinished if r not in running], TaskInstanceState.SKIPPED, now)
    fields: dict[str, Any] = {"end_date": now} if new in DAGRUN_FINISHED else {"end_date": None, "queued_at": now}
    if run.state != new.value:
        transitions.run(session, transitions.MARK_RUN, run.id, to=new, expected=[run.state], **fields)
    wakeup.notify(session)
    return run


def _set_tis(session: Session, rows: list[Any], new: TaskInstanceState, now: dt.datetime) -> None:
    for state in {r.state for r in rows}:
        ids = [r.id for r in rows if r.state == state]
        transitions.ti(session, transitions.MARK, ids, to=new, expected=[state], end_date=now, **NOT_DEFERRED)


def delete_run(session: Session, dag_id: str, run_id: str) -> None:
    """Delete a run with everything of it; NotFound if there is none."""
    from runtime.store import runs

    if not runs.delete_run(session, dag_id, run_id):
        raise NotFound(f"DAG {dag_id!r} has no run {run_id!r}")
