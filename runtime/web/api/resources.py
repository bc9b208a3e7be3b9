"""Variables, connections, pools, import errors, health and version under ``/api/v2``."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Request, Response
from sqlalchemy.orm import Session

import runtime
from runtime.errors import UserError
from runtime.sdk.connection import Connection
from runtime.store import connections as conns
from runtime.store import pools, variables
from runtime.store.crypto import get_fernet
from runtime.store.models import ConnectionModel, ParseImportError, Pool, TaskInstance, Variable
from runtime.store.states import TI
from runtime.web.api import schemas as s
from runtime.web.api.common import LimitParam, Offset, OrderBy, limit_of, order, page
from runtime.web.auth.roles import Permission
from runtime.web.context import DB, audit, can, ctx
from runtime.web.health import daemon_health, database_ok

router = APIRouter(prefix="/api/v2")
Key = Annotated[str, Path(min_length=1, max_length=250)]


@router.get("/variables", response_model=s.VariableCollectionResponse, tags=["Variable"],
            dependencies=[can(Permission.CONFIG)])
def get_variables(request: Request, session: Session = DB, limit: LimitParam = None, offset: Offset = 0,
                  order_by: OrderBy = None, variable_key_pattern: str | None = None) -> s.VariableCollectionResponse:
    """Variables (values decrypted)."""
    stmt = sa.select(Variable)
    if variable_key_pattern:
        stmt = stmt.where(Variable.key.contains(variable_key_pattern, autoescape=True))
    stmt = order(stmt, order_by, {"key": Variable.key, "id": Variable.key}, "key")
    rows, total = page(session, stmt, offset, limit_of(request, limit))
    fernet = get_fernet(ctx(request).settings)
    return s.VariableCollectionResponse(variables=[_variable(r, fernet) for r in rows], total_entries=total)


def _variable(row: Variable, fernet: Any) -> s.VariableResponse:
    return s.VariableResponse(key=row.key, value=variables.variable_value(row, fernet), description=row.description,
                              is_encrypted=row.is_encrypted)


@router.get("/variables/{variable_key}", response_model=s.VariableResponse, tags=["Variable"],
            dependencies=[can(Permission.CONFIG)])
def get_variable(variable_key: Key, request: Request, session: Session = DB) -> s.VariableResponse:
    """One variable."""
    row = session.get(Variable, variable_key)
    if row is None:
        raise HTTPException(404, f"The Variable with key: `{variable_key}` was not found")
    return _variable(row, get_fernet(ctx(request).settings))


@router.post("/variables", response_model=s.VariableResponse, status_code=201, tags=["Variable"])
def post_variable(body: s.VariableBody, request: Request, session: Session = DB,
                  _: object = can(Permission.CONFIG)) -> s.VariableResponse:
    """Create a variable (409 if it exists); a non-string value is stored as JSON."""
    import json

    if session.get(Variable, body.key) is not None:
        raise HTTPException(409, f"The Variable with key: `{body.key}` already exists")
    value = body.value if isinstance(body.value, str) else json.dumps(body.value)
    fernet = get_fernet(ctx(request).settings)
    row = variables.set_variable(session, body.key, value, description=body.description, fernet=fernet)
    audit(request, session, "api_variable_create", extra={"key": body.key})
    return _variable(row, fernet)


@router.delete("/variables/{variable_key}", status_code=204, tags=["Variable"])
def delete_variable(variable_key: Key, request: Request, session: Session = DB,
                    _: object = can(Permission.CONFIG)) -> Response:
    """Delete a variable."""
    if not variables.delete_variable(session, variable_key):
        raise HTTPException(404, f"The Variable with key: `{variable_key}` was not found")
    audit(request, session, "api_variable_delete", extra={"key": variable_key})
    return Response(status_code=204)


@router.get("/connections", response_model=s.ConnectionCollectionResponse, tags=["Connection"],
            dependencies=[can(Permission.CONFIG)])
def get_connections(request: Request, session: Session = DB, limit: LimitParam = None, offset: Offset = 0,
                    order_by: OrderBy = None) -> s.ConnectionCollectionResponse:
    """Connections; passwords are never sent."""
    stmt = order(sa.select(ConnectionModel), order_by,
                 {"connection_id": ConnectionModel.conn_id, "conn_type": ConnectionModel.conn_type}, "connection_id")
    rows, total = page(session, stmt, offset, limit_of(request, limit))
    fernet = get_fernet(ctx(request).settings)
    return s.ConnectionCollectionResponse(connections=[_connection(r, fernet) for r in rows], total_entries=total)


def _connection(row: ConnectionModel, fernet: Any) -> s.ConnectionResponse:
    conn = conns.to_connection(row, fernet)
    return s.ConnectionResponse(connection_id=row.conn_id, conn_type=row.conn_type, description=row.description,
                                host=row.host, login=row.login, schema_=row.schema, port=row.port, extra=conn.extra)


@router.get("/connections/{connection_id}", response_model=s.ConnectionResponse, tags=["Connection"],
            dependencies=[can(Permission.CONFIG)])
def get_connection(connection_id: Key, request: Request, session: Session = DB) -> s.ConnectionResponse:
    """One connection (no password)."""
    row = session.get(ConnectionModel, connection_id)
    if row is None:
        raise HTTPException(404, f"The Connection with connection_id: `{connection_id}` was not found")
    return _connection(row, get_fernet(ctx(request).settings))


@router.post("/connections", response_model=s.ConnectionResponse, status_code=201, tags=["Connection"])
def post_connection(body: s.ConnectionBody, request: Request, session: Session = DB,
                    _: object = can(Permission.CONFIG)) -> s.ConnectionResponse:
    """Create a connection (409 if it exists); password and extra are stored encrypted."""
    if conns.connection_exists(session, body.connection_id):
        raise HTTPException(409, f"The Connection with connection_id: `{body.connection_id}` already exists")
    conn = Connection(conn_id=body.connection_id, conn_type=body.conn_type, host=body.host, login=body.login,
                      password=body.password, schema=body.schema_, port=body.port, extra=body.extra,
                      description=body.description)
    fernet = get_fernet(ctx(request).settings)
    row = conns.set_connection(session, conn, fernet=fernet)
    audit(request, session, "api_connection_create", extra={"conn_id": body.connection_id})
    return _connection(row, fernet)


@router.delete("/connections/{connection_id}", status_code=204, tags=["Connection"])
def delete_connection(connection_id: Key, request: Request, session: Session = DB,
                      _: object = can(Permission.CONFIG)) -> Response:
    """Delete a connection."""
    if not conns.delete_connection(session, connection_id):
        raise HTTPException(404, f"The Connection with connection_id: `{connection_id}` was not found")
    audit(request, session, "api_connection_delete", extra={"conn_id": connection_id})
    return Response(status_code=204)


def pool_usage(session: Session) -> dict[str, dict[str, int]]:
    """Slots per pool and state (queued, running, scheduled)."""
    stmt = sa.select(TaskInstance.pool, TaskInstance.state, sa.func.sum(TaskInstance.pool_slots)).where(
        TaskInstance.state.in_([TI.QUEUED.value, TI.RUNNING.value, TI.SCHEDULED.value, TI.DEFERRED.value])).group_by(TaskInstance.pool,
                                                                                          TaskInstance.state)
    usage: dict[str, dict[str, int]] = {}
    for pool, state, total in session.execute(stmt):
        usage.setdefault(pool, {})[str(state)] = int(total or 0)
    return usage


def pool_response(row: Pool, usage: dict[str, dict[str, int]]) -> s.PoolResponse:
    """A pool with its used, queued and open slots."""
    used = usage.get(row.pool, {})
    running, queued = used.get(TI.RUNNING, 0), used.get(TI.QUEUED, 0)
    occupied = running + queued
    open_slots = -1 if row.slots == -1 else max(0, row.slots - occupied)
    return s.PoolResponse(name=row.pool, slots=row.slots, description=row.description, include_deferred=False,
                          occupied_slots=occupied, running_slots=running, queued_slots=queued,
                          scheduled_slots=used.get(TI.SCHEDULED, 0), open_slots=open_slots, deferred_slots=0)


@router.get("/pools", response_model=s.PoolCollectionResponse, tags=["Pool"], dependencies=[can(Permission.CONFIG)])
def get_pools(request: Request, session: Session = DB, limit: LimitParam = None, offset: Offset = 0,
              order_by: OrderBy = None) -> s.PoolCollectionResponse:
    """Pools with their slot usage."""
    stmt = order(sa.select(Pool), order_by, {"name": Pool.pool, "pool": Pool.pool, "slots": Pool.slots}, "name")
    rows, total = page(session, stmt, offset, limit_of(request, limit))
    usage = pool_usage(session)
    return s.PoolCollectionResponse(pools=[pool_response(r, usage) for r in rows], total_entries=total)


@router.get("/pools/{pool_name}", response_model=s.PoolResponse, tags=["Pool"], dependencies=[can(Permission.CONFIG)])
def get_pool(pool_name: Key, session: Session = DB) -> s.PoolResponse:
    """One pool."""
    return pool_response(_pool_or_404(session, pool_name), pool_usage(session))


def _pool_or_404(session: Session, name: str) -> Pool:
    row = pools.get_pool(session, name)
    if row is None:
        raise HTTPException(404, f"The Pool with name: `{name}` was not found")
    return row


@router.post("/pools", response_model=s.PoolResponse, status_code=201, tags=["Pool"])
def post_pool(body: s.PoolBody, request: Request, session: Session = DB,
              _: object = can(Permission.CONFIG)) -> s.PoolResponse:
    """Create a pool (409 if it exists)."""
    if pools.get_pool(session, body.name) is not None:
        raise HTTPException(409, f"The Pool with name: `{body.name}` already exists")
    try:
        row = pools.set_pool(session, body.name, body.slots, body.description)
    except UserError as exc:
        raise HTTPException(400, str(exc)) from None
    audit(request, session, "api_pool_create", extra={"pool": body.name, "slots": body.slots})
    return pool_response(row, pool_usage(session))


@router.patch("/pools/{pool_name}", response_model=s.PoolResponse, tags=["Pool"])
def patch_pool(pool_name: Key, body: s.PoolPatchBody, request: Request, session: Session = DB,
               _: object = can(Permission.CONFIG)) -> s.PoolResponse:
    """Change a pool's slots or description (renaming is refused, as for default_pool in Airflow)."""
    row = _pool_or_404(session, pool_name)
    if body.pool is not None and body.pool != pool_name:
        raise HTTPException(400, "a pool cannot be renamed")
    try:
        row = pools.set_pool(session, pool_name, row.slots if body.slots is None else body.slots, body.description)
    except UserError as exc:
        raise HTTPException(400, str(exc)) from None
    audit(request, session, "api_pool_update", extra={"pool": pool_name, "slots": row.slots})
    return pool_response(row, pool_usage(session))


