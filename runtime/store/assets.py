"""Asset events in the store: recording them, reading them for tasks and the CLI (session first, never commit)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store.models import AssetDagCursor, AssetEvent, DagRunAssetEvent, SerializedDagModel


def record_asset_events(session: Session, *, dag_id: str, run_id: str, task_id: str, map_index: int,
                        events: Iterable[dict[str, Any]], now: dt.datetime) -> list[int]:
    """Store the asset events of one successful try (``uri``, ``name``, ``extra``, ``alias``); their ids."""
    ids = []
    for event in events:
        row = AssetEvent(uri=str(event["uri"]), name=str(event.get("name") or event["uri"]),
                         extra=dict(event.get("extra") or {}), source_alias_name=event.get("alias"),
                         source_dag_id=dag_id, source_task_id=task_id, source_run_id=run_id,
                         source_map_index=map_index, timestamp=now)
        session.add(row)
        session.flush()
        ids.append(row.id)
    return ids


def as_dict(row: AssetEvent) -> dict[str, Any]:
    """An event as tasks and the CLI see it."""
    return {"id": row.id, "uri": row.uri, "name": row.name, "extra": row.extra or {},
            "source_alias_name": row.source_alias_name, "source_dag_id": row.source_dag_id,
            "source_task_id": row.source_task_id, "source_run_id": row.source_run_id,
            "source_map_index": row.source_map_index, "timestamp": row.timestamp}


def events_for(session: Session, *, uri: str | None = None, alias: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Events of an asset (or recorded through an alias), oldest first; the last ``limit`` if given."""
    stmt = sa.select(AssetEvent)
    if uri is not None:
        stmt = stmt.where(AssetEvent.uri == uri)
    if alias is not None:
        stmt = stmt.where(AssetEvent.source_alias_name == alias)
    if limit is not None:
        rows = list(session.scalars(stmt.order_by(AssetEvent.id.desc()).limit(limit)))
        return [as_dict(r) for r in reversed(rows)]
    return [as_dict(r) for r in session.scalars(stmt.order_by(AssetEvent.id))]


def events_after(session: Session, after_id: int, *, uris: Iterable[str] = (), aliases: Iterable[str] = ()) -> list[AssetEvent]:
    """Events newer than ``after_id`` of these assets or aliases, oldest first."""
    stmt = sa.select(AssetEvent).where(AssetEvent.id > after_id, sa.or_(
        AssetEvent.uri.in_(sorted(uris)), AssetEvent.source_alias_name.in_(sorted(aliases))))
    return list(session.scalars(stmt.order_by(AssetEvent.id)))


def last_event_id(session: Session) -> int:
    """The id of the newest event (0 when there is none)."""
    return int(session.scalar(sa.select(sa.func.max(AssetEvent.id))) or 0)


def get_cursor(session: Session, dag_id: str) -> int | None:
    """The last event id ``dag_id``'s run creation has looked at (None: never)."""
    return session.scalar(sa.select(AssetDagCursor.last_event_id).where(AssetDagCursor.dag_id == dag_id))


def set_cursor(session: Session, dag_id: str, event_id: int) -> None:
    """Move ``dag_id``'s cursor to ``event_id``."""
    row = session.get(AssetDagCursor, dag_id)
    if row is None:
        session.add(AssetDagCursor(dag_id=dag_id, last_event_id=event_id))
    else:
        row.last_event_id = event_id
    session.flush()


def link_run_events(session: Session, dag_id: str, run_id: str, event_ids: Iterable[int]) -> None:
    """Remember which events triggered a run."""
    rows = [{"dag_id": dag_id, "run_id": run_id, "event_id": i} for i in event_ids]
    if rows:
        session.execute(sa.insert(DagRunAssetEvent), rows)


def triggering_events(session: Session, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The events that triggered a run, oldest first (empty for other runs)."""
    stmt = (sa.select(AssetEvent).join(DagRunAssetEvent, DagRunAssetEvent.event_id == AssetEvent.id)
            .where(DagRunAssetEvent.dag_id == dag_id, DagRunAssetEvent.run_id == run_id).order_by(AssetEvent.id))
    return [as_dict(r) for r in session.scalars(stmt)]


@dataclass
class AssetInfo:
    """One asset as ``assets list`` shows it: who produces it, who waits for it, its events."""

    uri: str
    name: str
    producers: set[str] = field(default_factory=set)
    consumers: set[str] = field(default_factory=set)
    events: int = 0
    last_event: dt.datetime | None = None


def list_assets(session: Session) -> list[AssetInfo]:
    """Every asset named by a serialized DAG (outlet, inlet or schedule) or by a recorded event."""
    found: dict[str, AssetInfo] = {}
    for data in session.scalars(sa.select(SerializedDagModel.data)):
        _collect(json.loads(data), found)
    stmt = sa.select(AssetEvent.uri, sa.func.min(AssetEvent.name), sa.func.count(AssetEvent.id),
                     sa.func.max(AssetEvent.timestamp)).group_by(AssetEvent.uri)
    for uri, name, count, last in session.execute(stmt):
        info = found.setdefault(uri, AssetInfo(uri, name))
        info.events, info.last_event = int(count), last
    return sorted(found.values(), key=lambda a: a.uri)


def _collect(dag: dict[str, Any], found: dict[str, AssetInfo]) -> None:
    for task in dag.get("tasks", []):
        for ref in task.get("outlets") or []:
            if "asset" in ref:
                found.setdefault(ref["asset"], AssetInfo(ref["asset"], ref.get("name") or ref["asset"])).producers.add(
                    f"{dag['dag_id']}.{task['task_id']}")
    condition = (dag.get("timetable") or {}).get("condition")
    for ref in _condition_assets(condition or {}):
        found.setdefault(ref["asset"], AssetInfo(ref["asset"], ref.get("name") or ref["asset"])).consumers.add(dag["dag_id"])


def _condition_assets(condition: dict[str, Any]) -> list[dict[str, Any]]:
    if "asset" in condition:
        return [condition]
    return [a for part in condition.get("all", condition.get("any", [])) for a in _condition_assets(part)]


__all__ = [
    "record_asset_events", "events_for", "events_after", "last_event_id", "get_cursor", "set_cursor",
    "link_run_events", "triggering_events", "list_assets", "AssetInfo", "as_dict",
]
