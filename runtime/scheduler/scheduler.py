"""The scheduler: one step at a time (``run_once(now)``), a thin forever-loop around it.

Each step: parse if due; create due runs and start queued ones; follow the ends of tries its
executor recorded (it never writes them itself); put due retries back; take back work of dead
jobs (a dead scheduler's queued tries, a dead executor's running ones); evaluate only the task
instances whose upstreams changed; queue what fits; finish runs that are done. Every state
change is a named transition; the work of one step grows with the active work, not the history.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from runtime.executors.base import BaseExecutor
from runtime.executors.messages import LOST, RECORDED, CallbackWork, TaskEvent, TaskWork
from runtime.scheduler import creating, evaluating, finishing, queueing, recovery, starting
from runtime.scheduler.active import Registry, RunCtx
from runtime.scheduler.assets import create_asset_triggered_runs
from runtime.scheduler.dags import DagCache
from runtime.scheduler.metrics import MetricsPublisher
from runtime.sdk import timezone
from runtime.settings import Settings
from runtime.store import jobs, transitions, triggers, wakeup
from runtime.store import tries as tries_store
from runtime.store.models import DagModel, DagRun, TaskInstance
from runtime.store.session import transaction
from runtime.store.states import RUN, TI, JobType
from runtime.worker.record import TryOutcome


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

    works: list[TaskWork] = field(default_factory=list)
    callbacks: list[CallbackWork] = field(default_factory=list)
    kills: list[int] = field(default_factory=list)
    triggers_unrun: bool = False  # a try deferred, or a trigger waits with no live triggerer


class Scheduler:
    """Creates runs, decides task instances, feeds the executor, takes back what dead jobs held."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], executor: BaseExecutor, *,
                 processor: Any = None, dag_ids: set[str] | None = None, create_runs: bool = True,
                 say: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.dag_ids = dag_ids  # backfill: drive only these DAGs' runs
        self.create_runs = create_runs
        self.session_factory = session_factory
        self.executor = executor
        self.processor = processor
        self.say = say  # one line per finished run (standalone's console)
        self.cache = DagCache()
        self.registry = Registry(dag_ids)
        self.job_id: int | None = None
        self.metrics = MetricsPublisher.from_settings(settings, session_factory)
        self._planned: dict[str, str] = {}
        self._seen_active: dict[int, tuple[str, str, str]] = {}
        self._next_sweep = 0.0
        self._next_job_beat = 0.0
        self._runs_checked: datetime | None = None
        self._conf = _Conf(settings)
        self.on_triggers: Callable[[], None] | None = None  # start a triggerer (scheduler_cmd's child)
        # what else lives in this process's loop (standalone's web server started by a connection):
        # each has fds() to wake on and tend(), called after every wake-up
        self.companions: list[Any] = []
        self.loops = 0  # steps run_forever took (an idle scheduler takes few)
        self._plan_new = False  # woken by a DAG change: plan unplanned DAGs in this step
        self._active = True  # the last sweep saw active tries or runs (then the sweep keeps its period)

    # --- the step -------------------------------------------------------------------------

    def run_once(self, now: datetime) -> LoopStats:
        """One scheduling step at time ``now``."""
        began = time.perf_counter()
        stats = LoopStats()
        if self.job_id is None:
            self._startup(timezone.utcnow())  # job heartbeats are real time, whatever clock drives the step
        if self.processor is not None and self.processor.needs_scan(now):
            self.processor.run_once(now)
            stats.parsed = True
        if self._runs_due(now):
            with transaction(self.session_factory) as session:
                self._runs(session, now, stats)
        events = self.executor.sync()
        stats.events = len(events)
        effects = _Effects()
        with transaction(self.session_factory) as session:
            self._tasks(session, events, now, stats, effects)
        effects.triggers_unrun |= any(e.outcome == RECORDED and e.state == TI.DEFERRED for e in events)
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
            unplanned = self._plan_new or time.monotonic() >= self._next_sweep
            self._plan_new = False
            stats.created_runs = creating.plan(session, self.cache, now, limit=c.create_limit, default_max_runs=c.max_runs,
                                               known=self._planned, unplanned=unplanned)
            stats.created_runs += create_asset_triggered_runs(session, self.cache, now)
        stats.started_runs = len(starting.start_runs(session, self.cache, now, c.max_runs, dag_ids=self.dag_ids))

    def _tasks(self, session: Session, events: list[TaskEvent], now: datetime, stats: LoopStats,
               effects: _Effects) -> None:
        self.registry.sync(session)
        self._follow(session, events)
        self._due_retries(session, now)
        if time.monotonic() >= self._next_sweep:
            self._sweep(session, now, effects)
            self._time_out_runs(session, now, stats, effects)
        self._evaluate(session, now, stats)
        effects.works = queueing.queue_ready(session, self.cache, self.registry, now, slots=self.executor.open_slots,
                                             default_tasks=self._conf.max_tasks, job_id=self.job_id)
        self._finish_runs(session, now, stats, effects)

    def _after_commit(self, effects: _Effects, stats: LoopStats) -> None:
        for work in effects.works:
            self.executor.queue(work)
        stats.queued = len(effects.works)
        for callback in effects.callbacks:
            self.executor.queue_callback(callback)
        if effects.triggers_unrun and self.on_triggers is not None:
            self.on_triggers()
        for ti_id in effects.kills:
            self.executor.terminate(ti_id)
        self.executor.heartbeat()
        self._beat()

    # --- this scheduler's job -----------------------------------------------------------------

    def _startup(self, now: datetime) -> None:
        """A job row for this scheduler; its executor learns it (tries it runs in-process carry it)."""
        with transaction(self.session_factory) as session:
            self.job_id = jobs.start(session, JobType.SCHEDULER, now, executor_class=type(self.executor).__name__)
        self.executor.scheduler_job_id = self.job_id
        self._next_job_beat = time.monotonic() + self._conf.job_beat_every

    def _beat(self) -> None:
        """Stamp this scheduler's heartbeat when due; a scheduler declared dead starts a new job."""
        if time.monotonic() < self._next_job_beat or self.job_id is None:
            return
        self._next_job_beat = time.monotonic() + self._conf.job_beat_every
        with transaction(self.session_factory) as session:
            now = timezone.utcnow()
            alive = jobs.beat(session, self.job_id, now)
            if (beat := getattr(self.processor, "beat", None)) is not None:
                beat(session, now)  # a processor forked per scan: its job row lives with the scheduler
        if not alive:
            print("[windsock] scheduler: this scheduler was declared dead (heartbeat too old); "
                  "its queued tries were taken back; starting a new job", file=sys.stderr)
            self.job_id = None

    def stop(self) -> None:
        """Mark this scheduler's job done (its queued tries are taken back by the next scheduler)."""
        if self.job_id is not None:
            with transaction(self.session_factory) as session:
                jobs.end(session, self.job_id, timezone.utcnow())

    # --- pieces -----------------------------------------------------------------------------

    def _follow(self, session: Session, events: list[TaskEvent]) -> None:
        """What the executor recorded: evaluate downstream again; a lost executor means sweep now."""
        for event in events:
            if event.outcome == LOST:
                self._next_sweep = 0.0
            if event.outcome != RECORDED:
                continue
            self._followed(session, event.dag_id, event.run_id, event.task_id, event.state, event.skip_task_ids)

    def _followed(self, session: Session, dag_id: str, run_id: str, task_id: str, state: str | None,
                  skipped: list[str]) -> None:
        if self.metrics is not None:
            self.metrics.count_finished(state)
        ctx = self.registry.get(dag_id, run_id)
        dag = self.cache.get(session, dag_id)
        if ctx is None or dag is None:
            return
        ctx.touched = True
        if state is None or state == TI.FAILED and dag.get("fail_stop"):
            ctx.full = True  # changed by someone else, or a stop: look at the whole run
        ctx.mark(dag.down.get(task_id, ()))
        ctx.mark(t for s in skipped for t in dag.down.get(s, ()))
        for other in self.registry.of_dag(dag_id):
            other.mark(dag.past_tasks)

    def _due_retries(self, session: Session, now: datetime) -> None:
        """up_for_retry / up_for_reschedule whose time has come become scheduled again."""
        if self.dag_ids is None:
            rows = session.execute(_DUE_RETRIES, {"now": now}).all()
        else:  # a backfill drives only its own DAGs
            rows = session.execute(_DUE_RETRIES_OF, {"now": now, "dag_ids": sorted(self.dag_ids)}).all()
        if not rows:
            return
        transitions.ti(session, transitions.RETRY_DUE, [i for i, s in rows if s == TI.UP_FOR_RETRY],
                       next_attempt_at=None, try_number=transitions.NEXT_TRY)
        transitions.ti(session, transitions.RESCHEDULE_DUE, [i for i, s in rows if s == TI.UP_FOR_RESCHEDULE],
                       next_attempt_at=None)

    def _sweep(self, session: Session, now: datetime, effects: _Effects) -> None:
        """Work of dead jobs, tries queued too long, and task instances changed by someone else."""
        self._next_sweep = time.monotonic() + self._conf.sweep_every
        rows = tries_store.active_rows(session, self.dag_ids)
        self._active = bool(rows or self.registry.runs or self.executor.running)
        self._reconcile({r.id: (r.dag_id, r.run_id, r.task_id) for r in rows})
        active = [r for r in rows if r.state in (TI.QUEUED, TI.RUNNING)]
        got = recovery.sweep(session, active, self.cache, now, me=self.job_id, limits=self._conf.limits,
                             wall=timezone.utcnow())
        if any(r.state == TI.DEFERRED for r in rows):  # deferred tries past their deadline resume to fail
            triggers.timed_out(session, timezone.utcnow())
            held = triggers.holders(session)
            effects.triggers_unrun = None in held or bool(jobs.dead_ids(
                session, {h for h in held if h is not None}, timezone.utcnow(), self._conf.limits.scheduler_dead_after))
        for zombie in got.zombies:
            effects.kills.append(zombie.ti_id)
            self._followed(session, zombie.dag_id, zombie.run_id, zombie.task_id, zombie.state, [])
            self._zombie_callback(session, zombie, effects)
        if got.requeued or got.zombies:
            print(f"[windsock] scheduler: took back {len(got.requeued)} queued tries and {len(got.zombies)} "
                  f"running tries of dead jobs {sorted(got.buried) or ''}".rstrip(), file=sys.stderr)

    def _zombie_callback(self, session: Session, zombie: TryOutcome, effects: _Effects) -> None:
        """A dead try's own on_failure/on_retry callback and e-mail, run in a child as the task would have."""
        dag = self.cache.get(session, zombie.dag_id)
        ctx = self.registry.get(zombie.dag_id, zombie.run_id)
        if dag is None or ctx is None:
            return
        if recovery.callback_wanted(dag.sdag.tasks.get(zombie.task_id, {}), zombie.state):
            effects.callbacks.append(CallbackWork(zombie.dag_id, dag.fileloc, ctx.info, zombie.state,
                                                  zombie.error or "", task_id=zombie.task_id,
                                                  map_index=zombie.map_index, try_number=zombie.try_number))

    def _reconcile(self, current: dict[int, tuple[str, str, str]]) -> None:
        """A task instance that left the active states without our doing: evaluate around it again."""
        for ti_id, (dag_id, run_id, _task) in self._seen_active.items():
            ctx = self.registry.get(dag_id, run_id)
            if ti_id not in current and ctx is not None:
                ctx.full = True
                ctx.touched = True
        self._seen_active = current

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
            self._announce(ctx, "failed (dagrun_timeout)", now)
            if dag.get("has_on_failure_callback"):
                effects.callbacks.append(CallbackWork(ctx.dag_id, dag.fileloc, ctx.info, TI.FAILED, "timed_out"))

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
            self._announce(ctx, final, now)
            for other in self.registry.of_dag(ctx.dag_id):
                other.mark(dag.past_tasks)
            succeeded = final == RUN.SUCCESS
            if dag.get("has_on_success_callback" if succeeded else "has_on_failure_callback"):
                reason = RUN.SUCCESS.value if succeeded else "task_failure"
                effects.callbacks.append(CallbackWork(ctx.dag_id, dag.fileloc, ctx.info, final, reason))

    def _announce(self, ctx: RunCtx, state: str, now: datetime) -> None:
        """One console line per finished run (DAG, run id, state, duration)."""
        if self.say is not None:
            took = f" in {(now - ctx.start_date).total_seconds():.1f}s" if ctx.start_date else ""
            self.say(f"run {ctx.dag_id} {ctx.run_id}: {state}{took}")

    # --- the loop -------------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, clock: Callable[[], datetime], *, num_runs: int = -1) -> None:
        """Step until ``stop`` is set (or ``num_runs`` steps); when idle, sleep until something may be due.

        An idle scheduler sleeps on its executor's socket and the wake-up channel (a trigger, a
        clear, a resumed deferral, a DAG file change: :mod:`runtime.store.wakeup`) until the next
        due time (a run, a retry, its heartbeat, its sweep while work is active), at most
        ``scheduler.idle_poll`` seconds.
        """
        self.executor.start()
        if self.metrics is not None:
            self.metrics.start()
        listener = wakeup.Listener(self.session_factory.kw["bind"])
        self.executor.use_wakeups(listener.available)
        backoff = 0.0
        try:
            while not stop.is_set() and (num_runs < 0 or self.loops < num_runs):
                try:
                    stats = self.run_once(clock())
                except sa.exc.DBAPIError as exc:  # the database went away: nothing was committed; go again
                    backoff = min(5.0, max(0.25, backoff * 2))
                    self._lost_database(exc, backoff)
                    stop.wait(backoff)
                    continue
                backoff = 0.0
                self.loops += 1
                if not stats.busy and not stop.is_set():
                    if self.executor.wakes_on_events:
                        fallback = None if listener.available else self._conf.sweep_every
                        self._sleep(stop, self._idle_wait(clock(), fallback), listener)
                    else:  # an executor that must be polled: keep the old loop
                        self.executor.wait(self._conf.loop_interval, [listener.fileno(), *self._companion_fds()])
                if kinds := listener.drain():
                    self._woken(kinds)
                for companion in self.companions:
                    companion.tend()
        finally:
            listener.close()
            self.executor.end()
            if self.metrics is not None:
                self.metrics.stop()
            self._stop_quietly()

    def _sleep(self, stop: threading.Event, seconds: float, listener: wakeup.Listener) -> None:
        """Wait on the executor and the wake-up channel for ``seconds``, and on ``stop`` (a
        ``procs.StopEvent`` is waited on with them; a plain Event is looked at once a second).

        The job heartbeat falls due meanwhile: it is stamped on its own (one UPDATE), not by a
        whole scheduling step (a dozen queries)."""
        fds = [listener.fileno(), *self._companion_fds()]
        look = 1.0
        if callable(getattr(stop, "fileno", None)):
            fds.append(stop.fileno())  # type: ignore[attr-defined]
            look = seconds
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            now = time.monotonic()
            if now >= self._next_job_beat:
                self._beat()
                if self.job_id is None:  # declared dead: the next step starts a new job
                    return
            left = deadline - now
            beat_in = max(0.0, self._next_job_beat - now)
            if left <= 0 or self.executor.wait(min(left, look, beat_in), fds):
                return

    def _companion_fds(self) -> list[int]:
        return [fd for companion in self.companions for fd in companion.fds()]

    def _woken(self, kinds: set[str]) -> None:
        """Someone changed the store: workers recorded try ends (the executor reads them now), or a
        trigger, clear, mark, resume or DAG change (look at everything now)."""
        self.executor.poke()
        if kinds <= {wakeup.ENDS}:
            return
        self._runs_checked = None
        self._plan_new = True
        for ctx in self.registry.runs.values():
            ctx.full = ctx.touched = True

    def _idle_wait(self, now: datetime, cap: float | None = None) -> float:
        """Seconds an idle step may sleep: until the next thing due, at most the safety poll (or ``cap``)."""
        c = self._conf
        mono = time.monotonic()
        wait = min(c.idle_poll, cap if cap is not None else c.idle_poll)
        if self._active or self.executor.running or self.registry.runs:
            wait = min(wait, self._next_sweep - mono)
        if self.processor is not None:
            wait = min(wait, self.processor.interval)
        if (due := self.executor.next_due()) is not None:
            wait = min(wait, due)
        try:
            with transaction(self.session_factory) as session:
                retry, run = _next_due(session, self.dag_ids, self.create_runs)
        except sa.exc.DBAPIError:
            retry = run = None
        now = timezone.to_utc(now)
        if retry is not None and retry > now:  # a past one was put back by this step
            wait = min(wait, (retry - now).total_seconds())
        checked = timezone.to_utc(self._runs_checked) if self._runs_checked is not None else None
        if run is not None and (checked is None or run > checked):  # a past one waits for room (max_active_runs)
            wait = min(wait, max((run - now).total_seconds(),
                                 (checked - now).total_seconds() + c.loop_interval if checked else 0.0))
        return max(0.0, wait)

    def _lost_database(self, exc: BaseException, backoff: float) -> None:
        """A failed step rolled back: evaluate every run afresh once the database answers again."""
        first = str(exc.args[0] if exc.args else exc).strip().splitlines()[:1]
        print(f"[windsock] scheduler: database error, retrying in {backoff:g}s: {first[0] if first else exc}",
              file=sys.stderr)
        for ctx in self.registry.runs.values():
            ctx.full = ctx.touched = True
        self._next_sweep = 0.0

    def _stop_quietly(self) -> None:
        try:
            self.stop()
        except sa.exc.DBAPIError as exc:  # its job will be found dead instead
            print(f"[windsock] scheduler: could not mark its job stopped: {exc}", file=sys.stderr)


