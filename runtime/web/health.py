"""Health of the metadata database and the daemons, from their heartbeats (``job`` rows)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store import jobs
from runtime.store.models import Job
from runtime.store.states import JobType

DAEMONS = (JobType.SCHEDULER.value, JobType.DAG_PROCESSOR.value, JobType.TRIGGERER.value, JobType.EXECUTOR.value,
           JobType.WORKER.value)


@dataclass(frozen=True)
class DaemonHealth:
    """One daemon kind: healthy if one of them beat within the threshold."""

    kind: str
    status: str | None
    latest_heartbeat: dt.datetime | None
    alive: list[Job]


def database_ok(session: Session) -> bool:
    """True if a trivial query answers."""
    try:
        session.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.SQLAlchemyError:
        return False


def daemon_health(session: Session, kind: str, now: dt.datetime, threshold: float) -> DaemonHealth:
    """Status of one daemon kind: ``healthy``, ``unhealthy`` (stale heartbeat) or None (never seen)."""
    newest = jobs.latest(session, kind)
    if newest is None:
        return DaemonHealth(kind, None, None, [])
    alive = jobs.beating_since(session, kind, now - dt.timedelta(seconds=threshold))
    if not alive and kind == JobType.TRIGGERER and not _deferred_waiting(session):
        # the scheduler runs a triggerer only while tries are deferred: none running is not a fault
        return DaemonHealth(kind, None, newest.latest_heartbeat, [])
    return DaemonHealth(kind, "healthy" if alive else "unhealthy", newest.latest_heartbeat, alive)


def _deferred_waiting(session: Session) -> bool:
    from runtime.store.models import TaskInstance
    from runtime.store.states import TI

    return session.scalar(sa.select(TaskInstance.id).where(TaskInstance.state == TI.DEFERRED).limit(1)) is not None
