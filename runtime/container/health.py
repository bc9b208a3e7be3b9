"""Container health of the scheduler and worker: the age of their job heartbeat (``--health``).

ECS runs ``windsock container ROLE --health`` inside the container every 30 s. While the
entrypoint is still preparing (DAG sync, requirements, ``startup.sh``) the container is healthy
for up to ``STARTUP_GRACE_SECONDS``; once the component runs, its newest running job row on this
host (table ``job``: one row per scheduler/worker process, stamped every few seconds) must be
younger than ``MAX_HEARTBEAT_AGE_SECONDS``. A database without the ``job`` table (a runtime from
before job heartbeats) skips the check with a message instead of failing it, as does an image
whose runtime has no job types yet.

The decision is a pure function of (phase, times, heartbeat); only ``check`` does I/O.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from runtime.store.types import UtcDateTime

MAX_HEARTBEAT_AGE_SECONDS = 60.0  # the scheduler's zombie threshold: older means the process is stuck
STARTUP_GRACE_SECONDS = 1200.0  # a large requirements.txt may take this long to install
FIRST_BEAT_GRACE_SECONDS = 120.0  # from "component started" to its first job row
PHASE_FILE = ".container-{role}.json"
NO_TABLE = "table job does not exist yet (the database predates job heartbeats)"

# The columns of table ``job`` this check reads (runtime/store/models.py ``Job``).
JOB = sa.Table(
    "job",
    sa.MetaData(),
    sa.Column("job_type", sa.String(30)),
    sa.Column("state", sa.String(20)),
    sa.Column("hostname", sa.String(1000)),
    sa.Column("latest_heartbeat", UtcDateTime()),
)


class Phase(StrEnum):
    """Where the container's entrypoint is."""

    STARTING = "starting"  # syncing DAGs, installing requirements, running startup.sh, db init
    RUNNING = "running"  # the component process has been started (a container phase: not a task state)


@dataclass(frozen=True)
class PhaseMark:
    """The entrypoint's last phase change."""

    phase: Phase
    since: dt.datetime


@dataclass(frozen=True)
class Verdict:
    """Healthy or not, with the one line the health check prints."""

    healthy: bool
    message: str


class NoJobTable:
    """The database has no ``job`` table yet, or this runtime defines no job types."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


# --- pure decision ---------------------------------------------------------------------------


def verdict(
    role: str,
    mark: PhaseMark | None,
    heartbeat: dt.datetime | None | NoJobTable,
    now: dt.datetime,
    *,
    max_age: float = MAX_HEARTBEAT_AGE_SECONDS,
    startup_grace: float = STARTUP_GRACE_SECONDS,
    first_beat_grace: float = FIRST_BEAT_GRACE_SECONDS,
) -> Verdict:
    """Whether the ``role`` container is healthy, from its phase mark and its newest heartbeat."""
    if mark is None:
        return Verdict(False, f"{role}: the entrypoint never started (no phase mark)")
    since = (now - mark.since).total_seconds()
    if mark.phase is Phase.STARTING:
        if since <= startup_grace:
            return Verdict(True, f"{role}: starting for {since:.0f}s (grace {startup_grace:.0f}s)")
        return Verdict(False, f"{role}: still starting after {since:.0f}s (grace {startup_grace:.0f}s)")
    if isinstance(heartbeat, NoJobTable):
        return Verdict(True, f"{role}: heartbeat check skipped: {heartbeat.reason}")
    if heartbeat is None:
        if since <= first_beat_grace:
            return Verdict(True, f"{role}: running for {since:.0f}s, waiting for its first heartbeat")
        return Verdict(False, f"{role}: no running {role} job on this host {since:.0f}s after start")
    age = (now - heartbeat).total_seconds()
    if age > max_age:
        return Verdict(False, f"{role}: last heartbeat {age:.0f}s ago (limit {max_age:.0f}s)")
    return Verdict(True, f"{role}: last heartbeat {age:.0f}s ago")


# --- the entrypoint's phase mark -------------------------------------------------------------


def phase_path(home: Path, role: str) -> Path:
    """Where the entrypoint of ``role`` records its phase (inside the writable home volume)."""
    return home / PHASE_FILE.format(role=role)


def mark_phase(home: Path, role: str, phase: Phase, now: dt.datetime) -> None:
    """Record the entrypoint's phase (atomic replace, so the health check never reads half a file)."""
    path = phase_path(home, role)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"phase": phase.value, "since": now.isoformat()}))
    os.replace(tmp, path)


def read_phase(home: Path, role: str) -> PhaseMark | None:
    """The recorded phase, or None if the entrypoint has not written one (or it is unreadable)."""
    try:
        data = json.loads(phase_path(home, role).read_text())
        return PhaseMark(Phase(data["phase"]), dt.datetime.fromisoformat(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --- the job heartbeat -----------------------------------------------------------------------


def job_values(role: str) -> tuple[str, str] | None:
    """(job type, running state) of ``role`` from the store's enums; None if this runtime has none."""
    try:
        from runtime.store.states import JobState, JobType  # type: ignore[attr-defined]
    except ImportError:
        return None
    return str(JobType(role).value), str(JobState.RUNNING.value)


def latest_heartbeat(
    engine: Engine, *, job_type: str, running: str, hostname: str
) -> dt.datetime | None | NoJobTable:
    """Newest heartbeat of a running ``job_type`` job on ``hostname``; NoJobTable if there is no table."""
    if not sa.inspect(engine).has_table(JOB.name):
        return NoJobTable(NO_TABLE)
    query = sa.select(sa.func.max(JOB.c.latest_heartbeat)).where(
        JOB.c.job_type == job_type, JOB.c.state == running, JOB.c.hostname == hostname
    )
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    if value is None or isinstance(value, dt.datetime):
        return value
    return UtcDateTime().process_result_value(value, engine.dialect)  # max() loses the column type


def read_heartbeat(engine: Engine, role: str, hostname: str | None = None) -> dt.datetime | None | NoJobTable:
    """The heartbeat the verdict needs for ``role`` on this host (``socket.gethostname()``, as jobs do)."""
    if not sa.inspect(engine).has_table(JOB.name):
        return NoJobTable(NO_TABLE)
    values = job_values(role)
    if values is None:
        return NoJobTable("this runtime defines no job types yet")
    job_type, running = values
    return latest_heartbeat(
        engine, job_type=job_type, running=running, hostname=hostname or socket.gethostname()
    )


def check(role: str, environ: Mapping[str, str], home: Path, now: dt.datetime) -> Verdict:
    """Read the phase mark and (once running) the heartbeat from the component's database."""
    from runtime.container.environment import SQL_ALCHEMY_CONN, component_environment
    from runtime.settings import Settings
    from runtime.store.engine import make_engine

    mark = read_phase(home, role)
    if mark is None or mark.phase is Phase.STARTING:
        return verdict(role, mark, None, now)
    env = component_environment(environ)
    url = env.get(SQL_ALCHEMY_CONN) or str(Settings.load(env).get("database", "sql_alchemy_conn"))
    engine = make_engine(url, **_connect_timeout(url))
    try:
        heartbeat = read_heartbeat(engine, role)
    except sa.exc.SQLAlchemyError as exc:
        return Verdict(
            False, f"{role}: cannot read heartbeats: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        )
    finally:
        engine.dispose()
    return verdict(role, mark, heartbeat, now)


def _connect_timeout(url: str) -> dict[str, Any]:
    """A short connect timeout on PostgreSQL (the health check itself has 10 s)."""
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": 5, "options": "-c timezone=UTC"}}
    return {}
