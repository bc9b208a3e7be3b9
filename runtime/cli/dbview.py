"""Small read helpers the DB-backed CLI commands share (connection or session first, no commit).

The lookups go through Core (``runtime.store.reads``), so a read-only verb opened with
``store_connection`` never loads the ORM; given a Session (write verbs) they work the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.cli import common
from runtime.errors import UserError

if TYPE_CHECKING:  # imported by the handlers that use them, not by ``windsock --help``
    from sqlalchemy.orm import Session

    from runtime.store.reads import Executor


def dag_row(session: Session, dag_id: str) -> Any:
    """The ``dag`` row (ORM object, for verbs that change it); a UserError saying how to get it there when absent."""
    from runtime.store import actions

    return actions.dag_row(session, dag_id)


def serialized(session: Session, dag_id: str) -> Any:
    """The SerializedDag of ``dag_id`` (a UserError when it was never parsed)."""
    from runtime.store import actions

    return actions.serialized(session, dag_id)


def find_run(conn: Executor, dag_id: str, run_id_or_date: str) -> Any:
    """A run (a Row) by run_id, or by logical date when the text is a date."""
    from runtime.cli.common import parse_date
    from runtime.store import reads

    run = reads.run(conn, dag_id, run_id_or_date)
    if run is None and run_id_or_date[:1].isdigit():
        logical = parse_date(run_id_or_date, "run id or logical date")
        assert logical is not None
        run = reads.run_at(conn, dag_id, logical)
    if run is None:
        raise UserError(f"DAG {dag_id!r} has no run {run_id_or_date!r}")
    return run


def task_instances(conn: Executor, dag_id: str, run_id: str) -> list[Any]:
    """Task instances (Rows) of a run, ordered by task id and map index."""
    from runtime.store import reads

    return reads.task_instances(conn, dag_id, run_id)


def audit(session: Session, event: str, **fields: Any) -> None:
    """Record a user action in the audit log."""
    from runtime.store.audit import log_event

    log_event(session, event, owner=common.audit_owner(), **fields)
