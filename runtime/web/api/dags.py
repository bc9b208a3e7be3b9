"""``/api/v2/dags`` and ``/api/v2/dags/{dag_id}/dagRuns``: list, get, pause, trigger, patch, delete."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy.orm import Session

from runtime.errors import UserError
from runtime.store import actions
from runtime.store.models import DagModel, DagRun
from runtime.web.api import schemas as s
from runtime.web.api.common import (
    LimitParam,
    Offset,
    OrderBy,
    aware,
    dag_or_404,
    dag_response,
    limit_of,
    order,
    page,
    run_or_404,
    run_response,
)
from runtime.web.auth.roles import Permission
from runtime.web.context import DB, audit, can, ctx
from runtime.web.queries import last_run_state_ids

router = APIRouter(prefix="/api/v2", tags=["DAG"])
DAG_ORDER = {"dag_id": DagModel.dag_id, "dag_display_name": DagModel.dag_id, "next_dagrun": DagModel.next_dagrun,
             "last_parsed_time": DagModel.last_parsed_time, "is_paused": DagModel.is_paused}
RUN_ORDER = {"id": DagRun.id, "run_id": DagRun.run_id, "dag_run_id": DagRun.run_id, "state": DagRun.state,
             "logical_date": DagRun.logical_date, "run_after": DagRun.queued_at, "start_date": DagRun.start_date,
             "end_date": DagRun.end_date, "queued_at": DagRun.queued_at, "run_type": DagRun.run_type}
RunState = Annotated[list[s.RunState] | None, Query()]


@router.get("/dags", response_model=s.DAGCollectionResponse, dependencies=[can(Permission.READ)])
def get_dags(
    request: Request, session: Session = DB, limit: LimitParam = None, offset: Offset = 0,
    tags: Annotated[list[str] | None, Query()] = None, tags_match_mode: Annotated[str | None, Query()] = None,
    owners: Annotated[list[str] | None, Query()] = None, dag_id_pattern: str | None = None,
    exclude_stale: bool = True, paused: bool | None = None, last_dag_run_state: s.RunState | None = None,
    order_by: OrderBy = None,
) -> s.DAGCollectionResponse:
    """DAGs, filtered by tags, owners, id pattern, paused, staleness and the last run's state."""
    stmt = sa.select(DagModel)
    if exclude_stale:
        stmt = stmt.where(DagModel.is_active.is_(True))
    if paused is not None:
        stmt = stmt.where(DagModel.is_paused.is_(paused))
    if dag_id_pattern:
        stmt = stmt.where(DagModel.dag_id.ilike(f"%{_like(dag_id_pattern)}%", escape="\\"))
    if owners:
        stmt = stmt.where(sa.or_(*(DagModel.owners.ilike(f"%{_like(o)}%", escape="\\") for o in owners)))
    rows = _filter_tags(session, stmt, tags, tags_match_mode)
    if last_dag_run_state:
        rows = rows.where(DagModel.dag_id.in_(last_run_state_ids(last_dag_run_state)))
    found, total = page(session, order(rows, order_by, DAG_ORDER, "dag_id"), offset, limit_of(request, limit))
    return s.DAGCollectionResponse(dags=[dag_response(r) for r in found], total_entries=total)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filter_tags(session: Session, stmt: Any, tags: list[str] | None, mode: str | None) -> Any:
    """Tags are a JSON list: filter in Python over the (few) tagged DAG ids."""
    if not tags:
        return stmt
    wanted = set(tags)
    match_all = (mode or "any") == "all"
    ids = [dag_id for dag_id, have in session.execute(sa.select(DagModel.dag_id, DagModel.tags))
           if (wanted <= set(have or []) if match_all else wanted & set(have or []))]
    return stmt.where(DagModel.dag_id.in_(ids))


@router.get("/dags/{dag_id}", response_model=s.DAGResponse, dependencies=[can(Permission.READ)])
def get_dag(dag_id: str, session: Session = DB) -> s.DAGResponse:
    """One DAG."""
    return dag_response(dag_or_404(session, dag_id))


@router.patch("/dags/{dag_id}", response_model=s.DAGResponse)
def patch_dag(
    dag_id: str, body: s.DAGPatchBody, request: Request, session: Session = DB,
    update_mask: Annotated[list[str] | None, Query()] = None, _: object = can(Permission.EDIT_DAGS),
) -> s.DAGResponse:
    """Pause or unpause a DAG."""
    if update_mask and set(update_mask) - {"is_paused"}:
        raise HTTPException(400, "Only `is_paused` field can be updated through the REST API")
    row = dag_or_404(session, dag_id)
    actions.set_paused(session, dag_id, body.is_paused)
    audit(request, session, "api_pause" if body.is_paused else "api_unpause", dag_id=dag_id)
    return dag_response(row)


