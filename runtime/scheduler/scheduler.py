"""The scheduler: one step at a time (``run_once(now)``), a thin forever-loop around it.

Each step: parse if due; create due runs and start queued ones; record how tries ended;
put due retries back; find zombies and stuck queued tries; evaluate only the task instances
whose upstreams changed; queue what fits; finish runs that are done. Every state change is a
compare-and-set; the work of one step is proportional to the active work, not the history.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from runtime.executors import taskproc
from runtime.executors.base import BaseExecutor
from runtime.executors.messages import CallbackWork, TaskEvent, TaskWork
from runtime.rules import failures
from runtime.scheduler import creating, evaluating, finishing, queueing, results, starting
from runtime.scheduler.active import Registry, RunCtx
from runtime.scheduler.assets import create_asset_triggered_runs
from runtime.scheduler.dags import CachedDag, DagCache
from runtime.scheduler.mail import Mailer, compose
from runtime.settings import Settings
from runtime.store import cas
from runtime.store.models import DagRun, TaskInstance
from runtime.store.session import transaction
from runtime.store.states import ACTIVE


@dataclass
class LoopStats:
    """What one step did."""

    created_runs: int = 0
    started_runs: int = 0
    events: int = 0
    scheduled: int = 0
    queued: int = 0
    finished_runs: int = 0
    parsed: bool = False
    seconds: float = 0.0

    @property
    def busy(self) -> bool:
        """Whether the step changed anything (so the next one should not wait)."""
        return bool(self.created_runs or self.started_runs or self.events or self.scheduled or self.finished_runs
                    or self.parsed)


@dataclass
class _Effects:
    """What to do once the step's transaction has committed."""

    works: list[TaskWork]
    callbacks: list[CallbackWork]
    kills: list[int]
    mails: list[Any]


