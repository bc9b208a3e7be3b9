"""kill -9 of schedulers while tries run, done for real: nothing lost, nothing run twice, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.store.engine import make_engine, make_session_factory
from tests.faults import chaos

RUNS, WIDTH, CHAIN = 3, 12, 3


def _scenario(url: str, tmp_path: Path, schedulers: int) -> tuple[chaos.Verdict, chaos.KillLoop, list[int]]:
    dags, marks = tmp_path / "dags", tmp_path / "marks.txt"
    # with a second scheduler the work goes on between kills: longer tasks keep tries running for ten
    chaos.write_dag(dags, marks, width=WIDTH, chain=CHAIN, runs=RUNS, seconds=1 if schedulers == 1 else 2.5)
    env = chaos.environment(url, tmp_path / "home", dags)
    factory = make_session_factory(make_engine(url))
    loop = chaos.KillLoop(env, tmp_path / "logs", schedulers=schedulers, kills=10)
    loop.start()
    try:
        loop.run(running=lambda: chaos.running_tries(factory) > 0, done=lambda: chaos.runs_done(factory, RUNS),
                 timeout=300)
    finally:
        loop.stop()
    left = chaos.wait_gone(env["WINDSOCK_CHAOS_MARK"], 15)
    return chaos.judge(factory, marks), loop, left


def _assert_nothing_lost(verdict: chaos.Verdict, loop: chaos.KillLoop, left: list[int], *,
                         interrupts: bool = True) -> None:
    assert loop.kills_done == 10
    assert verdict.run_states == ["success"] * RUNS, verdict.failures
    assert verdict.executed_twice == []  # no try's command ran twice
    assert verdict.needless == []  # no try recorded failed/zombie/interrupted whose command completed
    assert verdict.unexplained_retries == []  # a new try only where the previous one's process died
    assert verdict.interrupted > 0 or not interrupts  # the kills did hit running tries
    assert left == []  # no process left behind


def test_scheduler_killed_ten_times_loses_nothing(db_url: str, tmp_path: Path) -> None:
    """One scheduler killed -9 ten times while tries run and restarted each time (SQLite and PostgreSQL)."""
    _assert_nothing_lost(*_scenario(db_url, tmp_path, schedulers=1))


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_one_of_two_schedulers_killed_ten_times_loses_nothing(db_url: str, tmp_path: Path) -> None:
    """Two schedulers on PostgreSQL; one is killed -9 ten times while tries run: the same invariants."""
    # the killed scheduler may hold no running try at a kill (the other one queued them): no interrupt needed
    _assert_nothing_lost(*_scenario(db_url, tmp_path, schedulers=2), interrupts=False)
