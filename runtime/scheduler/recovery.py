"""Taking back work that dead jobs held, within seconds of their death.

A queued try whose scheduler died (or that waited past ``task_queued_timeout``) is queued
again (``requeue``); a running try whose executor or worker died is a zombie: it ends as a
crash would (retry or fail, recorded like any other end). Liveness is the job row's: dead at
once when its process is gone on this host, else when its heartbeat is older than a threshold.
A try under a live job is never a zombie, however old its own heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from runtime.rules import failures
from runtime.rules.failures import RetryPolicy
from runtime.scheduler.dags import CachedDag, DagCache
from runtime.store import jobs, transitions
from runtime.store.states import TI
from runtime.worker.record import TryOutcome, record


@dataclass(frozen=True)
class Limits:
    """The thresholds of the sweep, in seconds."""

    scheduler_dead_after: float  # a scheduler job's heartbeat age that makes it dead
    executor_dead_after: float  # an executor or worker job's heartbeat age that makes it dead (zombie_threshold)
    queued_timeout: float


@dataclass
class Recovered:
    """What one sweep took back."""

    requeued: list[int] = field(default_factory=list)
    zombies: list[TryOutcome] = field(default_factory=list)
    buried: list[int] = field(default_factory=list)


def policy_of(task: dict[str, Any]) -> RetryPolicy:
    """The retry settings of a serialized task."""
    delay = timedelta(seconds=float(300 if task.get("retry_delay") is None else task["retry_delay"]))
    max_delay = timedelta(seconds=float(task["max_retry_delay"])) if task.get("max_retry_delay") else None
    return RetryPolicy(int(task.get("retries") or 0), delay, bool(task.get("retry_exponential_backoff")), max_delay)


def sweep(session: Session, rows: list[Any], cache: DagCache, now: datetime, *, me: int | None,
          limits: Limits, wall: datetime) -> Recovered:
    """Requeue orphaned queued tries, record zombies, bury dead jobs (``rows``: queued and running tries).

    ``now`` is the scheduling clock; ``wall`` the real time that job heartbeats are stamped with.
    """
    views = jobs.load(session, [r.queued_by_job_id for r in rows] + [r.job_id for r in rows])

    def alive(job_id: int | None, threshold: float) -> bool | None:
        if job_id is None:
            return None
        view = views.get(job_id)
        return view is not None and jobs.is_alive(view, wall, threshold)

    out = Recovered()
    orphaned = [r.id for r in rows if r.state == TI.QUEUED and (
        (r.queued_by_job_id != me and alive(r.queued_by_job_id, limits.scheduler_dead_after) is False)
        or failures.queued_too_long(r.queued_dttm, now, limits.queued_timeout))]
    out.requeued = transitions.ti(session, transitions.REQUEUE, orphaned, queued_dttm=None, queued_by_job_id=None)
    dead = [r for r in rows if r.state == TI.RUNNING and failures.is_zombie(
        r.last_heartbeat_at, r.start_date, now, limits.executor_dead_after,
        job_alive=alive(r.job_id, limits.executor_dead_after))]
    out.zombies = record(session, [_zombie(r, cache.get(session, r.dag_id), now, limits) for r in dead])
    out.buried = jobs.bury(session, _dead_jobs(session, wall, limits), wall)
    return out


def _zombie(row: Any, dag: CachedDag | None, now: datetime, limits: Limits) -> TryOutcome:
    task = dag.sdag.tasks.get(row.task_id, {}) if dag else {}
    key = f"{row.dag_id}#{row.task_id}#{row.run_id}#{row.map_index}"
    state, next_at = failures.after_crash(policy_of(task), max_tries=row.max_tries, try_number=row.try_number,
                                          key=key, now=now)
    where = f" on {row.hostname}" if row.hostname else ""
    why = (f"zombie: the process running this try{where} is gone (its executor job {row.job_id} is dead)"
           if row.job_id is not None else
           f"zombie: no heartbeat for more than {limits.executor_dead_after:g}s (scheduler.zombie_threshold)")
    return TryOutcome(row.id, row.try_number, row.dag_id, row.run_id, row.task_id, row.map_index, state, now,
                      start=row.start_date, error=why, next_attempt_at=next_at, hostname=row.hostname, pid=row.pid,
                      crashed=True, fail_stop=bool(dag and dag.get("fail_stop")))


def _dead_jobs(session: Session, now: datetime, limits: Limits) -> list[int]:
    """Running job rows that are dead (their process gone here, or their heartbeat too old)."""
    found = []
    for view in jobs.running(session):
        threshold = max(limits.scheduler_dead_after, limits.executor_dead_after)
        if not jobs.is_alive(view, now, threshold):
            found.append(view.id)
    return found


def callback_wanted(task: dict[str, Any], state: str) -> bool:
    """Whether a dead try's task has a callback or an e-mail for ``state`` (a child must run them)."""
    failed = state == TI.FAILED
    flag = "has_on_failure_callback" if failed else "has_on_retry_callback"
    mail = "email_on_failure" if failed else "email_on_retry"
    return bool(task.get(flag) or (task.get("email") and task.get(mail)))
