"""Shared pieces of the API routes: pagination, ordering, lookups and row -> response conversion."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, cast

import sqlalchemy as sa
from fastapi import HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from sqlalchemy.orm import Session

from runtime import serde
from runtime.store.models import DagModel, DagRun, SerializedDagModel, TaskInstance, XCom
from runtime.web.api import schemas as s
from runtime.web.context import ctx

Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
LimitParam = Annotated[int | None, Query(ge=0, le=2**31 - 1)]
OrderBy = Annotated[list[str] | None, Query()]
TI_NAMESPACE = uuid.UUID("1c1f27de-9e8b-4c53-a8d3-3a0e8b2f9a10")


def limit_of(request: Request, limit: int | None) -> int:
    """The page size: ``limit`` capped at ``[webserver] maximum_page_limit``, default ``fallback_page_limit``."""
    context = ctx(request)
    if limit is None or limit == 0:
        return int(context.setting("webserver", "fallback_page_limit"))
    return min(limit, int(context.setting("webserver", "maximum_page_limit")))


def page(session: Session, stmt: Any, offset: int, limit: int) -> tuple[list[Any], int]:
    """The rows of one page and the total number of rows."""
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return list(session.scalars(stmt.offset(offset).limit(limit))), int(total)


def order(stmt: Any, order_by: Sequence[str] | None, allowed: dict[str, Any], default: str) -> Any:
    """``stmt`` ordered by ``order_by`` (``-name`` descending); 400 for a name not in ``allowed``."""
    for name in list(order_by or []) or [default]:
        column = allowed.get(name.lstrip("-"))
        if column is None:
            raise HTTPException(400, f"Ordering with '{name.lstrip('-')}' is disallowed or the attribute does not "
                                     f"exist on the model (allowed: {', '.join(sorted(allowed))})")
        stmt = stmt.order_by(column.desc() if name.startswith("-") else column.asc())
    return stmt


def dag_or_404(session: Session, dag_id: str) -> DagModel:
    """The dag row, or 404 in Airflow's words."""
    row = session.get(DagModel, dag_id)
    if row is None:
        raise HTTPException(404, f"The Dag with ID: `{dag_id}` was not found")
    return row


def run_or_404(session: Session, dag_id: str, run_id: str) -> DagRun:
    """The run, or 404."""
    run = session.scalars(sa.select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).first()
    if run is None:
        raise HTTPException(404, f"The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was not found")
    return run


def serialized_data(session: Session, dag_id: str) -> dict[str, Any]:
    """The serialized DAG's JSON (empty when never parsed)."""
    row = session.get(SerializedDagModel, dag_id)
    return json.loads(row.data) if row is not None else {}


def dag_response(row: DagModel) -> s.DAGResponse:
    """A dag row as Airflow shows it."""
    tags = [s.DagTagResponse(name=str(t), dag_id=row.dag_id, dag_display_name=row.dag_id) for t in row.tags or []]
    owners = [o.strip() for o in (row.owners or "").split(",") if o.strip()]
    periodic = bool(row.timetable_description) and row.timetable_description not in ("None", "@once")
    return s.DAGResponse(
        dag_id=row.dag_id, dag_display_name=row.dag_id, is_paused=row.is_paused, is_stale=not row.is_active,
        last_parsed_time=row.last_parsed_time, fileloc=row.fileloc or "", description=row.description,
        timetable_summary=row.timetable_description, timetable_description=row.timetable_description,
        timetable_periodic=periodic, timetable_partitioned=False, tags=tags,
        max_active_tasks=row.max_active_tasks or 16, max_active_runs=row.max_active_runs,
        max_consecutive_failed_dag_runs=0, has_task_concurrency_limits=False,
        has_import_errors=row.has_import_errors, is_backfillable=periodic,
        next_dagrun_logical_date=row.next_dagrun, next_dagrun_data_interval_start=row.next_dagrun_data_interval_start,
        next_dagrun_data_interval_end=row.next_dagrun_data_interval_end,
        next_dagrun_run_after=row.next_dagrun_create_after, owners=owners,
        file_token=hashlib.sha256((row.fileloc or "").encode()).hexdigest(),
    )


def run_response(run: DagRun) -> s.DAGRunResponse:
    """A run as Airflow shows it."""
    duration = (run.end_date - run.start_date).total_seconds() if run.end_date and run.start_date else None
    by = "rest_api" if run.external_trigger else ("backfill" if run.run_type == "backfill" else "timetable")
    return s.DAGRunResponse(
        dag_run_id=run.run_id, dag_id=run.dag_id, logical_date=run.logical_date, queued_at=run.queued_at,
        start_date=run.start_date, end_date=run.end_date, duration=duration,
        data_interval_start=run.data_interval_start, data_interval_end=run.data_interval_end,
        run_after=run.queued_at or run.logical_date, last_scheduling_decision=run.last_scheduling_decision,
        run_type=cast(Any, run.run_type), state=cast(Any, run.state), triggered_by=by, conf=run.conf or {}, dag_versions=[],
        dag_display_name=run.dag_id,
    )


def ti_uuid(dag_id: str, run_id: str, task_id: str, map_index: int) -> uuid.UUID:
    """A stable UUID for a task instance (Airflow 3 gives each one a UUID)."""
    return uuid.uuid5(TI_NAMESPACE, f"{dag_id}\x00{run_id}\x00{task_id}\x00{map_index}")


def ti_response(ti: TaskInstance, run: DagRun) -> s.TaskInstanceResponse:
    """A task instance as Airflow shows it."""
    return s.TaskInstanceResponse(
        id=ti_uuid(ti.dag_id, ti.run_id, ti.task_id, ti.map_index), task_id=ti.task_id, dag_id=ti.dag_id,
        dag_run_id=ti.run_id, map_index=ti.map_index, logical_date=run.logical_date,
        run_after=run.queued_at or run.logical_date, start_date=ti.start_date, end_date=ti.end_date,
        duration=ti.duration, state=cast(Any, ti.state), try_number=ti.try_number, max_tries=ti.max_tries,
        task_display_name=ti.task_id, dag_display_name=ti.dag_id, hostname=ti.hostname, pool=ti.pool,
        pool_slots=ti.pool_slots, queue=ti.queue, priority_weight=ti.priority_weight, operator=ti.operator,
        operator_name=ti.operator, queued_when=ti.queued_dttm, pid=ti.pid, executor_config="{}",
        rendered_map_index=str(ti.map_index) if ti.map_index >= 0 else None, rendered_fields=ti.rendered_fields or {},
    )


def xcom_response(row: XCom, run: DagRun, *, value: bool) -> s.XComResponse:
    """An XCom row, with its decoded value when asked."""
    fields: dict[str, Any] = dict(
        key=row.key, timestamp=row.timestamp, logical_date=run.logical_date, map_index=row.map_index,
        task_id=row.task_id, dag_id=row.dag_id, run_id=row.run_id, dag_display_name=row.dag_id,
        task_display_name=row.task_id, run_after=run.queued_at or run.logical_date,
    )
    if not value:
        return s.XComResponse(**fields)
    try:
        decoded = jsonable_encoder(serde.loads(row.value)) if row.value is not None else None
    except ValueError:
        decoded = row.value
    return s.XComResponseNative(**fields, value=decoded)


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """A naive datetime from a query string is taken as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value