@router.get("/dags/{dag_id}/dagRuns", response_model=s.DAGRunCollectionResponse, tags=["DagRun"],
            dependencies=[can(Permission.READ)])
def get_dag_runs(
    dag_id: str, request: Request, session: Session = DB, limit: LimitParam = None, offset: Offset = 0,
    state: RunState = None, run_type: Annotated[list[str] | None, Query()] = None,
    logical_date_gte: dt.datetime | None = None, logical_date_lte: dt.datetime | None = None,
    start_date_gte: dt.datetime | None = None, start_date_lte: dt.datetime | None = None,
    end_date_gte: dt.datetime | None = None, end_date_lte: dt.datetime | None = None, order_by: OrderBy = None,
) -> s.DAGRunCollectionResponse:
    """Runs of a DAG (``~`` for every DAG), filtered by state, type and dates."""
    stmt = sa.select(DagRun)
    if dag_id != "~":
        dag_or_404(session, dag_id)
        stmt = stmt.where(DagRun.dag_id == dag_id)
    if state:
        stmt = stmt.where(DagRun.state.in_(state))
    if run_type:
        stmt = stmt.where(DagRun.run_type.in_(run_type))
    for column, low, high in ((DagRun.logical_date, logical_date_gte, logical_date_lte),
                              (DagRun.start_date, start_date_gte, start_date_lte),
                              (DagRun.end_date, end_date_gte, end_date_lte)):
        if low is not None:
            stmt = stmt.where(column >= aware(low))
        if high is not None:
            stmt = stmt.where(column <= aware(high))
    found, total = page(session, order(stmt, order_by, RUN_ORDER, "id"), offset, limit_of(request, limit))
    return s.DAGRunCollectionResponse(dag_runs=[run_response(r) for r in found], total_entries=total)


@router.get("/dags/{dag_id}/dagRuns/{dag_run_id}", response_model=s.DAGRunResponse, tags=["DagRun"],
            dependencies=[can(Permission.READ)])
def get_dag_run(dag_id: str, dag_run_id: str, session: Session = DB) -> s.DAGRunResponse:
    """One run."""
    return run_response(run_or_404(session, dag_id, dag_run_id))


@router.post("/dags/{dag_id}/dagRuns", response_model=s.DAGRunResponse, tags=["DagRun"])
def trigger_dag_run(
    dag_id: str, body: s.TriggerDAGRunPostBody, request: Request, session: Session = DB,
    _: object = can(Permission.EDIT_DAGS),
) -> s.DAGRunResponse:
    """Create a manual run (queued); 409 if the run id or logical date is taken."""
    dag_or_404(session, dag_id)
    context = ctx(request)
    now = context.clock()
    try:
        run = actions.trigger_dag(
            session, dag_id, now=now, conf=body.conf, logical_date=aware(body.logical_date) or now,
            run_id=body.dag_run_id, run_id_pattern=str(context.setting("scheduler", "allowed_run_id_pattern")),
        )
    except actions.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except UserError as exc:
        raise HTTPException(409 if "already exists" in str(exc) else 400, str(exc)) from None
    audit(request, session, "api_trigger", dag_id=dag_id, run_id=run.run_id, extra={"conf": body.conf or {}})
    return run_response(run)


@router.patch("/dags/{dag_id}/dagRuns/{dag_run_id}", response_model=s.DAGRunResponse, tags=["DagRun"])
def patch_dag_run(
    dag_id: str, dag_run_id: str, body: s.DAGRunPatchBody, request: Request, session: Session = DB,
    update_mask: Annotated[list[str] | None, Query()] = None, _: object = can(Permission.EDIT_DAGS),
) -> s.DAGRunResponse:
    """Mark a run queued, success or failed (its task instances follow as in Airflow)."""
    if update_mask and set(update_mask) - {"state", "note"}:
        raise HTTPException(400, f"Invalid field in update mask: {sorted(set(update_mask) - {'state', 'note'})}")
    run = run_or_404(session, dag_id, dag_run_id)
    if body.state is not None:
        actions.set_run_state(session, dag_id, dag_run_id, body.state, now=ctx(request).clock())
        audit(request, session, f"api_mark_run_{body.state}", dag_id=dag_id, run_id=dag_run_id)
    return run_response(run)


@router.delete("/dags/{dag_id}/dagRuns/{dag_run_id}", status_code=204, tags=["DagRun"])
def delete_dag_run(
    dag_id: str, dag_run_id: str, request: Request, session: Session = DB,
    _: object = can(Permission.EDIT_DAGS),
) -> Response:
    """Delete a run with its task instances, XComs and history."""
    run_or_404(session, dag_id, dag_run_id)
    actions.delete_run(session, dag_id, dag_run_id)
    audit(request, session, "api_delete_run", dag_id=dag_id, run_id=dag_run_id)
    return Response(status_code=204)
