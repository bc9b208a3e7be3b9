"""Audit log of user actions (the ``log`` table)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store.models import Log


def log_event(
    session: Session,
    event: str,
    *,
    owner: str | None = None,
    dag_id: str | None = None,
    task_id: str | None = None,
    run_id: str | None = None,
    extra: dict[str, Any] | None = None,
    dttm: dt.datetime | None = None,
) -> Log:
    """Add one audit row (``event`` like ``cli_variables_set``); flushed, not committed."""
    row = Log(
        dttm=dttm or dt.datetime.now(dt.UTC),
        event=event,
        owner=owner,
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        extra=extra,
    )
    session.add(row)
    session.flush()
    return row


def list_events(session: Session, *, dag_id: str | None = None, limit: int = 100) -> list[Log]:
    """The newest audit rows first, optionally of one DAG."""
    stmt = sa.select(Log).order_by(Log.dttm.desc(), Log.id.desc()).limit(limit)
    if dag_id is not None:
        stmt = stmt.where(Log.dag_id == dag_id)
    return list(session.scalars(stmt))
