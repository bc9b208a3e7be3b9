"""Job rows: every scheduler, executor and worker process has one, with a heartbeat.

A job is alive while its state is running and its heartbeat is fresh; on the same host a job
whose process is gone is dead at once (no need to wait for the heartbeat to age). Work held by
a dead job (tries it queued or claimed) is taken back by the scheduler (``scheduler/recovery``).
Functions take the caller's session and never commit.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.procs import pid_exists
from runtime.store.models import Job
from runtime.store.states import JobState, JobType

HOSTNAME = socket.gethostname()


@dataclass(frozen=True)
class JobView:
    """What the liveness decision needs of a job row."""

    id: int
    state: str
    hostname: str | None
    pid: int | None
    latest_heartbeat: datetime
    start_date: datetime | None = None


_VIEW = (Job.id, Job.state, Job.hostname, Job.pid, Job.latest_heartbeat, Job.start_date)


def start(session: Session, job_type: JobType, now: datetime, *, executor_class: str | None = None,
          hostname: str = HOSTNAME, pid: int | None = None) -> int:
    """Insert a running job for this process; its id."""
    job = Job(job_type=job_type.value, state=JobState.RUNNING.value, hostname=hostname, pid=pid or os.getpid(),
              executor_class=executor_class, start_date=now, latest_heartbeat=now)
    session.add(job)
    session.flush()
    return int(job.id)


def beat(session: Session, job_id: int, now: datetime) -> bool:
    """Stamp the heartbeat; False when another job has declared this one dead (it must stop)."""
    stmt = (sa.update(Job).where(Job.id == job_id, Job.state == JobState.RUNNING.value)
            .values(latest_heartbeat=now).execution_options(synchronize_session=False))
    return int(session.execute(stmt).rowcount) == 1  # type: ignore[attr-defined]


def end(session: Session, job_id: int, now: datetime, state: JobState = JobState.SUCCESS) -> None:
    """Mark this job stopped (it handed over everything it held)."""
    session.execute(sa.update(Job).where(Job.id == job_id, Job.state == JobState.RUNNING.value)
                    .values(state=state.value, end_date=now).execution_options(synchronize_session=False))


def pid_alive(pid: int | None, started_by: datetime | None = None) -> bool:
    """Whether a process with this id exists on this host (zombie processes count as gone).

    With ``started_by`` (the job's start), a process that started later is another process that
    reused the id: the job's own process is gone.
    """
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[-1].split()
    except FileNotFoundError:
        return False
    except OSError:
        return pid_exists(pid)
    if fields[0] in ("Z", "X"):
        return False
    return started_by is None or _started_at(int(fields[19])) <= started_by.timestamp() + 2.0


def _started_at(ticks: int) -> float:
    """Wall time of a process start given in clock ticks since boot (/proc/PID/stat field 22)."""
    return _boot_time() + ticks / os.sysconf("SC_CLK_TCK")


@functools.cache
def _boot_time() -> int:
    with open("/proc/stat", encoding="ascii") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("btime "))


def is_alive(job: JobView, now: datetime, threshold: float, *, hostname: str = HOSTNAME) -> bool:
    """Alive: running, heartbeat younger than ``threshold`` s, and (same host) its process exists."""
    if job.state != JobState.RUNNING:
        return False
    if (now - job.latest_heartbeat) > timedelta(seconds=threshold):
        return False
    return job.hostname != hostname or pid_alive(job.pid, job.start_date)


def load(session: Session, ids: Iterable[int | None]) -> dict[int, JobView]:
    """The job rows of ``ids`` (missing ids are absent)."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = session.execute(sa.select(*_VIEW).where(Job.id.in_(wanted)))
    return {r.id: JobView(*r) for r in rows}


def dead_ids(session: Session, ids: Iterable[int | None], now: datetime, threshold: float) -> set[int]:
    """Which of ``ids`` are dead jobs (a missing row counts as dead)."""
    wanted = {i for i in ids if i is not None}
    views = load(session, wanted)
    return {i for i in wanted if i not in views or not is_alive(views[i], now, threshold)}


def bury(session: Session, ids: Collection[int], now: datetime) -> list[int]:
    """Mark dead running jobs failed (once: a compare-and-set); the ids this call buried."""
    if not ids:
        return []
    stmt = (sa.update(Job).where(Job.id.in_(sorted(ids)), Job.state == JobState.RUNNING.value)
            .values(state=JobState.FAILED.value, end_date=now).execution_options(synchronize_session=False))
    if session.get_bind().dialect.update_returning:
        return list(session.execute(stmt.returning(Job.id)).scalars())
    session.execute(stmt)
    return sorted(ids)


def running(session: Session, job_type: JobType | None = None) -> list[JobView]:
    """Jobs whose state is running (alive or not yet found dead)."""
    stmt = sa.select(*_VIEW).where(Job.state == JobState.RUNNING.value)
    if job_type is not None:
        stmt = stmt.where(Job.job_type == job_type.value)
    return [JobView(*r) for r in session.execute(stmt)]


def latest(session: Session, job_type: JobType | str) -> Job | None:
    """The running job of ``job_type`` with the newest heartbeat, or None (health pages)."""
    stmt = sa.select(Job).where(Job.job_type == str(job_type), Job.state == JobState.RUNNING.value)
    return session.scalars(stmt.order_by(Job.latest_heartbeat.desc()).limit(1)).first()


def beating_since(session: Session, job_type: JobType | str, since: datetime) -> list[Job]:
    """Running jobs of ``job_type`` whose heartbeat is at or after ``since`` (health pages)."""
    stmt = sa.select(Job).where(Job.job_type == str(job_type), Job.state == JobState.RUNNING.value,
                                Job.latest_heartbeat >= since)
    return list(session.scalars(stmt.order_by(Job.hostname, Job.pid)))

