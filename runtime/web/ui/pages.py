"""UI pages of DAGs: the list, a DAG's grid/graph/runs/code/details, trigger and pause."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from runtime.errors import UserError
from runtime.sdk.serialization import SerializedDag
from runtime.store import actions, import_errors
from runtime.store.models import DagFile, DagModel, DagRun
from runtime.web import queries
from runtime.web.auth.roles import Permission
from runtime.web.context import DB, audit, can, ctx
from runtime.web.ui.forms import conf_from_form, param_fields
from runtime.web.ui.render import render

router = APIRouter()
PAGE_SIZE = 100


@router.get("/", response_class=HTMLResponse, dependencies=[can(Permission.READ)])
def dag_list(request: Request, session: Session = DB, q: str = "", tag: str = "", paused: str = "",
             state: str = "", offset: int = 0) -> HTMLResponse:
    """Every DAG: pause toggle, schedule, owner, tags, next run, recent run states, running/failed counts."""
    listing = queries.dag_list(session, search=q[:250], tag=tag[:250], paused=paused, state=state[:20],
                               offset=max(0, offset), limit=PAGE_SIZE)
    return render(request, "dags.html", listing=listing, q=q, tag=tag, paused=paused, state=state,
                  offset=max(0, offset), page_size=PAGE_SIZE)


@router.get("/import-errors", response_class=HTMLResponse, dependencies=[can(Permission.READ)])
def import_error_list(request: Request, session: Session = DB) -> HTMLResponse:
    """Files that failed to load: file, line and message."""
    return render(request, "import_errors.html", errors=import_errors.list_import_errors(session))


def _dag_common(session: Session, dag_id: str) -> tuple[DagModel, SerializedDag]:
    return actions.dag_row(session, dag_id), actions.serialized(session, dag_id)


@router.get("/dags/{dag_id}", response_class=HTMLResponse, dependencies=[can(Permission.READ)])
def dag_grid(dag_id: str, request: Request, session: Session = DB, partial: int = 0) -> HTMLResponse:
    """The grid: runs x tasks, coloured by state; groups fold; mapped tasks show their count."""
    dag, sdag = _dag_common(session, dag_id)
    grid = queries.grid(session, sdag)
    name = "grid_table.html" if partial else "dag_grid.html"
    return render(request, name, dag=dag, sdag=sdag, grid=grid, tab="grid")


@router.get("/dags/{dag_id}/graph", response_class=HTMLResponse, dependencies=[can(Permission.READ)])
def dag_graph(dag_id: str, request: Request, session: Session = DB, run_id: str = "") -> HTMLResponse:
    """The graph, laid out in the browser by dagre, coloured by the chosen run's states."""
    dag, sdag = _dag_common(session, dag_id)
    runs = list(session.scalars(sa.select(DagRun).where(DagRun.dag_id == dag_id)
                                .order_by(DagRun.logical_date.desc()).limit(50)))
    chosen = run_id or (runs[0].run_id if runs else "")
    states = queries.run_states(session, dag_id, chosen) if chosen else {}
    data = queries.graph(sdag, states)
    return render(request, "dag_graph.html", dag=dag, sdag=sdag, runs=runs, chosen=chosen, tab="graph",
                  graph_json=json.dumps(data))


@router.get("/dags/{dag_id}/runs", response_class=HTMLResponse, dependencies=[can(Permission.READ)])
def dag_runs(dag_id: str, request: Request, session: Session = DB, offset: int = 0) -> HTMLResponse:
    """The run list with run actions."""
    dag, sdag = _dag_common(session, dag_id)
    runs = list(session.scalars(sa.select(DagRun).where(DagRun.dag_id == dag_id)
                                .order_by(DagRun.logical_date.desc()).offset(max(0, offset)).limit(PAGE_SIZE)))
    return render(request, "dag_runs.html", dag=dag, sdag=sdag, runs=runs, tab="runs", offset=max(0, offset),
                  page_size=PAGE_SIZE)


@router.get("/dags/{dag_id}/code", response_class=HTMLResponse, dependencies=[can(Permission.READ)])
def dag_code(dag_id: str, request: Request, session: Session = DB) -> HTMLResponse:
    """The DAG file's source as the DAG processor stored it when it parsed the file."""
    dag, sdag = _dag_common(session, dag_id)
    row = session.get(DagFile, dag.fileloc) if dag.fileloc else None
    source = row.source_code if row is not None else None
    return render(request, "dag_code.html", dag=dag, sdag=sdag, source=source, tab="code")


@router.get("/dags/{dag_id}/details", response_class=HTMLResponse, dependencies=[can(Permission.READ)])
def dag_details(dag_id: str, request: Request, session: Session = DB) -> HTMLResponse:
    """Params with their schema, schedule, catchup, max_active_* and the rest of the DAG's settings."""
    dag, sdag = _dag_common(session, dag_id)
    return render(request, "dag_details.html", dag=dag, sdag=sdag, tab="details")


@router.get("/dags/{dag_id}/trigger", response_class=HTMLResponse, dependencies=[can(Permission.EDIT_DAGS)])
def trigger_form(dag_id: str, request: Request, session: Session = DB) -> HTMLResponse:
    """A form generated from the DAG's params schema, with a JSON editor fallback."""
    dag, sdag = _dag_common(session, dag_id)
    return _trigger_page(request, dag, sdag, {}, "")


def _trigger_page(request: Request, dag: DagModel, sdag: SerializedDag, form: dict[str, Any], error: str,
                  status: int = 200) -> HTMLResponse:
    fields = param_fields(sdag.data.get("params") or {})
    return render(request, "trigger.html", status=status, dag=dag, sdag=sdag, fields=fields, form=form, error=error,
                  tab="trigger")


@router.post("/dags/{dag_id}/trigger", dependencies=[can(Permission.EDIT_DAGS)])
async def trigger(dag_id: str, request: Request) -> Response:
    """Create a manual run from the form; the form again with the error if it is refused."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    context = ctx(request)
    with context.session_factory() as session, session.begin():
        dag, sdag = _dag_common(session, dag_id)
        try:
            conf = conf_from_form(sdag.data.get("params") or {}, form)
            run = actions.trigger_dag(session, dag_id, now=context.clock(), conf=conf,
                                      run_id=form.get("run_id") or None,
                                      run_id_pattern=str(context.setting("scheduler", "allowed_run_id_pattern")))
        except UserError as exc:
            return _trigger_page(request, dag, sdag, form, str(exc), status=400)
        audit(request, session, "ui_trigger", dag_id=dag_id, run_id=run.run_id, extra={"conf": conf})
    return RedirectResponse(f"/dags/{dag_id}", status_code=303)


@router.post("/dags/{dag_id}/pause", dependencies=[can(Permission.EDIT_DAGS)])
async def pause(dag_id: str, request: Request, session: Session = DB) -> Response:
    """Pause (``is_paused=true``) or unpause a DAG, then go back."""
    form = await request.form()
    paused = str(form.get("is_paused", "")).lower() in ("1", "true", "on", "yes")
    actions.set_paused(session, dag_id, paused)
    audit(request, session, "ui_pause" if paused else "ui_unpause", dag_id=dag_id)
    back = str(form.get("next") or "/")
    return RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/", status_code=303)
