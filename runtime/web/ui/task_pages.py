"""UI pages of runs and task tries: a run's task instances, a try (with its live log), and their actions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from runtime.paths import UnsafePathError
from runtime.store import actions, xcom
from runtime.store.models import TaskInstance, TaskInstanceHistory
from runtime.store.states import TI, UNFINISHED, DagRunState
from runtime.web.auth.roles import Permission
from runtime.web.context import DB, audit, can, ctx
from runtime.web.logs import read_task_log
from runtime.web.ui.render import render

router = APIRouter()
RUN = "/dags/{dag_id}/runs/{run_id}"
TASK = RUN + "/tasks/{task_id}"


def _tis(session: Session, dag_id: str, run_id: str, task_id: str | None = None) -> list[TaskInstance]:
    stmt = sa.select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
    if task_id is not None:
        stmt = stmt.where(TaskInstance.task_id == task_id)
    return list(session.scalars(stmt.order_by(TaskInstance.task_id, TaskInstance.map_index)))


@router.get(RUN, response_class=HTMLResponse, dependencies=[can(Permission.READ)])
def run_page(dag_id: str, run_id: str, request: Request, session: Session = DB) -> HTMLResponse:
    """A run: its state, conf and task instances."""
    dag, run = actions.dag_row(session, dag_id), actions.run_row(session, dag_id, run_id)
    return render(request, "run.html", dag=dag, run=run, tis=_tis(session, dag_id, run_id))


@router.get(TASK, response_class=HTMLResponse, dependencies=[can(Permission.READ)])
def task_page(dag_id: str, run_id: str, task_id: str, request: Request, session: Session = DB,
              map_index: int = -1, try_number: int = 0) -> HTMLResponse:
    """A task try: state, times, duration, operator, rendered templates, XComs and the (live) log."""
    dag, run = actions.dag_row(session, dag_id), actions.run_row(session, dag_id, run_id)
    sdag = actions.serialized(session, dag_id)
    tis = _tis(session, dag_id, run_id, task_id)
    ti = next((t for t in tis if t.map_index == map_index), None)
    if ti is None and not tis:
        raise actions.NotFound(f"run {run_id!r} of {dag_id!r} has no task instance {task_id!r}")
    mapped = [t for t in tis if t.map_index >= 0]
    chosen = try_number or (max(ti.try_number, 1) if ti else 1)
    history = _history(session, ti) if ti else []
    xcoms = xcom.get_many(session, dag_id=dag_id, run_id=run_id, task_ids=[task_id], key=None,
                          map_index=map_index) if ti else []
    return render(request, "task.html", dag=dag, run=run, ti=ti, task=sdag.tasks.get(task_id, {}), task_id=task_id,
                  mapped=mapped if ti is None else [], map_index=map_index, try_number=chosen, history=history,
                  xcoms=[(x.key, xcom.decode(x.value)) for x in xcoms],
                  poll=float(ctx(request).setting("webserver", "log_fetch_interval")))


def _history(session: Session, ti: TaskInstance) -> list[TaskInstanceHistory]:
    stmt = sa.select(TaskInstanceHistory).where(
        TaskInstanceHistory.dag_id == ti.dag_id, TaskInstanceHistory.run_id == ti.run_id,
        TaskInstanceHistory.task_id == ti.task_id, TaskInstanceHistory.map_index == ti.map_index)
    return list(session.scalars(stmt.order_by(TaskInstanceHistory.try_number)))


@router.get(TASK + "/log", dependencies=[can(Permission.READ)])
def task_log(dag_id: str, run_id: str, task_id: str, request: Request, session: Session = DB,
             map_index: int = -1, try_number: int = 1, offset: int = 0) -> JSONResponse:
    """The try's log from byte ``offset``; ``running`` tells the page to poll again."""
    ti = next((t for t in _tis(session, dag_id, run_id, task_id) if t.map_index == map_index), None)
    if ti is None:
        raise actions.NotFound(f"run {run_id!r} of {dag_id!r} has no task instance {task_id!r}")
    try:
        chunk = read_task_log(ctx(request).settings, dag_id, run_id, task_id, map_index, max(1, try_number),
                              max(0, offset))
    except UnsafePathError as exc:
        raise HTTPException(400, str(exc)) from None
    live = ti.state in UNFINISHED and try_number >= ti.try_number
    return JSONResponse({"text": chunk.text, "next_offset": chunk.next_offset, "found": chunk.found,
                         "live": live, "state": ti.state})


