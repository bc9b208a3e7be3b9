"""Small read helpers the DB-backed CLI commands share (session-first, no commit)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.cli import common
from runtime.errors import UserError

if TYPE_CHECKING:  # imported by the handlers that use them, not by ``windsock --help``
    from sqlalchemy.orm import Session


def dag_row(session: Session, dag_id: str) -> Any:
    """The ``dag`` row; a UserError saying how to get it there when absent."""
    from runtime.store import actions

    return actions.dag_row(session, dag_id)


def serialized(session: Session, dag_id: str) -> Any:
    """The SerializedDag of ``dag_id`` (a UserError when it was never parsed)."""
    from runtime.store import actions

    return actions.serialized(session, dag_id)


def find_run(session: Session, dag_id: str, run_id_or_date: str) -> Any:
    """A run by run_id, or by logical date when the text is a date."""
    from runtime.cli.common import parse_date
    from runtime.store import runs

    run = runs.find_run(session, dag_id, run_id_or_date)
    if run is None and run_id_or_date[:1].isdigit():
        logical = parse_date(run_id_or_date, "run id or logical date")
        assert logical is not None
        run = runs.find_run_at(session, dag_id, logical)
    if run is None:
        raise UserError(f"DAG {dag_id!r} has no run {run_id_or_date!r}")
    return run


def task_instances(session: Session, dag_id: str, run_id: str) -> list[Any]:
    """Task instances of a run, ordered by task id and map index."""
    import sqlalchemy as sa

    from runtime.store.models import TaskInstance

    stmt = sa.select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
    return list(session.scalars(stmt.order_by(TaskInstance.task_id, TaskInstance.map_index)))


def audit(session: Session, event: str, **fields: Any) -> None:
    """Record a user action in the audit log."""
    from runtime.store.audit import log_event

    log_event(session, event, owner=common.audit_owner(), **fields)
