"""The container health check: phase marks, job heartbeat age, and the decision between them."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime.container import health
from runtime.container.cli import health_check
from runtime.container.health import NoJobTable, Phase, PhaseMark, verdict
from runtime.store.engine import make_engine
from runtime.store.types import UtcDateTime

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    """T0 plus ``seconds``."""
    return T0 + dt.timedelta(seconds=seconds)


def running_since(seconds: float) -> PhaseMark:
    """A mark: the component was started at T0 + seconds."""
    return PhaseMark(Phase.RUNNING, at(seconds))


# --- the decision --------------------------------------------------------------------------


def test_a_fresh_heartbeat_is_healthy() -> None:
    """Running, heartbeat 10 s old: healthy, and the line says how old."""
    result = verdict("scheduler", running_since(0), at(290), at(300))
    assert result.healthy and "10s ago" in result.message


def test_a_stale_heartbeat_is_unhealthy() -> None:
    """A heartbeat older than the limit (60 s) means a stuck component: unhealthy."""
    result = verdict("worker", running_since(0), at(200), at(300))
    assert not result.healthy and "100s ago" in result.message


def test_starting_is_healthy_within_the_startup_grace_only() -> None:
    """While syncing/installing, healthy for up to the grace; then unhealthy so ECS replaces the task."""
    mark = PhaseMark(Phase.STARTING, T0)
    assert verdict("scheduler", mark, None, at(health.STARTUP_GRACE_SECONDS)).healthy
    assert not verdict("scheduler", mark, None, at(health.STARTUP_GRACE_SECONDS + 1)).healthy


def test_a_new_component_gets_time_for_its_first_heartbeat() -> None:
    """Running without a job row: healthy for the first-beat grace, unhealthy after it."""
    assert verdict("worker", running_since(0), None, at(30)).healthy
    late = verdict("worker", running_since(0), None, at(health.FIRST_BEAT_GRACE_SECONDS + 5))
    assert not late.healthy and "no running worker job" in late.message


def test_without_a_job_table_the_check_is_skipped_with_the_reason() -> None:
    """A database from before job heartbeats: healthy, and the message says the check was skipped."""
    result = verdict("scheduler", running_since(0), NoJobTable("table job does not exist yet"), at(900))
    assert result.healthy and "skipped" in result.message and "table job" in result.message


def test_no_phase_mark_means_the_entrypoint_never_ran() -> None:
    """Without the entrypoint's mark the container is not healthy."""
    assert not verdict("scheduler", None, None, T0).healthy


# --- the phase mark ------------------------------------------------------------------------


def test_phase_mark_round_trips_and_garbage_reads_as_none(tmp_path: Path) -> None:
    """mark_phase writes what read_phase returns; an unreadable file is no mark."""
    health.mark_phase(tmp_path, "worker", Phase.RUNNING, T0)
    assert health.read_phase(tmp_path, "worker") == PhaseMark(Phase.RUNNING, T0)
    assert health.read_phase(tmp_path, "scheduler") is None
    health.phase_path(tmp_path, "scheduler").write_text("{not json")
    assert health.read_phase(tmp_path, "scheduler") is None


# --- reading the job table -----------------------------------------------------------------

JOB = sa.Table(
    "job",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job_type", sa.String(30), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("hostname", sa.String(1000)),
    sa.Column("pid", sa.Integer),
    sa.Column("start_date", UtcDateTime(), nullable=False),
    sa.Column("latest_heartbeat", UtcDateTime(), nullable=False),
)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database of each kind (SQLite file; a scratch PostgreSQL database)."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    if request.param == "postgres":
        url = request.getfixturevalue("scratch_postgres_url")
    eng = make_engine(url)
    JOB.drop(eng, checkfirst=True)
    yield eng
    JOB.drop(eng, checkfirst=True)
    eng.dispose()


def _job(job_type: str, state: str, hostname: str, beat: dt.datetime) -> dict[str, object]:
    return {
        "job_type": job_type,
        "state": state,
        "hostname": hostname,
        "start_date": T0,
        "latest_heartbeat": beat,
    }


def test_latest_heartbeat_is_the_newest_running_job_of_that_type_on_that_host(engine: sa.Engine) -> None:
    """Finished jobs, other job types and other hosts are ignored; the newest running beat wins."""
    JOB.create(engine)
    with engine.begin() as conn:
        conn.execute(
            JOB.insert(),
            [
                _job("scheduler", "running", "host-a", at(10)),
                _job("scheduler", "running", "host-a", at(40)),
                _job("scheduler", "success", "host-a", at(90)),
                _job("worker", "running", "host-a", at(95)),
                _job("scheduler", "running", "host-b", at(99)),
            ],
        )
    found = health.latest_heartbeat(engine, job_type="scheduler", running="running", hostname="host-a")
    assert found == at(40)
    assert health.latest_heartbeat(engine, job_type="scheduler", running="running", hostname="host-c") is None


def test_missing_job_table_is_reported_not_raised(engine: sa.Engine) -> None:
    """No table: a NoJobTable value whose reason names the table."""
    found = health.latest_heartbeat(engine, job_type="scheduler", running="running", hostname="h")
    assert isinstance(found, NoJobTable) and "table job does not exist" in found.reason


def test_health_command_reads_the_database_of_the_container(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`windsock container scheduler --health` on a home whose DB lacks heartbeats: exit 0, says skipped."""
    env = {
        **os.environ,
        "WINDSOCK_HOME": str(tmp_path),
        "WINDSOCK__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/m.db",
    }
    health.mark_phase(tmp_path, "scheduler", Phase.RUNNING, dt.datetime.now(dt.UTC))
    assert health_check("scheduler", env) == 0
    assert "skipped" in capsys.readouterr().out


def test_health_command_fails_when_the_database_cannot_be_reached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreachable PostgreSQL makes the container unhealthy with one line naming the error, no password."""
    port = _closed_port()
    env = {
        "WINDSOCK_HOME": str(tmp_path),
        "WINDSOCK_DB_HOST": "127.0.0.1",
        "WINDSOCK_DB_PORT": str(port),
        "WINDSOCK_DB_NAME": "windsock",
        "WINDSOCK_DB_USER": "windsock",
        "WINDSOCK_DB_PASSWORD": "s3cret-pw",
    }
    health.mark_phase(tmp_path, "worker", Phase.RUNNING, dt.datetime.now(dt.UTC))
    assert health_check("worker", env) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "cannot read heartbeats" in out and "s3cret-pw" not in out


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
