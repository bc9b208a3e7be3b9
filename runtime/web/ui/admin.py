"""Admin pages: variables, connections (no password ever sent), pools, the audit log and health."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from runtime.errors import UserError
from runtime.sdk.connection import Connection
from runtime.store import audit as audit_log
from runtime.store import connections as conns
from runtime.store import pools, variables
from runtime.store.crypto import get_fernet
from runtime.web.api.resources import pool_response, pool_usage
from runtime.web.auth.roles import Permission
from runtime.web.context import DB, audit, can, ctx
from runtime.web.health import DAEMONS, daemon_health, database_ok
from runtime.web.ui.render import render

router = APIRouter(prefix="/admin")


def _back(to: str) -> Response:
    return RedirectResponse(to, status_code=303)


@router.get("/variables", response_class=HTMLResponse, dependencies=[can(Permission.CONFIG)])
def variable_list(request: Request, session: Session = DB) -> HTMLResponse:
    """Variables with their values."""
    fernet = get_fernet(ctx(request).settings)
    rows = [(v.key, variables.variable_value(v, fernet), v.description) for v in variables.list_variables(session)]
    return render(request, "variables.html", rows=rows)


@router.post("/variables", dependencies=[can(Permission.CONFIG)])
async def variable_set(request: Request, session: Session = DB) -> Response:
    """Create or replace a variable."""
    form = await request.form()
    key, value = str(form.get("key", "")).strip(), str(form.get("value", ""))
    if not key or len(key) > 250:
        raise HTTPException(400, "key must be 1-250 characters")
    variables.set_variable(session, key, value, description=str(form.get("description") or "") or None,
                           fernet=get_fernet(ctx(request).settings))
    audit(request, session, "ui_variable_set", extra={"key": key})
    return _back("/admin/variables")


@router.post("/variables/{key}/delete", dependencies=[can(Permission.CONFIG)])
def variable_delete(key: str, request: Request, session: Session = DB) -> Response:
    """Delete a variable."""
    variables.delete_variable(session, key)
    audit(request, session, "ui_variable_delete", extra={"key": key})
    return _back("/admin/variables")


@router.get("/connections", response_class=HTMLResponse, dependencies=[can(Permission.CONFIG)])
def connection_list(request: Request, session: Session = DB) -> HTMLResponse:
    """Connections without their passwords (only whether one is set)."""
    rows = [(c, bool(c.password)) for c in conns.list_connections(session, fernet=get_fernet(ctx(request).settings))]
    return render(request, "connections.html", rows=[(c.conn_id, c.conn_type, c.host, c.port, c.login, c.schema,
                                                      has_pw) for c, has_pw in rows])


@router.post("/connections", dependencies=[can(Permission.CONFIG)])
async def connection_set(request: Request, session: Session = DB) -> Response:
    """Create or replace a connection (the password goes in, never out)."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    conn_id, conn_type = form.get("conn_id", "").strip(), form.get("conn_type", "").strip()
    if not conn_id or not conn_type or len(conn_id) > 250:
        raise HTTPException(400, "conn_id (1-250 characters) and conn_type are required")
    try:
        port = int(form["port"]) if form.get("port") else None
    except ValueError:
        raise HTTPException(400, f"port {form['port']!r} is not a number") from None
    conn = Connection(conn_id=conn_id, conn_type=conn_type, host=form.get("host") or None,
                      login=form.get("login") or None, password=form.get("password") or None,
                      schema=form.get("schema") or None, port=port, extra=form.get("extra") or None)
    conns.set_connection(session, conn, fernet=get_fernet(ctx(request).settings))
    audit(request, session, "ui_connection_set", extra={"conn_id": conn_id})
    return _back("/admin/connections")


@router.post("/connections/{conn_id}/delete", dependencies=[can(Permission.CONFIG)])
def connection_delete(conn_id: str, request: Request, session: Session = DB) -> Response:
    """Delete a connection."""
    conns.delete_connection(session, conn_id)
    audit(request, session, "ui_connection_delete", extra={"conn_id": conn_id})
    return _back("/admin/connections")


@router.get("/pools", response_class=HTMLResponse, dependencies=[can(Permission.CONFIG)])
def pool_list(request: Request, session: Session = DB) -> HTMLResponse:
    """Pools: slots, running, queued and open."""
    usage = pool_usage(session)
    return render(request, "pools.html", rows=[pool_response(p, usage) for p in pools.list_pools(session)])


@router.post("/pools", dependencies=[can(Permission.CONFIG)])
async def pool_set(request: Request, session: Session = DB) -> Response:
    """Create a pool or change its slots."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        pools.set_pool(session, form.get("name", "").strip(), int(form.get("slots", "")),
                       form.get("description") or None)
    except ValueError:
        raise HTTPException(400, f"slots {form.get('slots')!r} is not a whole number") from None
    except UserError as exc:
        raise HTTPException(400, str(exc)) from None
    audit(request, session, "ui_pool_set", extra={"pool": form.get("name"), "slots": form.get("slots")})
    return _back("/admin/pools")


@router.post("/pools/{name}/delete", dependencies=[can(Permission.CONFIG)])
def pool_delete(name: str, request: Request, session: Session = DB) -> Response:
    """Delete a pool (never default_pool)."""
    try:
        pools.delete_pool(session, name)
    except UserError as exc:
        raise HTTPException(400, str(exc)) from None
    audit(request, session, "ui_pool_delete", extra={"pool": name})
    return _back("/admin/pools")


@router.get("/audit", response_class=HTMLResponse, dependencies=[can(Permission.READ)])
def audit_page(request: Request, session: Session = DB, dag_id: str = "") -> HTMLResponse:
    """The newest audit rows: who did what, when."""
    rows = audit_log.list_events(session, dag_id=dag_id or None, limit=500)
    return render(request, "audit.html", rows=rows, dag_id=dag_id)


@router.get("/health", response_class=HTMLResponse, dependencies=[can(Permission.READ)])
def health_page(request: Request, session: Session = DB) -> HTMLResponse:
    """Metadata database, scheduler and DAG processor heartbeats, and the workers alive."""
    context = ctx(request)
    now: dt.datetime = context.clock()
    threshold = float(context.setting("webserver", "health_check_threshold"))
    daemons = [daemon_health(session, kind, now, threshold) for kind in DAEMONS]
    return render(request, "health.html", db_ok=database_ok(session), daemons=daemons, now=now,
                  threshold=threshold, executor=context.setting("core", "executor"))
