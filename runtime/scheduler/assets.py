"""Run creation from asset events: a DAG scheduled on assets gets a run once its condition is met.

Per asset-scheduled DAG a cursor remembers the last event looked at. The events after it that
the DAG's condition names make their assets (and aliases) ready; when the pure rule
``runtime.rules.assets.condition_met`` says the condition holds, one run is created with those
events as its triggering events and the cursor moves past them (Airflow's queue is emptied).
A DAG seen for the first time starts after the newest event: history does not trigger it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.rules.assets import condition_met, event_keys
from runtime.scheduler.dags import CachedDag, DagCache
from runtime.sdk import timezone
from runtime.sdk.assets import asset_condition_of, condition_keys
from runtime.sdk.timetables import DataInterval
from runtime.store import assets, runs
from runtime.store.models import DagModel
from runtime.store.states import DagRunType

# read at every look for due runs: built once
_ASSET_DAGS = sa.select(DagModel.dag_id).where(
    DagModel.is_paused.is_(False), DagModel.is_active.is_(True), DagModel.timetable_description.like("Asset%")
).order_by(DagModel.dag_id)


def asset_dag_ids(session: Session) -> list[str]:
    """Unpaused active DAGs whose schedule involves assets (their timetable summary says so)."""
    return list(session.scalars(_ASSET_DAGS))


def create_asset_triggered_runs(session: Session, cache: DagCache, now: datetime) -> int:
    """Create the runs whose asset conditions new events satisfy; the number created."""
    created = 0
    ids = asset_dag_ids(session)
    newest = assets.last_event_id(session) if ids else 0
    for dag_id in ids:
        dag = cache.get(session, dag_id)
        condition = asset_condition_of(dag.get("timetable") or {}) if dag is not None else None
        if dag is None or condition is None:
            continue
        cursor = assets.get_cursor(session, dag_id)
        if cursor is None:
            assets.set_cursor(session, dag_id, newest)
            continue
        if cursor < newest and _try_create(session, dag, condition, cursor, now):
            created += 1
    return created


def _try_create(session: Session, dag: CachedDag, condition: dict[str, Any], cursor: int, now: datetime) -> bool:
    """Create one run if the events after ``cursor`` satisfy ``condition``."""
    wanted = condition_keys(condition)
    uris = [k.split(":", 1)[1] for k in wanted if k.startswith("asset:")]
    aliases = [k.split(":", 1)[1] for k in wanted if k.startswith("alias:")]
    events = assets.events_after(session, cursor, uris=uris, aliases=aliases)
    ready = {k for e in events for k in event_keys(e.uri, e.source_alias_name)}
    if not events or not condition_met(condition, ready):
        return False
    interval = DataInterval(timezone.to_utc(min(e.timestamp for e in events)), timezone.to_utc(max(e.timestamp for e in events)))
    try:
        run = runs.create_dag_run(session, dag_id=dag.dag_id, run_type=DagRunType.ASSET_TRIGGERED, logical_date=now,
                                  data_interval=interval, now=now, dag_hash=dag.dag_hash)
    except runs.DagRunAlreadyExists:
        return False
    assets.link_run_events(session, dag.dag_id, run.run_id, [e.id for e in events])
    assets.set_cursor(session, dag.dag_id, max(e.id for e in events))
    return True


__all__ = ["create_asset_triggered_runs", "asset_dag_ids"]
