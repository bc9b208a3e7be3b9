"""The mini scheduler (Airflow 2's ``schedule_after_task_execution``): after recording how tries
ended, the executor that ran them decides their downstream tasks in the same run and queues and
claims the ready ones in the same transaction, so the next try starts without waiting for a
scheduler loop.

It reuses the scheduler's own steps (``evaluating.evaluate``, ``queueing.queue_ready``) on the
ended tries' runs only, through the same named transitions (schedule, queue, claim), so every
rule holds: trigger rules, depends_on_past, pools, max_active_tasks, max_active_tis_per_dag(run).
It never takes more executor slots than the ended tries freed (``slots``): the scheduler counts
the handed-over slots as still taken until it hears of the new tries, so parallelism is never
exceeded. Anything it leaves (a locked run, no slot, a database error) the scheduler does as
before: the mini scheduler only ever makes things earlier.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.executors.messages import TaskWork
from runtime.scheduler import evaluating, queueing
from runtime.scheduler.active import Registry
from runtime.scheduler.dags import DagCache
from runtime.store import transitions
from runtime.store.models import DagModel, DagRun
from runtime.store.states import RUN
from runtime.worker.record import TryOutcome

log = logging.getLogger(__name__)


class MiniScheduler:
    """Decides and starts the downstream of ended tries; one per executor process (it caches DAGs)."""

    def __init__(self, default_tasks: int) -> None:
        self.cache = DagCache()
        self.default_tasks = default_tasks

    def follow(self, session: Session, ended: Sequence[TryOutcome], *, slots: int, job_id: int | None,
               hostname: str, now: datetime) -> list[TaskWork]:
        """Queue and claim the ready downstream tasks of ``ended`` (at most ``slots``); their works.

        Runs inside the caller's transaction, in a savepoint: on a database error nothing of it
        stays and the scheduler does the work instead.
        """
        runs: dict[tuple[str, str], set[str]] = {}
        for o in ended:
            if not o.interrupted:
                runs.setdefault((o.dag_id, o.run_id), set()).update([o.task_id, *o.skip_task_ids])
        if slots <= 0 or not runs:
            return []
        try:
            with session.begin_nested():
                return self._follow(session, runs, slots=slots, job_id=job_id, hostname=hostname, now=now)
        except sa.exc.DBAPIError as exc:
            log.info("mini scheduler: left to the scheduler (%s)", type(exc.orig).__name__)
            return []

    def _follow(self, session: Session, runs: dict[tuple[str, str], set[str]], *, slots: int, job_id: int | None,
                hostname: str, now: datetime) -> list[TaskWork]:
        works: list[TaskWork] = []
        for (dag_id, run_id), task_ids in runs.items():
            if slots <= 0:
                break
            dag = self.cache.get(session, dag_id)
            if dag is None:
                continue
            down = {d for t in task_ids for d in dag.down.get(t, ())}
            if not down:
                continue
            run = _lock_running_run(session, dag_id, run_id)
            if run is None:
                continue
            registry = Registry({dag_id})
            ctx = registry.add(run)
            ctx.full, ctx.dirty = False, down
            evaluating.evaluate(session, ctx, dag, now)
            queued = queueing.queue_ready(session, self.cache, registry, now, slots=slots,
                                          default_tasks=self.default_tasks, job_id=job_id, run=(dag_id, run_id))
            won = transitions.claim(session, [(w.ti_id, w.try_number) for w in queued], job_id=job_id,
                                    hostname=hostname, pid=None, now=now)
            claimed = [w for w in queued if (w.ti_id, w.try_number) in won]
            works += claimed
            slots -= len(claimed)
        return works


def _lock_running_run(session: Session, dag_id: str, run_id: str) -> DagRun | None:
    """The run if it is running and no scheduler holds it now (PostgreSQL: SKIP LOCKED; SQLite has one writer)."""
    stmt = sa.select(DagRun).join(DagModel, DagModel.dag_id == DagRun.dag_id).where(
        DagRun.dag_id == dag_id, DagRun.run_id == run_id, DagRun.state == RUN.RUNNING,
        DagModel.is_paused.is_(False))  # as the scheduler: a paused DAG's runs make no progress
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=True, of=DagRun)
    return session.scalars(stmt).first()