class Scheduler:
    """Creates runs, decides task instances, feeds the executor, records results."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], executor: BaseExecutor, *,
                 processor: Any = None, dag_ids: set[str] | None = None, create_runs: bool = True) -> None:
        self.settings = settings
        self.dag_ids = dag_ids  # backfill: drive only these DAGs' runs
        self.create_runs = create_runs
        self.session_factory = session_factory
        self.executor = executor
        self.processor = processor
        self.cache = DagCache()
        self.registry = Registry(dag_ids)
        self.mailer = Mailer(settings)
        self._planned: dict[str, str] = {}
        self._seen_active: dict[int, tuple[str, str, str]] = {}
        self._next_sweep = 0.0
        self._runs_checked: datetime | None = None
        self._started = False
        self._conf = _Conf(settings)

    # --- the step -------------------------------------------------------------------------

    def run_once(self, now: datetime) -> LoopStats:
        """One scheduling step at time ``now``."""
        began = time.perf_counter()
        stats = LoopStats()
        if not self._started:
            self._startup()
        if self.processor is not None and self.processor.needs_scan(now):
            self.processor.run_once(now)
            stats.parsed = True
        if self._runs_due(now):
            with transaction(self.session_factory) as session:
                self._runs(session, now, stats)
        events = self.executor.sync()
        stats.events = len(events)
        effects = _Effects([], [], [], [])
        with transaction(self.session_factory) as session:
            self._tasks(session, events, now, stats, effects)
        self._after_commit(effects, stats)
        stats.seconds = time.perf_counter() - began
        return stats

    def _runs_due(self, now: datetime) -> bool:
        """Look for due and queued runs at most once per loop_interval of ``now`` (steps driven by events skip it)."""
        last, self._runs_checked = self._runs_checked, now
        if last is not None and timedelta(0) < now - last < timedelta(seconds=self._conf.loop_interval):
            self._runs_checked = last
            return False
        return True

    def _runs(self, session: Session, now: datetime, stats: LoopStats) -> None:
        c = self._conf
        if self.create_runs:
            stats.created_runs = creating.plan(session, self.cache, now, limit=c.create_limit, default_max_runs=c.max_runs,
                                               known=self._planned, unplanned=time.monotonic() >= self._next_sweep)
            stats.created_runs += create_asset_triggered_runs(session, self.cache, now)
        stats.started_runs = len(starting.start_runs(session, self.cache, now, c.max_runs, dag_ids=self.dag_ids))

    def _tasks(self, session: Session, events: list[TaskEvent], now: datetime, stats: LoopStats,
               effects: _Effects) -> None:
        self.registry.sync(session)
        self._apply_events(session, events, now, effects)
        self._due_retries(session, now)
        if time.monotonic() >= self._next_sweep:
            self._sweep(session, now, effects)
            self._time_out_runs(session, now, stats, effects)
        self._evaluate(session, now, stats)
        effects.works = queueing.queue_ready(session, self.cache, self.registry, now, slots=self.executor.open_slots,
                                             default_tasks=self._conf.max_tasks)
        self._finish_runs(session, now, stats, effects)

    def _after_commit(self, effects: _Effects, stats: LoopStats) -> None:
        for work in effects.works:
            self.executor.queue(work)
        stats.queued = len(effects.works)
        for callback in effects.callbacks:
            self.executor.queue_callback(callback)
        for ti_id in effects.kills:
            self.executor.terminate(ti_id)
        for mail in effects.mails:
            self.mailer.send(mail)
        self.executor.heartbeat()

    # --- pieces -----------------------------------------------------------------------------

    def _startup(self) -> None:
        """Queued tries of a previous scheduler never reached an executor here: queue them again (SQLite)."""
        self._started = True
        with transaction(self.session_factory) as session:
            if session.get_bind().dialect.name == "sqlite":
                ids = list(session.scalars(self._mine(sa.select(TaskInstance.id).where(TaskInstance.state == "queued"))))
                cas.set_ti_states(session, ids, expected=["queued"], new="scheduled", queued_dttm=None)

    def _mine(self, stmt: Any) -> Any:
        """``stmt`` limited to this scheduler's DAGs (a backfill drives only its own)."""
        return stmt if self.dag_ids is None else stmt.where(TaskInstance.dag_id.in_(sorted(self.dag_ids)))

    def _apply_events(self, session: Session, events: list[TaskEvent], now: datetime, effects: _Effects) -> None:
        rows = results.running_rows(session, [e.ti_id for e in events if e.outcome != "unclaimed"])
        planned = []
        for event in events:
            row = rows.get(event.ti_id)
            dag = self.cache.get(session, row.dag_id) if row is not None else None
            planned.append(results.plan(row, event, dag, now))
        for ended in results.write(session, [p for p in planned if p is not None]):
            self._ended(session, ended, self.cache.get(session, ended.row.dag_id), now, effects)

    def _ended(self, session: Session, ended: results.Ended, dag: CachedDag | None, now: datetime,
               effects: _Effects) -> None:
        """Follow-ups of a recorded end: dirty downstream, skips, fail_stop, cross-run deps, e-mail."""
        row = ended.row
        self._seen_active.pop(row.id, None)
        ctx = self.registry.get(row.dag_id, row.run_id)
        if dag is None:
            return
        if ctx is not None:
            ctx.touched = True
            ctx.mark(dag.down.get(row.task_id, ()))
            if results.skip_tasks(session, row.dag_id, row.run_id, ended.skip_task_ids, now):
                ctx.mark(t for s in ended.skip_task_ids for t in dag.down.get(s, ()))
            if ended.state == "failed" and dag.get("fail_stop"):
                effects.kills.extend(finishing.stop_remaining(session, ctx, now))
        for other in self.registry.of_dag(row.dag_id):
            other.mark(dag.past_tasks)
        self._mail(ended, dag, effects)
        if ended.crashed and ctx is not None:
            self._task_callback(ended, dag, ctx.info, effects)

    def _task_callback(self, ended: results.Ended, dag: CachedDag, run: dict[str, Any], effects: _Effects) -> None:
        """A dead try's own on_failure/on_retry callback, run in a child as the task would have."""
        flag = {"failed": "has_on_failure_callback", "up_for_retry": "has_on_retry_callback"}.get(ended.state)
        r = ended.row
        if flag and dag.sdag.tasks.get(r.task_id, {}).get(flag):
            effects.callbacks.append(CallbackWork(r.dag_id, dag.fileloc, run, ended.state, ended.error or "",
                                                  task_id=r.task_id, map_index=r.map_index, try_number=r.try_number))

    def _mail(self, ended: results.Ended, dag: CachedDag, effects: _Effects) -> None:
        task = dag.sdag.tasks.get(ended.row.task_id, {})
        flag = {"failed": "email_on_failure", "up_for_retry": "email_on_retry"}.get(ended.state)
        if flag is None or not task.get(flag) or not task.get("email"):
            return
        r = ended.row
        log = taskproc.log_path(self._conf.log_folder, r.dag_id, r.run_id, r.task_id, r.map_index, r.try_number)
        label = f"{r.dag_id}.{r.task_id} {r.run_id} try {r.try_number}"
        effects.mails.append(compose(sender=self._conf.mail_from, to=list(task["email"]), state=ended.state,
                                     label=label, error=ended.error, log=log))

    def _due_retries(self, session: Session, now: datetime) -> None:
        """up_for_retry / up_for_reschedule whose time has come become scheduled again."""
        stmt = sa.select(TaskInstance.id, TaskInstance.state).where(
            TaskInstance.state.in_(("up_for_retry", "up_for_reschedule")),
            sa.or_(TaskInstance.next_attempt_at.is_(None), TaskInstance.next_attempt_at <= now),
        )
        rows = session.execute(self._mine(stmt)).all()
        retry = [i for i, s in rows if s == "up_for_retry"]
        poke = [i for i, s in rows if s == "up_for_reschedule"]
        cas.set_ti_states(session, retry, expected=["up_for_retry"], new="scheduled", next_attempt_at=None,
                          try_number=TaskInstance.try_number + 1)
        cas.set_ti_states(session, poke, expected=["up_for_reschedule"], new="scheduled", next_attempt_at=None)

    def _sweep(self, session: Session, now: datetime, effects: _Effects) -> None:
        """Zombies, tries queued too long, and task instances changed by someone else."""
        self._next_sweep = time.monotonic() + self._conf.sweep_every
        cols = (TaskInstance.id, TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.state,
                TaskInstance.queued_dttm, TaskInstance.start_date, TaskInstance.last_heartbeat_at)
        rows = session.execute(sa.select(*cols).where(TaskInstance.state.in_(sorted(ACTIVE)))).all()
        self._reconcile({r.id: (r.dag_id, r.run_id, r.task_id) for r in rows})
        zombies = [r.id for r in rows if r.state == "running"
                   and failures.is_zombie(r.last_heartbeat_at, r.start_date, now, self._conf.zombie_after)]
        self._fail_zombies(session, zombies, now, effects)
        stuck = [r.id for r in rows if r.state == "queued" and failures.queued_too_long(r.queued_dttm, now, self._conf.queued_timeout)]
        cas.set_ti_states(session, stuck, expected=["queued"], new="scheduled", queued_dttm=None)

    def _reconcile(self, current: dict[int, tuple[str, str, str]]) -> None:
        """A task instance that left the active states without our doing: evaluate around it again."""
        for ti_id, (dag_id, run_id, _task) in self._seen_active.items():
            ctx = self.registry.get(dag_id, run_id)
            if ti_id not in current and ctx is not None:
                ctx.full = True
                ctx.touched = True
        self._seen_active = current

    def _fail_zombies(self, session: Session, ids: list[int], now: datetime, effects: _Effects) -> None:
        for row in results.running_rows(session, ids).values():
            dag = self.cache.get(session, row.dag_id)
            state, next_at = results.failure_outcome(row, dag, now)
            message = f"zombie: no heartbeat for more than {self._conf.zombie_after:g}s (scheduler.zombie_threshold)"
            ended = results.finish_try(session, row, state, now, next_at=next_at, error=message, crashed=True)
            if ended is not None:
                effects.kills.append(row.id)
                self._ended(session, ended, dag, now, effects)

    def _evaluate(self, session: Session, now: datetime, stats: LoopStats) -> None:
        mono = time.monotonic()
        budget = self._conf.full_per_loop
        for ctx in list(self.registry.runs.values()):
            if mono - ctx.evaluated_at > self._conf.full_every:
                ctx.full = True  # a safety net for changes nobody told this scheduler about
            if ctx.full and budget <= 0:
                continue  # bounded work per loop: the rest of the full evaluations wait a loop
            budget -= ctx.full
            if not (ctx.full or ctx.dirty):
                continue
            dag = self.cache.get(session, ctx.dag_id)
            if dag is None or not _lock_run(session, ctx):
                continue
            ctx.evaluated_at = mono if ctx.full else ctx.evaluated_at
            out = evaluating.evaluate(session, ctx, dag, now)
            stats.scheduled += out.scheduled
            ctx.touched = True

    def _time_out_runs(self, session: Session, now: datetime, stats: LoopStats, effects: _Effects) -> None:
        """Runs past their DAG's dagrun_timeout fail (Airflow: unfinished task instances are skipped)."""
        for ctx in list(self.registry.runs.values()):
            dag = self.cache.get(session, ctx.dag_id)
            if dag is None or not finishing.timed_out(ctx, dag, now):
                continue
            effects.kills.extend(finishing.time_out(session, ctx, now))
            stats.finished_runs += 1
            self.registry.drop(ctx.pk)
            if dag.get("has_on_failure_callback"):
                effects.callbacks.append(CallbackWork(ctx.dag_id, dag.fileloc, ctx.info, "failed", "timed_out"))

    def _finish_runs(self, session: Session, now: datetime, stats: LoopStats, effects: _Effects) -> None:
        in_flight = {(w.dag_id, w.run_id) for w in self.executor.running.values()}
        for ctx in [c for c in self.registry.runs.values() if c.touched]:
            if (ctx.dag_id, ctx.run_id) in in_flight:
                continue  # a try of this run is still running here: it cannot be finished
            ctx.touched = False
            dag = self.cache.get(session, ctx.dag_id)
            final = finishing.try_finish(session, ctx, dag, now) if dag is not None else None
            if final is None or dag is None:
                continue
            stats.finished_runs += 1
            self.registry.drop(ctx.pk)
            for other in self.registry.of_dag(ctx.dag_id):
                other.mark(dag.past_tasks)
            if dag.get(f"has_on_{'success' if final == 'success' else 'failure'}_callback"):
                reason = "success" if final == "success" else "task_failure"
                effects.callbacks.append(CallbackWork(ctx.dag_id, dag.fileloc, ctx.info, final, reason))

    # --- the loop -------------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, clock: Callable[[], datetime], *, num_runs: int = -1) -> None:
        """Step until ``stop`` is set (or ``num_runs`` steps); wait on the executor when idle."""
        self.executor.start()
        steps = 0
        try:
            while not stop.is_set() and (num_runs < 0 or steps < num_runs):
                stats = self.run_once(clock())
                steps += 1
                if not stats.busy:
                    self.executor.wait(self._conf.loop_interval)
        finally:
            self.executor.end()
            self.mailer.close()


