"""``tasks run``: one task instance through the same claim, run and record path as the scheduler's tries."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from runtime.errors import UserError
from runtime.executors.base import BaseExecutor
from runtime.executors.messages import LOST, RESULT, TaskEvent, TaskWork
from runtime.rules.readiness import states_by_task, verdict_for
from runtime.rules.trigger_rules import Verdict
from runtime.scheduler.active import run_info
from runtime.scheduler.dags import CachedDag, DagCache
from runtime.scheduler.starting import create_task_instances
from runtime.store import transitions
from runtime.store.models import DagRun, TaskInstance
from runtime.store.session import transaction
from runtime.store.states import FINISHED, TI


@dataclass(frozen=True)
class Target:
    """The task instance to run."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1


def why_not(dag: CachedDag, states: dict[tuple[str, int], str | None], task_id: str) -> str | None:
    """Why the task may not run now (its trigger rule says wait, skip or upstream_failed), or None."""
    verdict = verdict_for(dag.nodes[task_id], states_by_task(states))
    if verdict is Verdict.RUN:
        return None
    return f"dependencies not met: trigger rule {dag.nodes[task_id].trigger_rule} says {verdict.value} (pass -i to ignore)"


def queue_one(session: Session, cache: DagCache, target: Target, now: datetime, *, ignore_deps: bool) -> TaskWork:
    """Check, then move the task instance to queued with a new try; the work message for it."""
    dag = cache.get(session, target.dag_id)
    run = session.scalars(sa.select(DagRun).where(DagRun.dag_id == target.dag_id, DagRun.run_id == target.run_id)).first()
    if dag is None or run is None or target.task_id not in dag.nodes:
        raise UserError(f"no task {target.task_id!r} in a run {target.run_id!r} of DAG {target.dag_id!r}")
    create_task_instances(session, dag, run.run_id, now)
    rows = session.execute(sa.select(TaskInstance.id, TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state,
                                     TaskInstance.try_number, TaskInstance.max_tries)
                           .where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)).all()
    mine = next((r for r in rows if (r.task_id, r.map_index) == (target.task_id, target.map_index)), None)
    if mine is None:
        raise UserError(f"task instance {target.task_id}[{target.map_index}] does not exist in run {run.run_id}")
    if not ignore_deps:
        _check(dag, {(r.task_id, r.map_index): r.state for r in rows}, mine)
    if not transitions.ti(session, transitions.RUN_NOW, [mine.id], expected=[mine.state], queued_dttm=now,
                          try_number=mine.try_number + 1, max_tries=max(mine.max_tries, mine.try_number)):
        raise UserError(f"task instance {target.task_id} changed state while starting; try again")
    task = dag.task(target.task_id)
    return TaskWork(ti_id=mine.id, dag_id=run.dag_id, task_id=target.task_id, run_id=run.run_id,
                    map_index=target.map_index, try_number=mine.try_number + 1, max_tries=mine.max_tries,
                    fileloc=dag.fileloc, run=run_info(run), execution_timeout=task.get("execution_timeout"))


def _check(dag: CachedDag, states: dict[tuple[str, int], str | None], row: object) -> None:
    state = getattr(row, "state", None)
    if state in (TI.QUEUED, TI.RUNNING, TI.RESTARTING, TI.DEFERRED):
        raise UserError(f"task instance is already {state}")
    if state in FINISHED:
        raise UserError(f"task instance is already {state}: clear it first, or pass -i to run it again")
    reason = why_not(dag, states, getattr(row, "task_id", ""))
    if reason:
        raise UserError(reason)


def run_one(session_factory: sessionmaker[Session], executor: BaseExecutor, target: Target, *, ignore_deps: bool,
            timeout: float | None = None) -> str:
    """Queue one try and wait until its executor recorded how it ended; the state it ended in."""
    from runtime.sdk import timezone

    cache = DagCache()
    with transaction(session_factory) as session:
        work = queue_one(session, cache, target, timezone.utcnow(), ignore_deps=ignore_deps)
    executor.queue(work)
    _wait(executor, work, timeout)
    with transaction(session_factory) as session:
        state = session.scalar(sa.select(TaskInstance.state).where(TaskInstance.id == work.ti_id))
    return str(state)


def _wait(executor: BaseExecutor, work: TaskWork, timeout: float | None) -> TaskEvent:
    deadline = None if timeout is None else time.monotonic() + timeout
    while deadline is None or time.monotonic() < deadline:
        for event in executor.sync():
            if event.ti_id == work.ti_id and event.try_number == work.try_number and event.outcome != RESULT:
                if event.outcome == LOST:
                    raise UserError(f"task {work.label}: its executor died while it ran")
                return event
        executor.wait(0.05)
    raise UserError(f"task {work.label} did not finish within {timeout}s")
