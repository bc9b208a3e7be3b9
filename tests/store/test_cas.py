"""Compare-and-set: the only way states change; exactly one writer wins a race."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from runtime.store import cas
from runtime.store.models import DagRun, TaskInstance
from runtime.store.states import DagRunState, TaskInstanceState
from tests.store.helpers import T0, add_run, add_tis


def _state(store, ti_id: int) -> str | None:
    with store.session_factory() as session:
        return session.scalar(sa.select(TaskInstance.state).where(TaskInstance.id == ti_id))


def _seed(store, n: int = 1, state: str | None = None) -> list[int]:
    with store.session_factory() as session:
        ids = [ti.id for ti in add_tis(session, add_run(session), n, state)]
        session.commit()
    return ids


def test_none_state_is_matched_by_none_in_expected(store) -> None:
    """A NULL ("none") state matches expected=[None] and nothing else."""
    (ti_id,) = _seed(store)
    with store.session_factory() as session:
        assert not cas.set_ti_state(session, ti_id, expected=["scheduled"], new="queued")
        assert cas.set_ti_state(session, ti_id, expected=[None], new=TaskInstanceState.SCHEDULED)
        session.commit()
    assert _state(store, ti_id) == "scheduled"


def test_move_back_to_none(store) -> None:
    """new=None stores NULL (clearing a task)."""
    (ti_id,) = _seed(store, state="failed")
    with store.session_factory() as session:
        assert cas.set_ti_state(session, ti_id, expected=TaskInstanceState.__members__.values(), new=None)
        session.commit()
    assert _state(store, ti_id) is None


def test_wrong_expected_state_changes_nothing(store) -> None:
    """A state outside expected loses: False, row and fields untouched."""
    (ti_id,) = _seed(store, state="running")
    with store.session_factory() as session:
        assert not cas.set_ti_state(session, ti_id, expected=[None, "scheduled"], new="queued", hostname="h")
        session.commit()
    with store.session_factory() as session:
        ti = session.get(TaskInstance, ti_id)
        assert (ti.state, ti.hostname, ti.updated_at) == ("running", None, None)


def test_fields_and_updated_at_are_written_with_the_state(store) -> None:
    """Extra fields go in the same UPDATE; updated_at is set; values come back aware UTC."""
    (ti_id,) = _seed(store, state="queued")
    start = T0 + dt.timedelta(hours=1)
    with store.session_factory() as session:
        assert cas.set_ti_state(session, ti_id, expected=["queued"], new="running", start_date=start, pid=42)
        session.commit()
    with store.session_factory() as session:
        ti = session.get(TaskInstance, ti_id)
        assert (ti.state, ti.start_date, ti.pid) == ("running", start, 42)
        assert ti.updated_at is not None and ti.updated_at.tzinfo is not None


def test_loaded_object_follows_the_outcome(store) -> None:
    """A winner's loaded object shows the new values; a loser's is reloaded from the database."""
    ids = _seed(store, n=2, state="queued")
    with store.session_factory() as session:
        won, lost = session.get(TaskInstance, ids[0]), session.get(TaskInstance, ids[1])
        session.execute(sa.update(TaskInstance).where(TaskInstance.id == ids[1]).values(state="running"))
        assert cas.set_ti_state(session, won.id, expected=["queued"], new="running", hostname="w")
        assert not cas.set_ti_state(session, lost.id, expected=["queued"], new="scheduled")
        assert (won.state, won.hostname) == ("running", "w")
        assert lost.state == "running"


def test_loaded_object_reads_a_computed_field_back(store) -> None:
    """A field set to an SQL expression (``try_number + 1``) is read back from the row, not kept as the expression."""
    (ti_id,) = _seed(store)
    with store.session_factory() as session:
        ti = session.get(TaskInstance, ti_id)
        assert cas.set_ti_state(session, ti_id, expected=[None], new="scheduled", try_number=TaskInstance.try_number + 1)
        assert (ti.state, ti.try_number) == ("scheduled", 1)


def test_bulk_returns_only_the_rows_it_changed(store) -> None:
    """set_ti_states changes the rows in an expected state and returns their ids in input order."""
    ids = _seed(store, n=5)
    with store.session_factory() as session:
        session.execute(sa.update(TaskInstance).where(TaskInstance.id == ids[2]).values(state="running"))
        changed = cas.set_ti_states(session, list(reversed(ids)), expected=[None], new="scheduled")
        session.commit()
    assert changed == [i for i in reversed(ids) if i != ids[2]]
    assert [_state(store, i) for i in ids] == ["scheduled", "scheduled", "running", "scheduled", "scheduled"]


def test_bulk_handles_more_ids_than_one_statement_takes(store) -> None:
    """Over a thousand ids are chunked transparently."""
    ids = _seed(store, n=1203)
    with store.session_factory() as session:
        assert len(cas.set_ti_states(session, ids, expected=[None], new="scheduled")) == 1203
        assert cas.set_ti_states(session, ids, expected=[None], new="scheduled") == []
        session.commit()


def test_run_state_compare_and_set(store) -> None:
    """set_run_state is guarded the same way; end_date goes with the final state."""
    with store.session_factory() as session:
        run_pk = add_run(session).id
        session.commit()
    end = T0 + dt.timedelta(days=1)
    with store.session_factory() as session:
        assert not cas.set_run_state(session, run_pk, expected=["running"], new="success")
        assert cas.set_run_state(session, run_pk, expected=[DagRunState.QUEUED], new=DagRunState.RUNNING)
        assert cas.set_run_state(session, run_pk, expected=["running"], new="success", end_date=end)
        session.commit()
    with store.session_factory() as session:
        run = session.get(DagRun, run_pk)
        assert (run.state, run.end_date) == ("success", end)


def test_expected_must_be_a_collection(store) -> None:
    """A bare string would silently mean its characters; it is refused."""
    with store.session_factory() as session, pytest.raises(ValueError):
        cas.set_ti_state(session, 1, expected="queued", new="running")  # type: ignore[arg-type]


def test_not_committing_is_the_callers_choice(store) -> None:
    """CAS functions never commit: a rollback undoes them."""
    (ti_id,) = _seed(store)
    with store.session_factory() as session:
        assert cas.set_ti_state(session, ti_id, expected=[None], new="scheduled")
        session.rollback()
    assert _state(store, ti_id) is None


def test_two_sessions_racing_exactly_one_wins(store) -> None:
    """B's UPDATE waits for A's transaction, then sees A's state and loses."""
    (ti_id,) = _seed(store, state="queued")
    a = store.session_factory()
    assert cas.set_ti_state(a, ti_id, expected=["queued"], new="running", hostname="a")
    outcome: list[bool] = []

    def contender() -> None:
        with store.session_factory() as b:
            outcome.append(cas.set_ti_state(b, ti_id, expected=["queued"], new="running", hostname="b"))
            b.commit()

    thread = threading.Thread(target=contender)
    thread.start()
    thread.join(0.3)
    assert thread.is_alive(), "B should block on A's row/write lock"
    a.commit()
    a.close()
    thread.join(30)
    assert outcome == [False]
    with store.session_factory() as session:
        assert session.get(TaskInstance, ti_id).hostname == "a"


