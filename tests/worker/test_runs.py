"""runtime.store.runs on SQLite and PostgreSQL: run ids, creation, duplicates, lookups."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

from runtime.errors import WindsockError
from runtime.sdk import exceptions as sdk_exceptions
from runtime.sdk.timetables import DataInterval
from runtime.store import runs
from runtime.store.models import DagRun, TaskInstance, XCom
from runtime.store.session import transaction

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2024, 6, 1, 8, 0, tzinfo=dt.UTC)


def _create(session: Any, logical: dt.datetime = T0, **kwargs: Any) -> DagRun:
    kwargs.setdefault("run_type", "scheduled")
    return runs.create_dag_run(
        session,
        dag_id="d",
        logical_date=logical,
        data_interval=(logical, logical + dt.timedelta(days=1)),
        now=NOW,
        **kwargs,
    )


def test_generate_run_id_matches_airflow() -> None:
    assert runs.generate_run_id("manual", T0) == "manual__2024-01-01T00:00:00+00:00"
    assert runs.generate_run_id("scheduled", pendulum.datetime(2024, 1, 1, 2, tz="Europe/Paris")) == (
        "scheduled__2024-01-01T01:00:00+00:00"
    )
    assert runs.generate_run_id(runs.DagRunType.BACKFILL, T0).startswith("backfill__2024-01-01T00:00:00")
    with pytest.raises(ValueError):
        runs.generate_run_id("bogus", T0)


def test_create_dag_run_inserts_only_the_queued_run(store: Any) -> None:
    with transaction(store.session_factory) as session:
        run = _create(session, conf={"a": 1}, dag_hash="h")
    with store.session_factory() as session:
        stored = session.scalars(sa.select(DagRun)).one()
        assert session.scalars(sa.select(TaskInstance)).all() == []
    assert stored.id == run.id and stored.run_id == "scheduled__2024-01-01T00:00:00+00:00"
    assert (stored.state, stored.run_type, stored.queued_at, stored.conf) == (
        "queued",
        "scheduled",
        NOW,
        {"a": 1},
    )
    assert (stored.data_interval_start, stored.data_interval_end) == (T0, T0 + dt.timedelta(days=1))
    assert stored.external_trigger is False and stored.dag_hash == "h"


def test_duplicates_raise_and_the_transaction_survives(store: Any) -> None:
    with transaction(store.session_factory) as session:
        _create(session)
        with pytest.raises(runs.DagRunAlreadyExists) as same_id:
            _create(session, T0 + dt.timedelta(days=5), run_id="scheduled__2024-01-01T00:00:00+00:00")
        with pytest.raises(runs.DagRunAlreadyExists):
            _create(session, run_id="other", run_type="manual")  # same logical date
        runs.create_dag_run(
            session,
            dag_id="d",
            run_type="manual",
            logical_date=T0 + dt.timedelta(days=1),
            data_interval=DataInterval.exact(T0),
            now=NOW,
        )
    assert isinstance(same_id.value, sdk_exceptions.DagRunAlreadyExists) and isinstance(
        same_id.value, WindsockError
    )
    with store.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count(DagRun.id))) == 2


def test_concurrent_creation_loser_keeps_its_transaction(store: Any) -> None:
    """Two writers pass the existence check together: the unique key decides, in a savepoint."""
    first = store.session_factory()
    first.begin()
    _create(first)  # flushed, not committed: invisible to the other writer's check
    outcome: dict[str, Any] = {}

    def other_writer() -> None:
        try:
            with transaction(store.session_factory) as session:
                try:
                    _create(session, run_id="other_id")
                except runs.DagRunAlreadyExists as exc:
                    outcome["lost"] = exc
                _create(session, T0 + dt.timedelta(days=3))  # the same transaction goes on
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=other_writer)
    thread.start()
    time.sleep(0.5)  # the other writer is now blocked on the unique key (or the SQLite write lock)
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert "error" not in outcome, outcome.get("error")
    assert isinstance(outcome.get("lost"), runs.DagRunAlreadyExists)
    with store.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count(DagRun.id))) == 2


def test_find_latest_and_delete(store: Any) -> None:
    with transaction(store.session_factory) as session:
        first = _create(session)
        _create(session, T0 + dt.timedelta(days=1), run_type="manual")
        session.add(TaskInstance(dag_id="d", run_id=first.run_id, task_id="t"))
        session.add(XCom(dag_id="d", run_id=first.run_id, task_id="t", key="k", value="1", timestamp=NOW))
    with transaction(store.session_factory) as session:
        assert runs.find_run(session, "d", first.run_id).id == first.id  # type: ignore[union-attr]
        assert runs.find_run(session, "d", "nope") is None
        assert runs.find_run_at(session, "d", T0).run_id == first.run_id  # type: ignore[union-attr]
        assert runs.latest_run(session, "d").run_type == "manual"  # type: ignore[union-attr]
        assert runs.latest_run(session, "d", run_types=["scheduled"]).id == first.id  # type: ignore[union-attr]
        assert runs.latest_run(session, "d", states=["success"]) is None
        assert runs.latest_run(session, "other") is None
        assert runs.delete_run(session, "d", first.run_id) is True
        assert runs.delete_run(session, "d", first.run_id) is False
        again = _create(session)  # same run id and logical date, in the same transaction
    with store.session_factory() as session:
        assert (
            session.scalars(sa.select(TaskInstance)).all() == []
            and session.scalars(sa.select(XCom)).all() == []
        )
        assert session.get(DagRun, again.id) is not None