@router.delete("/pools/{pool_name}", status_code=204, tags=["Pool"])
def delete_pool(pool_name: Key, request: Request, session: Session = DB,
                _: object = can(Permission.CONFIG)) -> Response:
    """Delete a pool (never ``default_pool``)."""
    try:
        gone = pools.delete_pool(session, pool_name)
    except UserError as exc:
        raise HTTPException(400, str(exc)) from None
    if not gone:
        raise HTTPException(404, f"The Pool with name: `{pool_name}` was not found")
    audit(request, session, "api_pool_delete", extra={"pool": pool_name})
    return Response(status_code=204)


@router.get("/importErrors", response_model=s.ImportErrorCollectionResponse, tags=["Import Error"],
            dependencies=[can(Permission.READ)])
def get_import_errors(request: Request, session: Session = DB, limit: LimitParam = None, offset: Offset = 0,
                      order_by: OrderBy = None) -> s.ImportErrorCollectionResponse:
    """DAG files that failed to load."""
    allowed = {"id": ParseImportError.id, "import_error_id": ParseImportError.id,
               "timestamp": ParseImportError.timestamp, "filename": ParseImportError.filename}
    rows, total = page(session, order(sa.select(ParseImportError), order_by, allowed, "id"), offset,
                       limit_of(request, limit))
    return s.ImportErrorCollectionResponse(import_errors=[_import_error(r) for r in rows], total_entries=total)