def test_many_claimers_one_winner(store) -> None:
    """Eight workers claim the same queued try (SQS delivers twice): exactly one runs it."""
    (ti_id,) = _seed(store, state="queued")
    barrier = threading.Barrier(8)

    def claim(worker: int) -> bool:
        with store.session_factory() as session:
            barrier.wait()
            won = cas.set_ti_state(session, ti_id, expected=["queued"], new="running", hostname=f"w{worker}")
            session.commit()
            return won

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(claim, range(8)))
    assert results.count(True) == 1


def test_claim_wins_only_the_queued_tries_it_names_at_their_try_number(store) -> None:
    """A batch claim: the current try of a queued task instance wins (once, even if named twice); a stale
    try number, a task instance not queued and an unknown id lose; the winners run on this host."""
    from runtime.store import transitions

    queued_a, queued_b, running = _seed(store, n=3, state="queued")
    with store.session_factory() as session:
        session.execute(sa.update(TaskInstance).values(try_number=1))
        session.execute(sa.update(TaskInstance).where(TaskInstance.id == running).values(state="running"))
        session.commit()
    with store.session_factory() as session:
        won = transitions.claim(session, [(queued_a, 1), (queued_a, 1), (queued_b, 0), (running, 1), (999_999, 1)],
                                job_id=None, hostname="box", pid=42, now=T0)
        session.commit()
    assert won == {(queued_a, 1)}
    with store.session_factory() as session:
        rows = {ti.id: ti for ti in session.scalars(sa.select(TaskInstance))}
    assert (rows[queued_a].state, rows[queued_a].hostname, rows[queued_a].pid) == ("running", "box", 42)
    assert rows[queued_a].start_date.replace(tzinfo=None) == T0.replace(tzinfo=None)
    assert (rows[queued_b].state, rows[queued_b].hostname) == ("queued", None)
    with store.session_factory() as session:  # claimed already: a second claim loses
        assert transitions.claim(session, [(queued_a, 1)], job_id=None, hostname="other", pid=1, now=T0) == set()


def test_every_transition_is_documented() -> None:
    """docs/lifecycle.md lists every named transition (a new one without a row there fails here)."""
    from pathlib import Path

    from runtime.store import transitions

    doc = (Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md").read_text()
    names = [t.name for t in (*transitions.TI_TRANSITIONS, *transitions.RUN_TRANSITIONS)]
    assert [n for n in names if f"`{n}`" not in doc] == []


def test_a_transition_refuses_a_use_outside_its_states() -> None:
    """A named transition names its from- and to-states; anything else is a programming error."""
    import pytest

    from runtime.store import transitions
    from runtime.store.states import TI

    with pytest.raises(ValueError, match="cannot start from"):
        transitions.QUEUE.check([TI.RUNNING], None)
    with pytest.raises(ValueError, match="cannot lead to"):
        transitions.FINISH.check(None, TI.QUEUED)
    with pytest.raises(ValueError, match="pass to="):
        transitions.FINISH.check(None, None)
    assert transitions.SCHEDULE.check(None, None) == ([None], TI.SCHEDULED)
