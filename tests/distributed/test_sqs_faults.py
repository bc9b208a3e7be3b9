"""Faults of the cloud topology, done for real: workers and schedulers killed -9, database connections cut."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime.store.engine import make_engine, make_session_factory
from tests.distributed.conftest import Sqs
from tests.faults import chaos

PG = [pytest.param("postgres", marks=pytest.mark.postgres)]
RUNS, WIDTH, CHAIN = 3, 8, 4


def _topology(url: str, tmp_path: Path, sqs: Sqs, *, schedulers: int, workers: int, victims: list[int],
              kills: int, seconds: float = 1.0) -> tuple[chaos.KillLoop, object, Path]:
    dags, marks = tmp_path / "dags", tmp_path / "marks.txt"
    chaos.write_dag(dags, marks, width=WIDTH, chain=CHAIN, runs=RUNS, seconds=seconds)
    env = {**chaos.environment(url, tmp_path / "home", dags), **sqs.env,
           "WINDSOCK__CORE__EXECUTOR": "SqsExecutor", "WINDSOCK__SQS__TASK_QUEUE_URL": sqs.task_queue,
           "WINDSOCK__SQS__DEAD_LETTER_QUEUE_URL": sqs.dlq, "WINDSOCK__SQS__VISIBILITY_TIMEOUT": "5",
           "WINDSOCK__SQS__VISIBILITY_EXTEND_EVERY": "1", "WINDSOCK__SQS__WAIT_TIME_SECONDS": "1",
           "WINDSOCK__WORKER__STOP_GRACE": "3"}
    commands = [("scheduler",)] * schedulers + [("worker", "-c", "8")] * workers
    loop = chaos.KillLoop(env, tmp_path / "logs", kills=kills, commands=commands, victims=victims, pause=(0.3, 1.2))
    return loop, make_session_factory(make_engine(url, **_observer(url))), marks


def _observer(url: str) -> dict[str, object]:
    """The test's own connections (it watches the runs) carry a name the connection cutter spares:
    a cut in the middle of the test's own query is not the system's fault."""
    if not url.startswith("postgresql"):
        return {}
    return {"connect_args": {"options": "-c timezone=UTC", "application_name": OBSERVER}}


OBSERVER = "windsock-test-observer"


def _run(loop: chaos.KillLoop, factory: object, marks: Path, *, during: object = None) -> chaos.Verdict:
    loop.start()
    try:
        loop.run(running=lambda: chaos.running_tries(factory) > 0, done=lambda: chaos.runs_done(factory, RUNS),
                 timeout=300)
        if during is not None:
            during()
    finally:
        loop.stop()
    assert chaos.wait_gone(loop.env["WINDSOCK_CHAOS_MARK"], 20) == []  # no process left behind
    return chaos.judge(factory, marks)


def _assert_sound(verdict: chaos.Verdict) -> None:
    assert verdict.run_states == ["success"] * RUNS, verdict.failures
    assert verdict.executed_twice == []
    assert verdict.needless == []
    assert verdict.unexplained_retries == []


@pytest.mark.max_receives(5)  # as the stack's queue: kills alone must not dead-letter a message
@pytest.mark.parametrize("db_url", PG, indirect=True)
def test_workers_killed_twenty_times_lose_nothing_and_never_run_a_try_twice(db_url, store, sqs, tmp_path) -> None:
    """kill -9 of a worker mid-try, 20 times across several runs: each run ends, a killed worker's tries
    come back (as new tries; its fork server hands them over), none runs twice, none stays running."""
    loop, factory, marks = _topology(db_url, tmp_path, sqs, schedulers=1, workers=2, victims=[1, 2], kills=20,
                                     seconds=2.0)
    verdict = _run(loop, factory, marks)
    assert loop.kills_done == 20
    _assert_sound(verdict)
    assert verdict.interrupted > 0


@pytest.mark.max_receives(5)
@pytest.mark.parametrize("db_url", PG, indirect=True)
def test_one_of_two_sqs_schedulers_killed_ten_times_loses_nothing(db_url, store, sqs, tmp_path) -> None:
    """Two schedulers with the SqsExecutor, one killed -9 ten times: no duplicate run, no try run twice."""
    loop, factory, marks = _topology(db_url, tmp_path, sqs, schedulers=2, workers=2, victims=[0], kills=10)
    verdict = _run(loop, factory, marks)
    assert loop.kills_done == 10
    _assert_sound(verdict)


@pytest.mark.max_receives(5)
@pytest.mark.parametrize("db_url", PG, indirect=True)
def test_database_connections_cut_mid_run_are_reconnected_and_nothing_is_lost(db_url, store, sqs, tmp_path) -> None:
    """pg_terminate_backend of every session of the scheduler and the workers, five times mid-run."""
    loop, factory, marks = _topology(db_url, tmp_path, sqs, schedulers=1, workers=2, victims=[], kills=0)
    admin = make_engine(db_url)
    cuts: list[int] = []
    stop = threading.Event()

    def cutter() -> None:
        while len(cuts) < 5 and not stop.is_set():
            if chaos.running_tries(factory) > 0:
                with admin.begin() as conn:
                    cuts.append(len(conn.execute(sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        f"AND application_name <> '{OBSERVER}'")).all()))
                stop.wait(1.5)
            else:
                stop.wait(0.1)

    thread = threading.Thread(target=cutter, daemon=True)
    thread.start()
    try:
        verdict = _run(loop, factory, marks)
    finally:
        stop.set()
        thread.join(10)
        admin.dispose()
    assert len(cuts) >= 3 and sum(cuts) > 0, cuts
    _assert_sound(verdict)