def _lock_run(session: Session, ctx: RunCtx) -> bool:
    """Claim the run row for this step (PostgreSQL: SKIP LOCKED; SQLite has one scheduler)."""
    if session.get_bind().dialect.name == "sqlite":
        return True
    stmt = sa.select(DagRun.id).where(DagRun.id == ctx.pk).with_for_update(skip_locked=True)
    return session.scalar(stmt) is not None


class _Conf:
    """The settings one step reads, read once."""

    def __init__(self, settings: Settings) -> None:
        get = settings.get
        self.max_runs = int(get("core", "max_active_runs_per_dag"))
        self.max_tasks = int(get("core", "max_active_tasks_per_dag"))
        self.create_limit = int(get("scheduler", "max_dagruns_to_create_per_loop"))
        self.zombie_after = float(get("scheduler", "zombie_threshold"))
        self.queued_timeout = float(get("scheduler", "task_queued_timeout"))
        self.sweep_every = float(get("scheduler", "reconcile_interval"))
        self.full_every = 10 * self.sweep_every
        self.full_per_loop = int(get("scheduler", "max_dagruns_per_loop_to_schedule"))
        self.loop_interval = float(get("scheduler", "loop_interval"))
        self.log_folder = str(get("logging", "base_log_folder"))
        self.mail_from = str(get("smtp", "smtp_mail_from"))