def _flag(form: Any, name: str) -> bool:
    return str(form.get(name, "")).lower() in ("1", "true", "on", "yes")


@router.post(TASK + "/clear", dependencies=[can(Permission.EDIT_DAGS)])
async def clear(dag_id: str, run_id: str, task_id: str, request: Request,
                session: Session = DB) -> Response:
    """Clear a task (upstream/downstream/failed-only); without ``confirm`` show the dry-run list first."""
    form = await request.form()
    opts: dict[str, Any] = dict(upstream=_flag(form, "upstream"), downstream=_flag(form, "downstream"),
                                only_failed=_flag(form, "only_failed"))
    actions.run_row(session, dag_id, run_id)
    plan = actions.plan_clear(session, dag_id, [run_id], [task_id], **opts)
    if not _flag(form, "confirm"):
        return render(request, "clear_confirm.html", dag_id=dag_id, run_id=run_id, task_id=task_id, plan=plan,
                      opts=opts)
    count = actions.clear_tasks(session, dag_id, [run_id], sorted({p.task_id for p in plan}),
                                only_failed=opts["only_failed"])
    audit(request, session, "ui_clear", dag_id=dag_id, run_id=run_id, task_id=task_id,
          extra={**opts, "cleared": count})
    return RedirectResponse(f"/dags/{dag_id}", status_code=303)


@router.post(TASK + "/mark", dependencies=[can(Permission.EDIT_DAGS)])
async def mark_task(dag_id: str, run_id: str, task_id: str, request: Request,
                    session: Session = DB) -> Response:
    """Mark one task instance success or failed."""
    form = await request.form()
    state, map_index = str(form.get("state", "")), _int(form.get("map_index"), -1)
    if state not in (TI.SUCCESS, TI.FAILED):
        raise HTTPException(400, "state must be success or failed")
    actions.mark_task_instance(session, dag_id, run_id, task_id, map_index, state, now=ctx(request).clock())
    audit(request, session, f"ui_mark_{state}", dag_id=dag_id, run_id=run_id, task_id=task_id,
          extra={"map_index": map_index})
    return RedirectResponse(f"/dags/{dag_id}/runs/{run_id}/tasks/{task_id}?map_index={map_index}", status_code=303)


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


@router.post(RUN + "/mark", dependencies=[can(Permission.EDIT_DAGS)])
async def mark_run(dag_id: str, run_id: str, request: Request, session: Session = DB) -> Response:
    """Mark a run success or failed (its unfinished tasks follow, as in Airflow)."""
    state = str((await request.form()).get("state", ""))
    if state not in (DagRunState.SUCCESS, DagRunState.FAILED, DagRunState.QUEUED):
        raise HTTPException(400, "state must be success, failed or queued")
    actions.set_run_state(session, dag_id, run_id, state, now=ctx(request).clock())
    audit(request, session, f"ui_mark_run_{state}", dag_id=dag_id, run_id=run_id)
    return RedirectResponse(f"/dags/{dag_id}/runs", status_code=303)


@router.post(RUN + "/delete", dependencies=[can(Permission.EDIT_DAGS)])
def delete_run(dag_id: str, run_id: str, request: Request, session: Session = DB) -> Response:
    """Delete a run with its task instances, XComs and history."""
    actions.delete_run(session, dag_id, run_id)
    audit(request, session, "ui_delete_run", dag_id=dag_id, run_id=run_id)
    return RedirectResponse(f"/dags/{dag_id}/runs", status_code=303)
