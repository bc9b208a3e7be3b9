"""Backfill: create (or reset, or clear) the runs of a date range, then drive only them to the end.

The CLI parses and prints; the planning and driving live here, on the scheduler's own code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from runtime.errors import UserError
from runtime.settings import Settings
from runtime.store import clear, runs, transitions
from runtime.store.models import DagRun, TaskInstance
from runtime.store.session import transaction
from runtime.store.states import DAGRUN_FINISHED, DAGRUN_UNFINISHED, RUN, TI, DagRunType


@dataclass(frozen=True)
class Options:
    """What the user asked of a backfill."""

    mark_success: bool = False
    rerun_failed_tasks: bool = False
    reset_dagruns: bool = False


def intervals(sdag: Any, start: datetime, end: datetime) -> list[Any]:
    """The timetable's runs whose logical date lies in [start, end] (pure)."""
    found: list[Any] = []
    last = None
    far = datetime.max.replace(tzinfo=start.tzinfo)
    while True:
        info = sdag.timetable.next_dagrun_info(last=last, earliest=start, latest=end, catchup=True, now=far)
        if info is None or info.logical_date > end:
            return found
        if info.logical_date >= start:
            found.append(info)
        last = info.data_interval


def prepare(session: Session, sdag: Any, start: datetime, end: datetime, options: Options, now: datetime) -> list[str]:
    """Create (or reset, or clear) the run of every interval; the run ids to drive."""
    if not sdag.timetable.can_be_scheduled:
        raise UserError(f"DAG {sdag.dag_id!r} has no schedule (schedule=None): there is nothing to backfill")
    return [rid for rid in (_one(session, sdag, info, options, now) for info in intervals(sdag, start, end)) if rid]


def _one(session: Session, sdag: Any, info: Any, options: Options, now: datetime) -> str | None:
    run = runs.find_run_at(session, sdag.dag_id, info.logical_date)
    if run is not None and options.reset_dagruns:
        runs.delete_run(session, sdag.dag_id, run.run_id)
        run = None
    if run is not None:
        if options.rerun_failed_tasks and run.state == RUN.FAILED:
            clear.clear_task_instances(session, sdag.dag_id, run.run_id, list(sdag.tasks), only_failed=True,
                                       serialized=sdag)
            return run.run_id
        return run.run_id if run.state in DAGRUN_UNFINISHED else None
    run = runs.create_dag_run(session, dag_id=sdag.dag_id, run_type=DagRunType.BACKFILL,
                              logical_date=info.logical_date, data_interval=info.data_interval, now=now)
    if options.mark_success:
        mark_success(session, sdag, run, now)
    return run.run_id


def mark_success(session: Session, sdag: Any, run: DagRun, now: datetime) -> None:
    """``-m``: every task instance of a new run, and the run, are marked success without running."""
    from runtime.scheduler.dags import build
    from runtime.scheduler.starting import create_task_instances

    create_task_instances(session, build(sdag.data, "", sdag.data.get("fileloc") or ""), run.run_id, now)
    ids = list(session.scalars(sa.select(TaskInstance.id).where(TaskInstance.dag_id == run.dag_id,
                                                                TaskInstance.run_id == run.run_id)))
    transitions.ti(session, transitions.MARK, ids, to=TI.SUCCESS, expected=[None, TI.SKIPPED], start_date=now,
                   end_date=now, duration=0.0)
    transitions.run(session, transitions.MARK_RUN, run.id, to=RUN.SUCCESS, expected=[RUN.QUEUED], start_date=now,
                    end_date=now)


def drive(settings: Settings, factory: sessionmaker[Session], dag_id: str, run_ids: list[str],
          progress: Callable[[dict[str, str]], None] = lambda states: None) -> dict[str, str]:
    """Run a scheduler for this DAG's runs only (paused or not) until they finish; their final states."""
    from runtime.executors import make_executor
    from runtime.scheduler import Scheduler
    from runtime.sdk import timezone

    executor = make_executor(settings, factory)
    scheduler = Scheduler(settings, factory, executor, dag_ids={dag_id}, create_runs=False)
    executor.start()
    try:
        while True:
            stats = scheduler.run_once(timezone.utcnow())
            states = run_states(factory, dag_id, run_ids)
            progress(states)
            if all(s in DAGRUN_FINISHED for s in states.values()):
                return states
            if not stats.busy:
                executor.wait(float(settings.get("scheduler", "loop_interval")))
    finally:
        executor.end()
        scheduler.stop()


def run_states(factory: sessionmaker[Session], dag_id: str, run_ids: list[str]) -> dict[str, str]:
    """run_id -> state of these runs."""
    with transaction(factory) as session:
        rows = session.execute(sa.select(DagRun.run_id, DagRun.state).where(
            DagRun.dag_id == dag_id, DagRun.run_id.in_(run_ids))).all()
    return {r: str(s) for r, s in rows}