# up_for_retry / up_for_reschedule due at :now (of the DAGs :dag_ids), read every step: built once
_DUE_RETRIES = sa.select(TaskInstance.id, TaskInstance.state).where(
    TaskInstance.state.in_((TI.UP_FOR_RETRY.value, TI.UP_FOR_RESCHEDULE.value)),
    sa.or_(TaskInstance.next_attempt_at.is_(None), TaskInstance.next_attempt_at <= sa.bindparam("now")),
)
_DUE_RETRIES_OF = _DUE_RETRIES.where(TaskInstance.dag_id.in_(sa.bindparam("dag_ids", expanding=True)))


def _next_due(session: Session, dag_ids: set[str] | None,
              create_runs: bool) -> tuple[datetime | None, datetime | None]:
    """When something becomes due without anyone saying so: (the next retry, a DAG's next run)."""
    retry = sa.select(sa.func.min(TaskInstance.next_attempt_at)).where(
        TaskInstance.state.in_((TI.UP_FOR_RETRY.value, TI.UP_FOR_RESCHEDULE.value)))
    if dag_ids is not None:
        retry = retry.where(TaskInstance.dag_id.in_(sorted(dag_ids)))
    next_retry = session.scalar(retry)
    next_run = session.scalar(sa.select(sa.func.min(DagModel.next_dagrun_create_after)).where(
        DagModel.is_paused.is_(False), DagModel.is_active.is_(True))) if create_runs else None
    return (timezone.to_utc(next_retry) if next_retry is not None else None,
            timezone.to_utc(next_run) if next_run is not None else None)


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
        self.sweep_every = float(get("scheduler", "reconcile_interval"))
        self.full_every = 10 * self.sweep_every
        self.full_per_loop = int(get("scheduler", "max_dagruns_per_loop_to_schedule"))
        self.loop_interval = float(get("scheduler", "loop_interval"))
        self.idle_poll = float(get("scheduler", "idle_poll"))
        self.job_beat_every = float(get("scheduler", "job_heartbeat_sec"))
        self.limits = recovery.Limits(scheduler_dead_after=float(get("scheduler", "job_heartbeat_threshold")),
                                      executor_dead_after=float(get("scheduler", "zombie_threshold")),
                                      queued_timeout=float(get("scheduler", "task_queued_timeout")))
