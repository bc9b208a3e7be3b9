"""Daemon heartbeats (the ``job`` table): who runs, where, and when it last said so."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from runtime.store.models import Job
from runtime.store.session import transaction

RUNNING, ENDED = "running", "success"


def start_job(session: Session, job_type: str, now: dt.datetime) -> int:
    """A new running job row for this process; its id."""
    row = Job(job_type=job_type, state=RUNNING, hostname=socket.gethostname(), pid=os.getpid(),
              start_date=now, latest_heartbeat=now)
    session.add(row)
    session.flush()
    return row.id


def beat(session: Session, job_id: int, now: dt.datetime) -> None:
    """Record that job ``job_id`` is alive at ``now``."""
    session.execute(sa.update(Job).where(Job.id == job_id).values(latest_heartbeat=now))


def end_job(session: Session, job_id: int, now: dt.datetime) -> None:
    """Mark job ``job_id`` ended."""
    session.execute(sa.update(Job).where(Job.id == job_id).values(state=ENDED, end_date=now, latest_heartbeat=now))


def latest(session: Session, job_type: str) -> Job | None:
    """The running job of ``job_type`` with the newest heartbeat, or None."""
    stmt = sa.select(Job).where(Job.job_type == job_type, Job.state == RUNNING)
    return session.scalars(stmt.order_by(Job.latest_heartbeat.desc()).limit(1)).first()


def running(session: Session, job_type: str, since: dt.datetime) -> list[Job]:
    """Running jobs of ``job_type`` whose heartbeat is at or after ``since``."""
    stmt = sa.select(Job).where(Job.job_type == job_type, Job.state == RUNNING, Job.latest_heartbeat >= since)
    return list(session.scalars(stmt.order_by(Job.hostname, Job.pid)))


class Heartbeat:
    """A daemon thread that keeps one job row's heartbeat fresh until ``stop()``."""

    def __init__(self, factory: sessionmaker[Session], job_type: str, clock: Callable[[], dt.datetime],
                 interval: float = 5.0) -> None:
        self._factory, self._clock, self._interval = factory, clock, interval
        self._stop = threading.Event()
        with transaction(factory) as session:
            self.job_id = start_job(session, job_type, clock())
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{job_type}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with transaction(self._factory) as session:
                    beat(session, self.job_id, self._clock())
            except sa.exc.SQLAlchemyError:
                continue  # the database is away for a moment; the next beat tries again

    def stop(self) -> None:
        """Stop beating and mark the job ended."""
        self._stop.set()
        self._thread.join(timeout=10)
        try:
            with transaction(self._factory) as session:
                end_job(session, self.job_id, self._clock())
        except sa.exc.SQLAlchemyError:
            pass