def _import_error(row: ParseImportError) -> s.ImportErrorResponse:
    return s.ImportErrorResponse(import_error_id=row.id, timestamp=row.timestamp, filename=row.filename,
                                 stack_trace=row.stacktrace or "")


@router.get("/importErrors/{import_error_id}", response_model=s.ImportErrorResponse, tags=["Import Error"],
            dependencies=[can(Permission.READ)])
def get_import_error(import_error_id: Annotated[int, Path(ge=0, le=2**31 - 1)],
                     session: Session = DB) -> s.ImportErrorResponse:
    """One import error."""
    row = session.get(ParseImportError, import_error_id)
    if row is None:
        raise HTTPException(404, f"The ImportError with import_error_id: `{import_error_id}` was not found")
    return _import_error(row)


@router.get("/monitor/health", response_model=s.HealthInfoResponse, tags=["Monitor"],
            dependencies=[can(Permission.READ)])
def get_health(request: Request, session: Session = DB) -> s.HealthInfoResponse:
    """Status of the metadata database, the scheduler, the triggerer and the DAG processor (from their heartbeats)."""
    context = ctx(request)
    now, threshold = context.clock(), float(context.setting("webserver", "health_check_threshold"))
    sched = daemon_health(session, "scheduler", now, threshold)
    proc = daemon_health(session, "dag_processor", now, threshold)
    trig = daemon_health(session, "triggerer", now, threshold)
    return s.HealthInfoResponse(
        metadatabase=s.BaseInfoResponse(status="healthy" if database_ok(session) else "unhealthy"),
        scheduler=s.SchedulerInfoResponse(status=sched.status, latest_scheduler_heartbeat=_iso(sched.latest_heartbeat)),
        triggerer=s.TriggererInfoResponse(status=trig.status, latest_triggerer_heartbeat=_iso(trig.latest_heartbeat)),
        dag_processor=s.DagProcessorInfoResponse(status=proc.status,
                                                 latest_dag_processor_heartbeat=_iso(proc.latest_heartbeat)),
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@router.get("/version", response_model=s.VersionInfo, tags=["Version"], dependencies=[can(Permission.READ)])
def get_version() -> s.VersionInfo:
    """The server's version."""
    return s.VersionInfo(version=runtime.__version__, git_version=None)

