"""Task instances, their logs and XComs, and clearTaskInstances under ``/api/v2/dags/{dag_id}``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from runtime.paths import UnsafePathError
from runtime.store import actions
from runtime.store.models import DagRun, TaskInstance, XCom
from runtime.store.states import TI
from runtime.web.api import schemas as s
from runtime.web.api.common import (
    LimitParam,
    Offset,
    OrderBy,
    aware,
    dag_or_404,
    limit_of,
    order,
    page,
    run_or_404,
    ti_response,
    xcom_response,
)
from runtime.web.auth.roles import Permission
from runtime.web.context import DB, audit, can, ctx
from runtime.web.logs import read_task_log

router = APIRouter(prefix="/api/v2/dags/{dag_id}", tags=["Task Instance"])
RUN = "/dagRuns/{dag_run_id}/taskInstances"
TI_ORDER = {"id": TaskInstance.id, "task_id": TaskInstance.task_id, "map_index": TaskInstance.map_index,
            "state": TaskInstance.state, "start_date": TaskInstance.start_date, "end_date": TaskInstance.end_date,
            "duration": TaskInstance.duration, "try_number": TaskInstance.try_number, "pool": TaskInstance.pool}
TryNumber = Annotated[int, Path(ge=0, le=2**31 - 1)]
MapIndex = Annotated[int, Query(ge=-1, le=2**31 - 1)]


def _ti_or_404(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int) -> TaskInstance:
    ti = session.scalars(sa.select(TaskInstance).where(
        TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id,
        TaskInstance.map_index == map_index)).first()
    if ti is None:
        raise HTTPException(404, f"The Task Instance with dag_id: `{dag_id}`, run_id: `{run_id}`, task_id: "
                                 f"`{task_id}` and map_index: `{map_index}` was not found")
    return ti


@router.get(RUN, response_model=s.TaskInstanceCollectionResponse, dependencies=[can(Permission.READ)])
def get_task_instances(
    dag_id: str, dag_run_id: str, request: Request, session: Session = DB, limit: LimitParam = None,
    offset: Offset = 0, task_id: str | None = None, state: Annotated[list[str] | None, Query()] = None,
    pool: Annotated[list[str] | None, Query()] = None, map_index: Annotated[list[int] | None, Query()] = None,
    start_date_gte: dt.datetime | None = None, start_date_lte: dt.datetime | None = None, order_by: OrderBy = None,
) -> s.TaskInstanceCollectionResponse:
    """Task instances of a run (``~`` for every DAG or run), filtered by task, state, pool and map index."""
    stmt: Any = sa.select(TaskInstance, DagRun).join(
        DagRun, sa.and_(DagRun.dag_id == TaskInstance.dag_id, DagRun.run_id == TaskInstance.run_id))
    if dag_id != "~":
        dag_or_404(session, dag_id)
        stmt = stmt.where(TaskInstance.dag_id == dag_id)
    if dag_run_id != "~":
        if dag_id != "~":
            run_or_404(session, dag_id, dag_run_id)
        stmt = stmt.where(TaskInstance.run_id == dag_run_id)
    stmt = _filters(stmt, task_id, state, pool, map_index, start_date_gte, start_date_lte)
    stmt = order(stmt, order_by, TI_ORDER, "map_index")
    lim = limit_of(request, limit)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.execute(stmt.order_by(TaskInstance.task_id).offset(offset).limit(lim)).all()
    return s.TaskInstanceCollectionResponse(task_instances=[ti_response(ti, run) for ti, run in rows],
                                            total_entries=int(total))


def _filters(stmt: Any, task_id: str | None, state: list[str] | None,
             pool: list[str] | None, map_index: list[int] | None, low: dt.datetime | None,
             high: dt.datetime | None) -> Any:
    if task_id:
        stmt = stmt.where(TaskInstance.task_id == task_id)
    if state:
        named = [x for x in state if x not in ("none", "no_status")]
        stmt = stmt.where(sa.or_(TaskInstance.state.in_(named), TaskInstance.state.is_(None))
                          if len(named) < len(state) else TaskInstance.state.in_(named))
    if pool:
        stmt = stmt.where(TaskInstance.pool.in_(pool))
    if map_index:
        stmt = stmt.where(TaskInstance.map_index.in_(map_index))
    if low is not None:
        stmt = stmt.where(TaskInstance.start_date >= aware(low))
    if high is not None:
        stmt = stmt.where(TaskInstance.start_date <= aware(high))
    return stmt


@router.get(RUN + "/{task_id}", response_model=s.TaskInstanceResponse, dependencies=[can(Permission.READ)])
def get_task_instance(dag_id: str, dag_run_id: str, task_id: str, session: Session = DB) -> s.TaskInstanceResponse:
    """One (unmapped) task instance."""
    return ti_response(_ti_or_404(session, dag_id, dag_run_id, task_id, -1), run_or_404(session, dag_id, dag_run_id))


@router.get(RUN + "/{task_id}/logs/{try_number}", response_model=s.TaskInstancesLogResponse,
            dependencies=[can(Permission.READ)], responses={200: {"content": {"text/plain": {}}}})
def get_log(
    dag_id: str, dag_run_id: str, task_id: str, try_number: TryNumber, request: Request,
    session: Session = DB, full_content: bool = False, map_index: MapIndex = -1,
    token: str | None = None,
) -> object:
    """The log of one try: JSON lines, or plain text when the client accepts only ``text/plain``."""
    ti = _ti_or_404(session, dag_id, dag_run_id, task_id, map_index)
    if try_number == 0 or try_number > max(ti.try_number, 1):
        raise HTTPException(404, f"TaskInstance {task_id} has no try {try_number} (latest try: {ti.try_number})")
    try:
        chunk = read_task_log(ctx(request).settings, dag_id, dag_run_id, task_id, map_index, try_number)
    except UnsafePathError as exc:
        raise HTTPException(400, str(exc)) from None
    text = chunk.text if chunk.found else f"*** No log for try {try_number} yet (looked at {chunk.where})\n"
    if request.headers.get("accept", "").startswith("text/plain"):
        return PlainTextResponse(text)
    lines = [s.StructuredLogMessage(event=line) for line in text.splitlines()]
    return s.TaskInstancesLogResponse(content=lines, continuation_token=None)


@router.get(RUN + "/{task_id}/xcomEntries", response_model=s.XComCollectionResponse, tags=["XCom"],
            dependencies=[can(Permission.READ)])
def get_xcom_entries(
    dag_id: str, dag_run_id: str, task_id: str, request: Request, session: Session = DB,
    xcom_key: str | None = None, map_index: Annotated[int | None, Query(ge=-1, le=2**31 - 1)] = None,
    limit: LimitParam = None, offset: Offset = 0,
) -> s.XComCollectionResponse:
    """XCom entries of a task instance (``~`` for any DAG, run or task)."""
    stmt = sa.select(XCom)
    for column, value in ((XCom.dag_id, dag_id), (XCom.run_id, dag_run_id), (XCom.task_id, task_id)):
        if value != "~":
            stmt = stmt.where(column == value)
    if xcom_key is not None:
        stmt = stmt.where(XCom.key == xcom_key)
    if map_index is not None:
        stmt = stmt.where(XCom.map_index == map_index)
    stmt = stmt.order_by(XCom.dag_id, XCom.run_id, XCom.task_id, XCom.map_index, XCom.key)
    rows, total = page(session, stmt, offset, limit_of(request, limit))
    runs = _runs_of(session, rows)
    return s.XComCollectionResponse(
        xcom_entries=[xcom_response(r, runs[(r.dag_id, r.run_id)], value=False) for r in rows], total_entries=total)


def _runs_of(session: Session, rows: list[XCom]) -> dict[tuple[str, str], DagRun]:
    keys = {(r.dag_id, r.run_id) for r in rows}
    found: dict[tuple[str, str], DagRun] = {}
    for dag_id, run_id in keys:
        found[(dag_id, run_id)] = run_or_404(session, dag_id, run_id)
    return found


@router.get(RUN + "/{task_id}/xcomEntries/{xcom_key}", response_model=s.XComResponseNative, tags=["XCom"],
            dependencies=[can(Permission.READ)])
def get_xcom_entry(
    dag_id: str, dag_run_id: str, task_id: str, xcom_key: str, session: Session = DB,
    map_index: MapIndex = -1,
) -> s.XComResponse:
    """One XCom value (decoded JSON)."""
    run = run_or_404(session, dag_id, dag_run_id)
    row = session.scalars(sa.select(XCom).where(
        XCom.dag_id == dag_id, XCom.run_id == dag_run_id, XCom.task_id == task_id, XCom.key == xcom_key,
        XCom.map_index == map_index)).first()
    if row is None:
        raise HTTPException(404, f"XCom entry with key: `{xcom_key}` not found")
    return xcom_response(row, run, value=True)


@router.post("/clearTaskInstances", response_model=s.TaskInstanceCollectionResponse)
def post_clear_task_instances(
    dag_id: str, body: s.ClearTaskInstancesBody, request: Request, session: Session = DB,
    _: object = can(Permission.EDIT_DAGS),
) -> s.TaskInstanceCollectionResponse:
    """Clear task instances (or, with ``dry_run``, list what would be cleared)."""
    dag_or_404(session, dag_id)
    sdag = actions.serialized(session, dag_id)
    run_ids = _runs_to_clear(session, dag_id, body)
    task_ids = body.task_ids if body.task_ids is not None else list(sdag.tasks)
    unknown = sorted(set(task_ids) - set(sdag.tasks))
    if unknown:
        raise HTTPException(400, f"Task ids not in DAG {dag_id!r}: {unknown[:20]}")
    opts: dict[str, Any] = dict(downstream=body.include_downstream, upstream=body.include_upstream, only_failed=body.only_failed,
                sdag=sdag)
    plan = actions.plan_clear(session, dag_id, run_ids, task_ids, **opts)
    if body.only_running:
        plan = [p for p in plan if p.state == TI.RUNNING]
    keys = {(p.run_id, p.task_id, p.map_index) for p in plan}
    if not body.dry_run and plan:
        chosen = sorted({p.task_id for p in plan})
        actions.clear_tasks(session, dag_id, sorted({p.run_id for p in plan}), chosen, only_failed=body.only_failed,
                            sdag=sdag)
        audit(request, session, "api_clear", dag_id=dag_id, extra={"cleared": len(plan), "runs": len(run_ids)})
    rows = session.execute(sa.select(TaskInstance, DagRun).join(
        DagRun, sa.and_(DagRun.dag_id == TaskInstance.dag_id, DagRun.run_id == TaskInstance.run_id)
    ).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id.in_(run_ids or [""]))).all()
    tis = [ti_response(ti, run) for ti, run in rows if (ti.run_id, ti.task_id, ti.map_index) in keys]
    return s.TaskInstanceCollectionResponse(task_instances=tis, total_entries=len(tis))


def _runs_to_clear(session: Session, dag_id: str, body: s.ClearTaskInstancesBody) -> list[str]:
    stmt = sa.select(DagRun.run_id).where(DagRun.dag_id == dag_id)
    if body.dag_run_id is not None:
        run_or_404(session, dag_id, body.dag_run_id)
        stmt = stmt.where(DagRun.run_id == body.dag_run_id)
    if body.start_date is not None:
        stmt = stmt.where(DagRun.logical_date >= aware(body.start_date))
    if body.end_date is not None:
        stmt = stmt.where(DagRun.logical_date <= aware(body.end_date))
    return list(session.scalars(stmt))


# Registered last: ``/{task_id}/{map_index}`` would otherwise shadow ``/{task_id}/xcomEntries``.
@router.get(RUN + "/{task_id}/{map_index}", response_model=s.TaskInstanceResponse, dependencies=[can(Permission.READ)])
def get_mapped_task_instance(
    dag_id: str, dag_run_id: str, task_id: str, map_index: Annotated[int, Path(ge=-1, le=2**31 - 1)],
    session: Session = DB,
) -> s.TaskInstanceResponse:
    """One mapped task instance."""
    ti = _ti_or_404(session, dag_id, dag_run_id, task_id, map_index)
    return ti_response(ti, run_or_404(session, dag_id, dag_run_id))
