"""RuntimeServices against the metadata database: what a task running in a worker child uses.

Every call is one short transaction of its own: the caller is user code inside a task child
process, with nothing of its own to commit. The engine is created lazily on first use (so a
forked child opens its own connections; ``runtime.store.engine`` also disposes inherited
pools after a fork).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from runtime import secrets
from runtime.sdk import timezone
from runtime.sdk.connection import Connection
from runtime.sdk.exceptions import AirflowNotFoundException
from runtime.sdk.serialization import SerializedDag
from runtime.settings import Settings
from runtime.store import runs, xcom
from runtime.store.models import DagModel, DagRun, SerializedDagModel, TaskInstance
from runtime.store.session import open_store, transaction
from runtime.store.states import DagRunType

T = TypeVar("T")


class DagNotFound(AirflowNotFoundException):
    """The DAG to trigger has no serialized version in the store, or is no longer active."""


class DbServices:
    """``RuntimeServices`` backed by the store (XCom, variables, connections, cross-DAG runs)."""

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session] | None = None,
        *,
        clock: Callable[[], dt.datetime] = timezone.utcnow,
    ) -> None:
        self.settings = settings
        self._factory = session_factory
        self.clock = clock

    @property
    def session_factory(self) -> sessionmaker[Session]:
        """The given session factory, or the settings' store opened on first use (after any fork)."""
        if self._factory is None:
            self._factory = open_store(self.settings)[1]
        return self._factory

    # --- XCom -------------------------------------------------------------------------------

    def _tx(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one transaction; again (up to 3 times) if the database dropped the connection."""
        for attempt in range(3):
            try:
                with transaction(self.session_factory) as session:
                    return fn(session)
            except sa.exc.DBAPIError as exc:
                if not exc.connection_invalidated or attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def xcom_set(self, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, value: Any) -> None:
        """Store an XCom as JSON, replacing the value under the same key."""
        self._tx(lambda session: xcom.set_xcom(session, dag_id=dag_id, run_id=run_id, task_id=task_id,
                                                map_index=map_index, key=key, value=value, timestamp=self.clock()))

    def xcom_get(
        self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None
    ) -> list[tuple[int, Any]]:
        """(map_index, value) pairs of a task's XCom ``key``; every map index when ``map_index`` is None."""

        def read(session: Session) -> list[tuple[int, Any]]:
            rows = xcom.get_many(session, dag_id=dag_id, run_id=run_id, task_ids=[task_id], key=key,
                                 map_index=map_index)
            return [(row.map_index, xcom.decode(row.value)) for row in rows]

        return self._tx(read)

    # --- variables and connections ----------------------------------------------------------

    def get_variable(self, key: str) -> str:
        """A variable from the environment first, then the metastore; VariableNotFound (a KeyError) if absent."""
        return str(secrets.get_variable(key, settings=self.settings, session_factory=self.session_factory))

    def get_connection(self, conn_id: str) -> Connection:
        """A connection from the environment first, then the metastore; ConnectionNotFound if absent."""
        return secrets.get_connection(conn_id, settings=self.settings, session_factory=self.session_factory)

    # --- cross-DAG ----------------------------------------------------------------------------

    def trigger_dag(
        self,
        dag_id: str,
        run_id: str | None,
        conf: dict[str, Any] | None,
        logical_date: dt.datetime | None,
        replace: bool,
    ) -> str:
        """Queue a manual run of ``dag_id`` (data interval from its timetable); its run_id."""
        now = timezone.to_utc(self.clock())
        logical = timezone.to_utc(logical_date) if logical_date is not None else now
        with transaction(self.session_factory) as session:
            stored = _active_serialized(session, dag_id)
            interval = SerializedDag(json.loads(stored.data)).timetable.infer_manual_data_interval(logical)
            run_id = run_id or runs.generate_run_id(DagRunType.MANUAL, logical)
            if replace:
                _delete_runs(session, dag_id, run_id, logical)
            run = runs.create_dag_run(
                session,
                dag_id=dag_id,
                run_type=DagRunType.MANUAL,
                logical_date=logical,
                data_interval=interval,
                conf=conf,
                run_id=run_id,
                external_trigger=True,
                now=now,
                dag_hash=stored.dag_hash,
                run_id_pattern=str(self.settings.get("scheduler", "allowed_run_id_pattern")),
            )
            return run.run_id

    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        """The state of a run, None when it does not exist."""

        def read(session: Session) -> str | None:
            run = runs.find_run(session, dag_id, run_id)
            return None if run is None else str(run.state)

        return self._tx(read)

    def task_states(
        self, dag_id: str, task_ids: Sequence[str] | None, logical_date: dt.datetime
    ) -> list[str | None]:
        """States of ``task_ids`` (every map index) in the run at ``logical_date``; the run's state if None."""

        def read(session: Session) -> list[str | None]:
            run = runs.find_run_at(session, dag_id, logical_date)
            if task_ids is None:
                return [None if run is None else str(run.state)]
            states = _ti_states(session, run, task_ids) if run is not None else []
            return states or [None] * len(task_ids)

        return self._tx(read)

    def count_dag_runs(self, dag_id: str, logical_date: dt.datetime, states: Sequence[str]) -> int:
        """How many runs of ``dag_id`` at ``logical_date`` are in ``states``."""
        stmt = sa.select(sa.func.count(DagRun.id)).where(
            DagRun.dag_id == dag_id,
            DagRun.logical_date == timezone.to_utc(logical_date),
            DagRun.state.in_([str(s) for s in states]),
        )
        return self._tx(lambda session: int(session.execute(stmt).scalar_one()))

    def group_task_ids(self, dag_id: str, group_id: str) -> list[str]:
        """Task ids inside task group ``group_id`` of ``dag_id`` (nested groups included), for sensors."""
        data = self._tx(lambda session: session.scalar(
            sa.select(SerializedDagModel.data).where(SerializedDagModel.dag_id == dag_id)))
        if data is None:
            raise DagNotFound(f"The external DAG {dag_id} does not exist.")
        tasks = json.loads(data)["tasks"]
        inside = [t["task_id"] for t in tasks if _in_group(t.get("task_group"), group_id)]
        if not inside:
            raise DagNotFound(f"The external task group '{group_id}' in DAG '{dag_id}' does not exist.")
        return inside

    # --- assets -------------------------------------------------------------------------------

    def asset_events(self, uri: str | None, alias: str | None) -> list[dict[str, Any]]:
        """``inlet_events``: the stored events of an asset (or alias), oldest first."""
        from runtime.store import assets

        with transaction(self.session_factory) as session:
            return assets.events_for(session, uri=uri, alias=alias)

    def triggering_asset_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """``triggering_asset_events``: the events that created this run."""
        from runtime.store import assets

        with transaction(self.session_factory) as session:
            return assets.triggering_events(session, dag_id, run_id)




def _in_group(group: str | None, group_id: str) -> bool:
    return group is not None and (group == group_id or group.startswith(group_id + "."))


def _active_serialized(session: Session, dag_id: str) -> SerializedDagModel:
    """The stored serialization of a DAG that may be triggered."""
    stored = session.get(SerializedDagModel, dag_id)
    if stored is None:
        raise DagNotFound(f"Dag id {dag_id} not found in the DAG folder (no serialized DAG in the store)")
    active = session.scalar(sa.select(DagModel.is_active).where(DagModel.dag_id == dag_id))
    if active is False:
        raise DagNotFound(f"Dag id {dag_id} is not active: its file is gone or fails to import")
    return stored


def _delete_runs(session: Session, dag_id: str, run_id: str, logical: dt.datetime) -> None:
    """``reset_dag_run``: remove the run with this id or logical date so it can be created afresh."""
    for run in (runs.find_run(session, dag_id, run_id), runs.find_run_at(session, dag_id, logical)):
        if run is not None:
            runs.delete_run(session, dag_id, run.run_id)


def _ti_states(session: Session, run: DagRun, task_ids: Sequence[str]) -> list[str | None]:
    stmt = sa.select(TaskInstance.state).where(
        TaskInstance.dag_id == run.dag_id,
        TaskInstance.run_id == run.run_id,
        TaskInstance.task_id.in_(task_ids),
    )
    return [None if s is None else str(s) for s in session.scalars(stmt.order_by(TaskInstance.task_id))]

